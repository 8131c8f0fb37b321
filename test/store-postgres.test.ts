// The PostgreSQL store: the conformance suite on a real server (embedded, or
// DATABASE_URL), then what only a server store has: concurrent migration, a newer
// schema refused untouched, connections cut and restored.
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import t from 'tap'
import type { AcquireInput, LockStore } from '../types/index.js'
import { PostgresLockStore, type PostgresLockStoreOptions } from '../lib/store/postgres/postgres-store.js'
import { POSTGRES_LATEST_VERSION, POSTGRES_MIGRATIONS } from '../lib/store/postgres/postgres-migrations.js'
import { createDatabases, startDemo, type TapLike } from './helpers/app.js'
import { startPostgres, type PostgresServer } from './helpers/postgres.js'
import { storeConformance } from '../lib/testing.js'

const lock = (database: string): AcquireInput => ({
  database, mode: 'delete', reason: null, holder: 'test', namespace: null, lockedBy: 'test', now: Date.now(), expiresAt: null, refreshReason: false, refreshExpiry: false, refreshNamespace: false, unlock: null, refreshUnlock: false
})

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Waits until `check` holds, for at most `timeout` ms. */
async function eventually (check: () => boolean | Promise<boolean>, timeout = 5000): Promise<boolean> {
  const deadline = performance.now() + timeout
  for (;;) {
    if (await check()) return true
    if (performance.now() >= deadline) return false
    await sleep(10)
  }
}

function open (t: TapLike, options: PostgresLockStoreOptions): PostgresLockStore {
  const store = new PostgresLockStore(options)
  t.teardown(() => store.close())
  return store
}

/** Tables, columns and version rows of a schema: changes if anything was created or migrated. */
async function fingerprint (server: PostgresServer, schema: string): Promise<unknown> {
  const columns = await server.query(
    'SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = $1 ORDER BY 1, 2', [schema])
  const versions = await server.query(`SELECT version, description FROM ${schema}.dblock_migrations ORDER BY version`)
  return { columns, versions }
}

const started = performance.now()
let server: PostgresServer

t.before(async () => {
  server = await startPostgres(t)
  t.comment(server.embedded ? `embedded PostgreSQL started in ${server.startupMs} ms` : 'PostgreSQL from DATABASE_URL')
})
t.teardown(() => {
  t.comment(`PostgreSQL store tests took ${Math.round(performance.now() - started)} ms`)
})

t.test('conformance', async (t) => {
  storeConformance(t, async (t) => {
    const schema = server.createSchema(t)
    return {
      async open (options = {}): Promise<LockStore> {
        const store = open(t, { url: server.url, schema, ...options })
        await store.connect()
        return store
      }
    }
  })
})

t.test('ten stores starting at once migrate the schema once', async (t) => {
  const schema = server.createSchema(t)
  const stores = Array.from({ length: 10 }, () => open(t, { url: server.url, schema }))
  await Promise.all(stores.map((store) => store.connect()))
  const versions = await server.query<{ version: number }>(`SELECT version FROM ${schema}.dblock_migrations ORDER BY version`)
  t.same(versions.map((row) => row.version), POSTGRES_MIGRATIONS.map((migration) => migration.version), 'one row per migration')
  const taken = await stores[3].acquire(lock('prod'))
  t.same(await stores[7].locksOf('prod', Date.now()), [taken.record], 'every store works on the same tables')
})

t.test('a store opened on a migrated schema changes nothing', async (t) => {
  const schema = server.createSchema(t)
  const first = open(t, { url: server.url, schema })
  await first.acquire(lock('prod'))
  await first.close()
  const before = await fingerprint(server, schema)
  const again = open(t, { url: server.url, schema })
  t.equal((await again.locksOf('prod', Date.now())).length, 1)
  t.same(await fingerprint(server, schema), before)
})

t.test('a schema at version 3 (the previous release) upgrades in place: every lock kept, held by its taker', async (t) => {
  const schema = server.createSchema(t)
  const previous = open(t, { url: server.url, schema, migrations: POSTGRES_MIGRATIONS.filter((migration) => migration.version <= 3) })
  await previous.connect()
  await previous.close()
  // Rows as release 2a150de wrote them (one per database and mode, no holder column yet).
  await server.query(
    `INSERT INTO ${schema}.dblock_locks (database, mode, reason, locked_by, locked_at, expires_at, owner) VALUES
     ('prod', 'delete', 'production', 'alice', 1000, NULL, 'alice'),
     ('prod', 'write', 'restore', 'admin-key', 2000, 4102444800000, 'alice'),
     ('acme/billing', 'delete', NULL, 'bob', 3000, NULL, 'bob')`)
  await server.query(`INSERT INTO ${schema}.dblock_events (at, type, database, mode, principal, reason, owner) VALUES (1000, 'locked', 'prod', 'delete', 'alice', 'production', 'alice')`)

  const upgraded = open(t, { url: server.url, schema })
  t.same(await upgraded.locksOf('prod', 5000), [
    { database: 'prod', mode: 'delete', holder: 'alice', namespace: null, reason: 'production', lockedBy: 'alice', lockedAt: 1000, expiresAt: null, unlock: null, unlockAt: null, approvals: [] },
    { database: 'prod', mode: 'write', holder: 'admin', namespace: null, reason: 'restore', lockedBy: 'admin-key', lockedAt: 2000, expiresAt: 4102444800000, unlock: null, unlockAt: null, approvals: [] }
  ], 'the admin key\'s lock is held by `admin`, the holder an admin-key unlock names by default')
  t.match(await upgraded.locksOf('acme/billing', 5000), [{ holder: 'bob', lockedAt: 3000 }])
  t.match(await upgraded.listEvents({ database: 'prod', type: null, before: null, limit: 10, owner: 'alice' }), [{ type: 'locked', holder: null }], 'events kept')
  const versions = await server.query<{ version: number }>(`SELECT version FROM ${schema}.dblock_migrations ORDER BY version`)
  t.same(versions.map((row) => row.version), [1, 2, 3, 4])
  t.equal((await upgraded.acquire({ ...lock('prod'), holder: 'backup' })).created, true, 'a second holder on the upgraded key')
  t.same((await upgraded.release('prod', 'write', 'admin')).holders, ['admin'])
})

t.test('a schema written by a newer version is refused, untouched', async (t) => {
  const schema = server.createSchema(t)
  const current = open(t, { url: server.url, schema })
  await current.acquire(lock('prod'))
  await current.close()
  // What a future release might leave: one more migration and a table this version does not know.
  await server.query(`INSERT INTO ${schema}.dblock_migrations (version, description) VALUES ($1, 'from the future')`, [POSTGRES_LATEST_VERSION + 1])
  await server.query(`CREATE TABLE ${schema}.dblock_future (x int)`)
  const before = await fingerprint(server, schema)
  const locksBefore = await server.query(`SELECT * FROM ${schema}.dblock_locks`)

  const old = open(t, { url: server.url, schema })
  await t.rejects(old.connect(), {
    code: 'LOCK_STORE_TOO_NEW',
    message: new RegExp(`schema version ${POSTGRES_LATEST_VERSION + 1}, newer than .*\\(${POSTGRES_LATEST_VERSION}\\)`)
  })
  await t.rejects(old.locksOf('prod', Date.now()), { code: 'LOCK_STORE_TOO_NEW' }, 'every call is refused')
  t.same(await fingerprint(server, schema), before, 'no table or version changed')
  t.same(await server.query(`SELECT * FROM ${schema}.dblock_locks`), locksBefore, 'no row changed')
  t.notMatch(String((await old.connect().catch((err: unknown) => err))), /postgres:postgres@/, 'the message has no password')
})

t.test('options are checked when the store is made', async (t) => {
  t.throws(() => new PostgresLockStore({ url: 'mysql://x' }), { code: 'INVALID_LOCK_OPTION' })
  t.throws(() => new PostgresLockStore({ url: server.url, schema: 'Robert"); DROP' }), { code: 'INVALID_LOCK_OPTION' })
  t.throws(() => new PostgresLockStore({ url: server.url, poolSize: 0 }), { code: 'INVALID_LOCK_OPTION' })
})

t.test('a server that cannot be reached at start-up fails the call, and a later call connects', async (t) => {
  const { name, url } = await server.createDatabase(t)
  await server.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`)
  const store = open(t, { url })
  await t.rejects(store.hasChanged(), /not currently accepting connections/)
  await server.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`)
  t.equal(await store.hasChanged(), true)
  t.equal((await store.acquire(lock('prod'))).created, true)
})

t.test('connections cut with pg_terminate_backend: the call in flight throws, the store recovers by itself', async (t) => {
  const schema = server.createSchema(t)
  const applicationName = `dblock-cut-${randomBytes(4).toString('hex')}`
  // Polling so slow that a change seen below must have come as a notification.
  const store = open(t, { url: server.url, schema, applicationName, pollFallbackInterval: 60_000 })
  const other = open(t, { url: server.url, schema })
  await store.connect()
  await other.connect()
  t.equal(store.listening, true)

  // Hold the writers' lock, so the store's acquire is in flight when its connection is cut.
  const holder = new pg.Client({ connectionString: server.url })
  await holder.connect()
  t.teardown(() => holder.end())
  await holder.query('BEGIN')
  await holder.query(`SELECT * FROM ${schema}.dblock_state FOR UPDATE`)
  const inFlight = store.acquire(lock('prod'))
  inFlight.catch(() => {})
  t.ok(await eventually(async () => (await server.query(
    "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [applicationName])).length === 1), 'the acquire waits')
  const cut = await server.query<{ n: number }>(
    'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1', [applicationName])
  t.ok(cut[0].n >= 2, `cut ${cut[0].n} connections (the pool's and the listener's)`)
  await t.rejects(inFlight, 'the call in flight throws')
  await holder.query('ROLLBACK')

  t.ok(await eventually(() => store.listening), 'the listener reconnected')
  t.equal((await store.acquire(lock('prod'))).created, true, 'the next call works, no restart')
  t.ok(await eventually(async () => !(await store.hasChanged())), 'quiet')
  await other.acquire(lock('notified'))
  t.ok(await eventually(() => store.hasChanged(), 2000), 'a change through another store arrives as a notification again')
})

t.test('a store whose database refuses connections fails every call, then recovers', async (t) => {
  const { name, url } = await server.createDatabase(t)
  const store = open(t, { url, connectTimeout: 1000 })
  await store.acquire(lock('prod'))
  await server.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`)
  await server.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name])
  t.ok(await eventually(() => !store.listening), 'the listener noticed')
  await t.rejects(store.hasChanged(), 'hasChanged throws: the view fails closed')
  await t.rejects(store.locksOf('prod', Date.now()))
  await t.rejects(store.acquire(lock('other')))
  await t.rejects(store.report({ processId: 'p', pid: 1, appliedVersion: 0, draining: [], heartbeatAt: Date.now() }))
  await server.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`)
  t.equal((await store.locksOf('prod', Date.now())).length, 1, 'back without a restart')
  t.ok(await eventually(() => store.listening), 'and listening again')
})

t.test('the plugin on PostgreSQL fails closed while the database is unreachable, then recovers', async (t) => {
  const { name, url } = await server.createDatabase(t)
  const demo = await startDemo(t, { lockOptions: { url, maxStaleness: 300, heartbeatInterval: 100, processTimeout: 1000 } })
  await createDatabases(demo, ['prod', 'scratch'])
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/lock')).statusCode, 200)
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 403)

  await server.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`)
  await server.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name])
  // Within maxStaleness the view may still answer (as it would have a moment earlier); after it, nothing guarded passes.
  const refused = await eventually(async () => (await demo.as('alice', 'POST', '/v1/database/prod/rows', { n: 1 })).statusCode === 503, 3000)
  t.ok(refused, 'writes are refused once the view cannot be kept fresh')
  const res = await demo.as('alice', 'DELETE', '/v1/database/scratch')
  t.equal(res.statusCode, 503, 'so is a delete of an unlocked database')
  t.equal(res.json().code, 'LOCK_STORE_UNAVAILABLE')
  t.equal((await demo.as('alice', 'GET', '/v1/database/scratch')).statusCode, 200, 'reads still work')
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/unlock')).statusCode, 503, 'so does unlock: nothing is acknowledged that is not stored')

  await server.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`)
  t.ok(await eventually(async () => (await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode === 403, 3000), 'the lock is enforced again')
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/unlock')).statusCode, 200)
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/scratch')).statusCode, 200, 'and unlocked work goes through')
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 200)
})

t.test('the plugin survives a PostgreSQL restart', { skip: process.env.DATABASE_URL ? 'only the embedded server can be restarted by the tests' : false }, async (t) => {
  const { url } = await server.createDatabase(t)
  const demo = await startDemo(t, { lockOptions: { url, maxStaleness: 300, heartbeatInterval: 100, processTimeout: 1000 } })
  await createDatabases(demo, ['prod'])
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/lock')).statusCode, 200)
  await server.stop()
  try {
    t.ok(await eventually(async () => (await demo.as('alice', 'POST', '/v1/database/prod/rows', { n: 1 })).statusCode === 503, 3000), 'fails closed while down')
    t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 503)
  } finally {
    await server.start()
  }
  t.ok(await eventually(async () => (await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode === 403, 5000), 'the lock holds after the restart')
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod')).statusCode, 200)
})
