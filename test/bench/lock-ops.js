'use strict'
// Durable lock and unlock operations in one process, for BENCH_SECONDS, printing
// one JSON line. BENCH_OPS=decorator: fastify.databaseLock.lock / unlock in turn
// (each acknowledged only once on disk), on the SQLite file LOCK_FILE or, when
// LOCK_URL is set, on that PostgreSQL database. BENCH_OPS=sqlite: the floor under
// it, one INSERT and one DELETE per transaction with the store's own settings (WAL,
// synchronous=FULL), counting commits. BENCH_OPS=postgres: the PostgreSQL floor,
// one INSERT or one DELETE per transaction (a single autocommit statement: one
// round trip and one commit each) over one connection to LOCK_URL.
const { dirname } = require('node:path')
const Database = require('better-sqlite3')
const Fastify = require('fastify')
const { DIST, quantile } = require('./helpers.js')

const seconds = Number(process.env.BENCH_SECONDS || 3)
const file = process.env.LOCK_FILE
const url = process.env.LOCK_URL || undefined

function result (ops, elapsed, latencies) {
  return {
    ops,
    seconds: elapsed / 1000,
    opsPerSecond: ops / (elapsed / 1000),
    p50ms: quantile(latencies, 0.5),
    p99ms: quantile(latencies, 0.99)
  }
}

/**
 * Locks and unlocks `bench-0` … `bench-99` in turn for BENCH_SECONDS, timing each call.
 * A synchronous step (the SQLite floor) is not awaited, so the floor pays no promise.
 */
async function timedLockUnlock (lock, unlock) {
  const latencies = []
  const started = performance.now()
  const end = started + seconds * 1000
  let ops = 0
  for (let i = 0; performance.now() < end; i++) {
    const name = `bench-${i % 100}`
    for (const step of [lock, unlock]) {
      const at = performance.now()
      const pending = step(name)
      if (pending !== undefined) await pending
      latencies.push(performance.now() - at)
    }
    ops += 2
  }
  return result(ops, performance.now() - started, latencies)
}

async function sqliteFloor () {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.exec('CREATE TABLE IF NOT EXISTS floor (database TEXT PRIMARY KEY, locked_at INTEGER NOT NULL)')
  const insert = db.prepare('INSERT INTO floor (database, locked_at) VALUES (?, ?)')
  const remove = db.prepare('DELETE FROM floor WHERE database = ?')
  const measured = await timedLockUnlock(
    (name) => { db.transaction(() => { insert.run(name, Date.now()) }).immediate() },
    (name) => { db.transaction(() => { remove.run(name) }).immediate() }
  )
  db.close()
  return measured
}

async function postgresFloor () {
  const pg = require('pg')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  await client.query('CREATE TABLE IF NOT EXISTS floor (database text PRIMARY KEY, locked_at bigint NOT NULL)')
  await client.query('TRUNCATE floor')
  // Named statements: parsed and planned once per connection, as a driver with prepared statements would.
  const insert = { name: 'floor-insert', text: 'INSERT INTO floor (database, locked_at) VALUES ($1, $2)' }
  const remove = { name: 'floor-delete', text: 'DELETE FROM floor WHERE database = $1' }
  const measured = await timedLockUnlock(
    (name) => client.query({ ...insert, values: [name, Date.now()] }),
    (name) => client.query({ ...remove, values: [name] })
  )
  await client.end()
  return measured
}

/**
 * Counts the statements the plugin sends to PostgreSQL (each one a round trip), by
 * wrapping pg.Client#query, which the pool's queries go through too. Only when the
 * plugin loads the same `pg` module as this script (not with --dist elsewhere).
 */
function countPostgresStatements () {
  const counts = { statements: 0, transactions: 0 }
  let pgModule
  try {
    pgModule = require(require.resolve('pg', { paths: [dirname(DIST)] }))
  } catch {
    return null
  }
  if (pgModule !== require('pg')) return null
  const query = pgModule.Client.prototype.query
  pgModule.Client.prototype.query = function countedQuery (config, ...rest) {
    counts.statements++
    const text = typeof config === 'string' ? config : config?.text
    if (typeof text === 'string' && text.startsWith('BEGIN')) counts.transactions++
    return query.call(this, config, ...rest)
  }
  return counts
}

async function decorator () {
  const counts = url === undefined ? null : countPostgresStatements()
  const app = Fastify({ logger: false })
  await app.register(require(DIST), {
    ...(url === undefined ? { path: file } : { url }),
    principal: () => null,
    resolveDatabase: (name) => ({ id: name, owner: 'bench' }),
    // Plugin options for experiments (as in server.js), e.g. '{"audit":false}'.
    ...JSON.parse(process.env.BENCH_LOCK_OPTIONS || '{}')
  })
  await app.ready()
  const before = counts === null ? null : { ...counts }
  const measured = await timedLockUnlock(
    (name) => app.databaseLock.lock(name, { reason: 'bench', by: 'bench' }),
    // The holder is `by`: unlocking without it would ask for another holder's lock and release nothing.
    (name) => app.databaseLock.unlock(name, { by: 'bench' })
  )
  if (counts !== null) {
    // Everything the process sent meanwhile, its poll and heartbeat included.
    measured.statementsPerOp = (counts.statements - before.statements) / measured.ops
    measured.explicitTransactionsPerOp = (counts.transactions - before.transactions) / measured.ops
  }
  await app.close()
  return measured
}

async function main () {
  const mode = process.env.BENCH_OPS
  if (mode !== 'sqlite' && mode !== 'postgres' && mode !== 'decorator') throw new Error('BENCH_OPS must be "sqlite", "postgres" or "decorator"')
  if (mode === 'postgres' && url === undefined) throw new Error('BENCH_OPS=postgres needs LOCK_URL')
  const outcome = mode === 'sqlite' ? await sqliteFloor() : mode === 'postgres' ? await postgresFloor() : await decorator()
  process.stdout.write(JSON.stringify(outcome) + '\n')
}

main().catch((err) => {
  process.stderr.write(`lock-ops failed: ${err.stack}\n`)
  process.exit(1)
})
