'use strict'
// How the plugin's process behaves while another process holds the SQLite store's write
// lock (a backup tool, `sqlite3` in BEGIN IMMEDIATE): event-loop delay, unrelated GET
// latency, what guarded writes get, and how a lock request ends.
//   node test/bench/held-write-lock.js [--seconds=10]
// Prints one JSON line. Loads the built plugin (npm run build first).
const { spawn } = require('node:child_process')
const { mkdtempSync, rmSync } = require('node:fs')
const { tmpdir } = require('node:os')
const { join } = require('node:path')
const { monitorEventLoopDelay } = require('node:perf_hooks')
const Fastify = require('fastify')
const { DIST } = require('./helpers.js')

const seconds = Number(/^--seconds=(\d+)$/.exec(process.argv[2] ?? '')?.[1] ?? 10)

/** A child process that opens the file, takes the write lock, says so, and keeps it `ms`. */
function holdWriteLock (path, ms) {
  const child = spawn(process.execPath, ['-e', `
    const db = new (require('better-sqlite3'))(${JSON.stringify(path)})
    db.exec('BEGIN IMMEDIATE')
    process.stdout.write('held\\n')
    setTimeout(() => { db.exec('ROLLBACK'); db.close() }, ${ms})`], { stdio: ['ignore', 'pipe', 'inherit'], cwd: join(__dirname, '..', '..') })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  // Resolves with an object: a promise would be adopted, and this would wait for the exit.
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => resolve({ exited }))
    child.once('error', reject)
  })
}

async function main () {
  const dir = mkdtempSync(join(tmpdir(), 'dblock-held-'))
  const path = join(dir, 'locks.db')
  const app = Fastify()
  await app.register(require(DIST), {
    path,
    principal: (request) => request.headers['x-user'] ?? null,
    resolveDatabase: (name) => ({ id: name, owner: 'alice' })
  })
  app.get('/health', async () => ({ ok: true }))
  app.post('/db/:name', async () => ({ written: true }))
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  const { exited: released } = await holdWriteLock(path, seconds * 1000)
  const heldAt = Date.now()
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  const locking = fetch(`${url}/v1/database/other/lock`, { method: 'POST', headers: { 'x-user': 'alice' } })
    .then((res) => ({ status: res.status, ms: Date.now() - heldAt }))
  const gets = []
  const guarded = {}
  while (Date.now() - heldAt < seconds * 1000) {
    const started = performance.now()
    await fetch(`${url}/health`)
    gets.push(performance.now() - started)
    const { status } = await fetch(`${url}/db/prod`, { method: 'POST' })
    guarded[status] = (guarded[status] ?? 0) + 1
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  await released
  delay.disable()
  const lock = await locking
  gets.sort((a, b) => a - b)
  const round = (ms) => Math.round(ms * 10) / 10
  console.log(JSON.stringify({
    heldSeconds: seconds,
    eventLoopDelayMs: { p50: round(delay.percentile(50) / 1e6), p99: round(delay.percentile(99) / 1e6), max: round(delay.max / 1e6) },
    unrelatedGetMs: { p50: round(gets[Math.floor(gets.length / 2)]), p99: round(gets[Math.floor(gets.length * 0.99)]), max: round(gets[gets.length - 1]) },
    guardedWrites: guarded,
    lockRequest: lock
  }))
  await app.close()
  rmSync(dir, { recursive: true, force: true })
}

main().catch((err) => { console.error(err); process.exitCode = 1 })
