'use strict'
// Durable lock and unlock operations in one process, for BENCH_SECONDS, printing
// one JSON line. BENCH_OPS=decorator: fastify.databaseLock.lock / unlock in turn
// (each acknowledged only once on disk). BENCH_OPS=sqlite: the floor under it,
// one INSERT and one DELETE per transaction with the store's own settings (WAL,
// synchronous=FULL), counting commits.
const Database = require('better-sqlite3')
const Fastify = require('fastify')
const { DIST, quantile } = require('./helpers.js')

const seconds = Number(process.env.BENCH_SECONDS || 3)
const file = process.env.LOCK_FILE

function result (ops, elapsed, latencies) {
  return {
    ops,
    seconds: elapsed / 1000,
    opsPerSecond: ops / (elapsed / 1000),
    p50ms: quantile(latencies, 0.5),
    p99ms: quantile(latencies, 0.99)
  }
}

function sqliteFloor () {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.exec('CREATE TABLE IF NOT EXISTS floor (database TEXT PRIMARY KEY, locked_at INTEGER NOT NULL)')
  const insert = db.prepare('INSERT INTO floor (database, locked_at) VALUES (?, ?)')
  const remove = db.prepare('DELETE FROM floor WHERE database = ?')
  const latencies = []
  const started = performance.now()
  const end = started + seconds * 1000
  let ops = 0
  for (let i = 0; performance.now() < end; i++) {
    const name = `bench-${i % 100}`
    let at = performance.now()
    db.transaction(() => { insert.run(name, Date.now()) }).immediate()
    latencies.push(performance.now() - at)
    at = performance.now()
    db.transaction(() => { remove.run(name) }).immediate()
    latencies.push(performance.now() - at)
    ops += 2
  }
  const elapsed = performance.now() - started
  db.close()
  return result(ops, elapsed, latencies)
}

async function decorator () {
  const app = Fastify({ logger: false })
  await app.register(require(DIST), {
    path: file,
    principal: () => null,
    resolveDatabase: (name) => ({ id: name, owner: 'bench' }),
    // Plugin options for experiments (as in server.js), e.g. '{"audit":false}'.
    ...JSON.parse(process.env.BENCH_LOCK_OPTIONS || '{}')
  })
  await app.ready()
  const latencies = []
  const started = performance.now()
  const end = started + seconds * 1000
  let ops = 0
  for (let i = 0; performance.now() < end; i++) {
    const name = `bench-${i % 100}`
    let at = performance.now()
    await app.databaseLock.lock(name, { reason: 'bench', by: 'bench' })
    latencies.push(performance.now() - at)
    at = performance.now()
    await app.databaseLock.unlock(name)
    latencies.push(performance.now() - at)
    ops += 2
  }
  const elapsed = performance.now() - started
  await app.close()
  return result(ops, elapsed, latencies)
}

async function main () {
  const mode = process.env.BENCH_OPS
  if (mode !== 'sqlite' && mode !== 'decorator') throw new Error('BENCH_OPS must be "sqlite" or "decorator"')
  const outcome = mode === 'sqlite' ? sqliteFloor() : await decorator()
  process.stdout.write(JSON.stringify(outcome) + '\n')
}

main().catch((err) => {
  process.stderr.write(`lock-ops failed: ${err.stack}\n`)
  process.exit(1)
})
