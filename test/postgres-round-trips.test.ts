// Round trips to PostgreSQL per lock and unlock, counted on a real server by wrapping
// pg.Client#query (every pooled query goes through it): the store writes in one statement in
// the common case, and the writer's view applies its own write without reading it back.
// Also: a write whose snapshot is behind (another writer committed while it waited for the
// state row) hands the view no change, so a view never applies rows that miss that write.
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import pg from 'pg'
import t from 'tap'
import databaseLock from '../lib/index.js'
import { PostgresLockStore } from '../lib/store/postgres/postgres-store.js'
import type { AcquireInput, ProcessReport } from '../types/index.js'
import type { TapLike } from './helpers/app.js'
import { startPostgres, type PostgresServer } from './helpers/postgres.js'
import { until } from './helpers/wait.js'

const lock = (database: string, holder = 'test'): AcquireInput => ({
  database,
  mode: 'delete',
  reason: null,
  holder,
  namespace: null,
  lockedBy: holder,
  now: Date.now(),
  expiresAt: null,
  refreshReason: false,
  refreshExpiry: false,
  refreshNamespace: false,
  unlock: null,
  refreshUnlock: false
})

/** A statement as sent: its text, or `prepared <name>` for a named one. */
function describe (config: unknown): string {
  if (typeof config === 'string') return config
  if (typeof config !== 'object' || config === null) return String(config)
  if ('name' in config && typeof config.name === 'string') return `prepared ${config.name}`
  return 'text' in config ? String(config.text) : ''
}

/** Runs `work`, showing `seen` each pg.Client#query call first (the pool's go through it too). */
async function observingQueries (work: () => Promise<unknown>, seen: (client: pg.Client, config: unknown) => void): Promise<void> {
  const query = pg.Client.prototype.query
  function observed (this: pg.Client, ...args: unknown[]): unknown {
    seen(this, args[0])
    return Reflect.apply(query, this, args)
  }
  Object.defineProperty(pg.Client.prototype, 'query', { value: observed, configurable: true, writable: true })
  try {
    await work()
  } finally {
    Object.defineProperty(pg.Client.prototype, 'query', { value: query, configurable: true, writable: true })
  }
}

/** Every statement sent while `work` runs. */
async function statementsOf (work: () => Promise<unknown>): Promise<string[]> {
  const sent: string[] = []
  await observingQueries(work, (_client, config) => { sent.push(describe(config)) })
  return sent
}

/** The connections `work` sent its statements on. */
async function connectionsOf (work: () => Promise<unknown>): Promise<pg.Client[]> {
  const clients = new Set<pg.Client>()
  await observingQueries(work, (client) => { clients.add(client) })
  return [...clients]
}

let server: PostgresServer

/** How the store opens a transaction: its statements are planned for their values (below). */
const BEGIN = 'BEGIN; SET LOCAL plan_cache_mode = auto'

t.before(async () => {
  server = await startPostgres(t)
})

function openStore (t: TapLike, schema: string): PostgresLockStore {
  const store = new PostgresLockStore({ url: server.url, schema })
  t.teardown(() => store.close())
  return store
}

t.test('the store locks and unlocks in one statement each', async (t) => {
  const store = openStore(t, server.createSchema(t))
  await store.connect()
  const audit = { principal: 'alice', requestId: 'r1', client: null, route: null, owner: 'alice', at: Date.now() }
  const locked = await statementsOf(() => store.acquire({ ...lock('prod'), audit }))
  t.same(locked, [`prepared dblock_acquire_${store.schema}`], 'lock: one prepared statement')
  const unlocked = await statementsOf(() => store.requestUnlock('prod', 'delete', 'test', 'alice', Date.now(), audit))
  t.same(unlocked, [`prepared dblock_unlock_${store.schema}`], 'unlock: one prepared statement')
  const events = await store.listEvents({ database: 'prod', type: null, before: null, limit: 10, owner: null })
  t.same(events.map((event) => [event.type, event.holder, event.principal, event.requestId]), [['unlocked', 'test', 'alice', 'r1'], ['locked', 'test', 'alice', 'r1']],
    'each with its audit event, in the same statement')

  // The uncommon cases take the transaction that decides in TypeScript (decideAcquire, planUnlock).
  await store.acquire(lock('prod'))
  const relocked = await statementsOf(() => store.acquire(lock('prod')))
  t.ok(relocked.includes(BEGIN), 'locking again is decided in a transaction')
  await store.acquire({ ...lock('guarded', 'backup'), unlock: { approvals: 2 } })
  const approval = await statementsOf(() => store.requestUnlock('guarded', 'delete', 'backup', 'alice', Date.now()))
  t.ok(approval.includes(BEGIN), 'a lock with an unlock policy is decided in a transaction')
  t.same((await store.locksOf('guarded', Date.now())).map((record) => record.approvals), [['alice']])
})

t.test('lock and unlock through the decorator: one write each, and the lock\'s one read the protocol needs', async (t) => {
  const store = openStore(t, server.createSchema(t))
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(databaseLock, {
    store,
    principal: () => 'stranger',
    resolveDatabase: (name: string) => ({ id: name, owner: 'ops' }),
    // No poll or heartbeat during the test: every statement counted is the call's own.
    pollInterval: 60_000,
    heartbeatInterval: 60_000,
    processTimeout: 200_000,
    maxStaleness: 100_000
  })
  app.delete('/db/:name', async () => ({ deleted: true }))
  await app.ready()

  const locked = await statementsOf(() => app.databaseLock.lock('prod', { by: 'ops' }))
  t.same(locked, [
    `prepared dblock_acquire_${store.schema}`, // the write, its event and notification
    // Have the other live processes applied it (none here)? With the status it answers, which
    // also shows that the lock is still there.
    `prepared dblock_drain_state_status_${store.schema}`
  ], 'lock: two prepared statements, one of them a write')
  const refused = await statementsOf(async () => {
    t.equal((await app.inject({ method: 'DELETE', url: '/db/prod' })).statusCode, 403, 'the view applied the lock from the write itself')
  })
  t.same(refused, [], 'the guard asked nothing')

  const unlocked = await statementsOf(() => app.databaseLock.unlock('prod', { by: 'ops' }))
  t.same(unlocked, [`prepared dblock_unlock_${store.schema}`], 'unlock: one prepared statement, the write, which also reads the status it answers')
  t.equal((await app.inject({ method: 'DELETE', url: '/db/prod' })).statusCode, 200, 'the view applied the unlock from the write itself')
})

t.test('a write that waited for another writer hands its view no change that misses that writer', async (t) => {
  const schema = server.createSchema(t)
  const store = openStore(t, schema)
  await store.connect()
  await store.acquire(lock('prod', 'mine'))
  const other = new pg.Client({ connectionString: server.url })
  await other.connect()
  t.teardown(() => other.end())

  /** Another writer (raw SQL, as the store writes) that holds the state row until `commit`. */
  async function otherWriter (sql: string): Promise<() => Promise<void>> {
    await other.query('BEGIN')
    const [state] = (await other.query<{ version: string }>(`UPDATE ${schema}.dblock_state SET version = version + 1 RETURNING version`)).rows
    await other.query(sql)
    await other.query(`INSERT INTO ${schema}.dblock_changes (version, database, changed_at) VALUES ($1, 'prod', 0)`, [state.version])
    return async () => { await other.query('COMMIT') }
  }
  const waitingOn = async (): Promise<boolean> => (await server.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%dblock_state%'"))[0].n > 0

  // Lock: another holder's lock on the same database commits while ours waits for the state row.
  let commit = await otherWriter(`INSERT INTO ${schema}.dblock_locks (database, mode, holder, locked_by, locked_at) VALUES ('prod', 'write', 'restore', 'restore', 0)`)
  const acquiring = store.acquire(lock('prod', 'second'))
  await until(waitingOn)
  await commit()
  const acquired = await acquiring
  t.equal(acquired.created, true)
  t.ok(acquired.change === undefined || acquired.change.rows.some((row) => row.holder === 'restore'), 'no change, or one that has the other writer\'s lock')

  // Unlock: the same, while ours waits to remove its lock.
  commit = await otherWriter(`INSERT INTO ${schema}.dblock_locks (database, mode, holder, locked_by, locked_at) VALUES ('prod', 'delete', 'legal', 'legal', 0)`)
  const unlocking = store.requestUnlock('prod', 'delete', 'mine', 'mine', Date.now())
  await until(waitingOn)
  await commit()
  const outcome = await unlocking
  t.same(outcome.released, ['mine'])
  t.ok(outcome.change === undefined || outcome.change.rows.some((row) => row.holder === 'legal'), 'no change, or one that has the other writer\'s lock')
  t.same((await store.locksOf('prod', Date.now())).map((row) => `${row.mode} ${row.holder}`), ['delete legal', 'delete second', 'write restore'])
})

t.test('a report commits without waiting for the WAL flush, and the lock committed after it on the same connection still waits', async (t) => {
  const store = openStore(t, server.createSchema(t))
  await store.connect()
  const clients = await connectionsOf(() => store.report({ processId: 'p1', pid: process.pid, appliedVersion: 0, heartbeatAt: Date.now(), draining: [] }))
  t.equal(clients.length, 1, 'one connection')
  const [client] = clients
  const settings = await client.query<{ setting: string }>("SELECT current_setting('synchronous_commit') AS setting")
  t.equal(settings.rows[0].setting, 'on', 'synchronous_commit is off only inside the report\'s own transaction')
  // The report's statement asks for it: set_config(..., is_local => true) in its own transaction.
  const reportText = await client.query<{ statement: string }>('SELECT statement FROM pg_prepared_statements WHERE name = $1', [`dblock_report_${store.schema}`])
  t.match(reportText.rows[0]?.statement ?? '', /set_config\('synchronous_commit', 'off', true\)/)
})

t.test('a writer is not told of its own write: hasChanged(appliedVersion) leaves out versions the caller has applied', async (t) => {
  const schema = server.createSchema(t)
  const writer = openStore(t, schema)
  const other = openStore(t, schema)
  await writer.connect()
  t.equal(await writer.hasChanged(0), true, 'a new reader knows nothing yet')
  const { version } = await writer.acquire(lock('prod'))
  // The notification comes back to the writer's own LISTEN connection, and its fallback poll
  // (every 100 ms) reads the new version too: give both the time to arrive.
  const deadline = performance.now() + 400
  const answers: boolean[] = []
  while (performance.now() < deadline) {
    answers.push(await writer.hasChanged(version))
    await sleep(10)
  }
  t.notOk(answers.includes(true), 'never news to a caller that has applied it')
  t.equal(await writer.hasChanged(), false, 'consumed, as before')

  await other.acquire(lock('staging'))
  await until(() => writer.hasChanged(version), 'news of another store\'s write')
  const { version: own } = await writer.acquire(lock('qa'))
  await until(() => writer.hasChanged(), 'news of its own write, asked without appliedVersion')
  t.ok(own > version)
})

/** Counts reports and polls: a wrapper passed as the public `store` option. */
class CountingStore extends PostgresLockStore {
  reports: ProcessReport[] = []
  polls = 0
  override async report (report: ProcessReport): Promise<void> {
    this.reports.push(report)
    return super.report(report)
  }

  override async hasChanged (appliedVersion?: number): Promise<boolean> {
    this.polls++
    return super.hasChanged(appliedVersion)
  }
}

t.test('a process reports the versions others wait for, not its own writes', async (t) => {
  // A report tells another process's locker that its lock is in force here. Nobody waits for a
  // process to apply its own write (a locker leaves itself out of the drain).
  const schema = server.createSchema(t)
  const store = new CountingStore({ url: server.url, schema })
  t.teardown(() => store.close())
  const options = {
    principal: () => 'ops',
    resolveDatabase: (name: string) => ({ id: name, owner: 'ops' }),
    heartbeatInterval: 60_000, // no heartbeat report during the test
    processTimeout: 121_000,
    drainTimeout: 5_000
  }
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(databaseLock, { ...options, store, pollInterval: 500 })
  await app.ready()
  await until(() => store.reports.length > 0, 'the first report (this process joins)')
  // Once LISTEN is up, the next poll reads the store (notifications may have been missed before).
  await until(() => store.listening, 'the LISTEN connection')
  const joined = store.polls
  await until(() => store.polls >= joined + 2, 'two polls after it')

  // Right after a poll, so that none runs while the writes are in flight: a poll that sees a
  // write's commit before the writer has applied it reads it, and then rightly reports it.
  const polled = store.polls
  await until(() => store.polls > polled, 'a poll')
  const before = store.reports.length
  for (const name of ['prod', 'staging']) {
    await app.databaseLock.lock(name, { by: 'ops' })
    await app.databaseLock.unlock(name, { by: 'ops' })
  }
  const polls = store.polls
  await until(() => store.polls >= polls + 2, 'two polls after the writes')
  t.same(store.reports.slice(before).map((report) => report.appliedVersion), [], 'no report for the process\'s own writes')

  // Another process's lock waits until this one has applied it: reported at once.
  const otherStore = openStore(t, schema)
  const other = Fastify()
  t.teardown(() => other.close())
  await other.register(databaseLock, { ...options, store: otherStore })
  await other.ready()
  const started = performance.now()
  t.equal((await other.databaseLock.lock('billing', { by: 'other' })).locked, true, 'acknowledged')
  t.ok(performance.now() - started < 2_000, 'without waiting for a heartbeat')
  t.ok(store.reports.length > before, 'this process reported the version it applied')
  t.equal((await app.databaseLock.status('billing')).locked, true)
})

t.test('prepared statements are planned once per connection; any other statement for its values', async (t) => {
  // PostgreSQL would otherwise plan the frequent statements again on every call (0.3 ms each
  // here), as it keeps "custom" plans when their estimate beats the generic one.
  const store = openStore(t, server.createSchema(t))
  await store.connect()
  await store.acquire(lock('prod'))
  const [client] = await connectionsOf(() => store.locksOf('prod', Date.now()))
  const setting = await client.query<{ mode: string }>("SELECT current_setting('plan_cache_mode') AS mode")
  t.equal(setting.rows[0].mode, 'force_generic_plan', 'the store\'s connections plan a prepared statement once')

  // A page of a large table is best planned for its values: a transaction that says so.
  const listed = await statementsOf(() => store.listEvents({ database: 'prod', type: null, before: null, limit: 10, owner: null }))
  t.equal(listed[0], BEGIN, 'a read of the audit trail')
  const page = await statementsOf(() => store.list({ limit: 10, after: null, now: Date.now() }))
  t.equal(page[0], BEGIN, 'a page of the lock list')
  const purged = await statementsOf(() => store.purgeExpired(Date.now()))
  t.equal(purged[0], BEGIN, 'the purge')
})

t.test('a write notifies only when another process has registered', async (t) => {
  // A NOTIFY wakes every listener's backend and process at each commit: with no other process
  // there is nobody to wake (this process applies its own write from the statement).
  const schema = server.createSchema(t)
  const store = openStore(t, schema)
  await store.connect()
  const listener = new pg.Client({ connectionString: server.url })
  await listener.connect()
  t.teardown(() => listener.end())
  const heard: string[] = []
  listener.on('notification', (message) => { heard.push(message.payload ?? '') })
  await listener.query(`LISTEN "dblock_${schema}"`)
  /** The payloads heard for `work`'s writes: a marker sent after them arrives after theirs. */
  async function notified (work: () => Promise<unknown>): Promise<string[]> {
    heard.length = 0
    await work()
    await server.query(`SELECT pg_notify('dblock_${schema}', 'marker')`)
    await until(() => heard.includes('marker'), 'the marker notification')
    return heard.filter((payload) => payload !== 'marker')
  }
  const report = (processId: string) => ({ processId, pid: process.pid, appliedVersion: 0, heartbeatAt: Date.now(), draining: [] })

  t.equal((await notified(() => store.acquire(lock('prod')))).length, 1, 'before this process has reported, every write notifies')
  await store.report(report('me'))
  t.same(await notified(async () => {
    await store.acquire(lock('staging'))
    await store.requestUnlock('staging', 'delete', 'test', 'test', Date.now())
  }), [], 'alone: neither the lock nor the unlock notifies')

  const other = openStore(t, schema)
  await other.report(report('other'))
  t.equal((await notified(async () => {
    await store.acquire(lock('qa'))
    await store.requestUnlock('qa', 'delete', 'test', 'test', Date.now())
  })).length, 2, 'with another process registered, both notify')
})
