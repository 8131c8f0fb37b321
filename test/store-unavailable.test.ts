// When the store cannot answer: fail closed (503), except write checks under failOpen; each
// failure logged with what the plugin was trying to do.
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import { errors } from '../lib/index.js'
import { SqliteLockStore } from '../lib/store/sqlite/sqlite-store.js'
import type { DatabaseLockOptions, LockStore } from '../types/index.js'
import { databaseLock, hostOptions, newHost } from './helpers/host.js'
import { tempDir, type TapLike } from './helpers/app.js'
import { until } from './helpers/wait.js'

const ok = async () => ({ ok: true })

async function hostWithClosableStore (t: TapLike, failOpen: boolean) {
  const store = new SqliteLockStore({ path: `${tempDir(t)}/locks.db` })
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, { store, failOpen, maxStaleness: 50, pollInterval: 10 }))
  app.delete('/db/:name', ok)
  app.post('/db/:name/reset', { config: { databaseLock: 'reset' } }, ok)
  app.post('/db/:name', ok)
  app.get('/db/:name', ok)
  await app.ready()
  t.teardown(() => store.close())
  return { app, store }
}

/** Closes the store under the running app and waits until its view is no longer trusted. */
async function breakStore (app: FastifyInstance, store: SqliteLockStore): Promise<void> {
  store.db.close()
  // The first failed poll, or maxStaleness (50 ms) at the latest, ends the trust in the view; then
  // every check must reach the store. Until then a delete of the unlocked database passes.
  await until(async () => (await app.inject({ method: 'DELETE', url: '/db/prod' })).statusCode === 503, 'the view to be distrusted')
}

t.test('fail closed: delete, reset and write all answer 503 LOCK_STORE_UNAVAILABLE', async (t) => {
  const { app, store } = await hostWithClosableStore(t, false)
  t.equal((await app.inject({ method: 'POST', url: '/db/prod' })).statusCode, 200, 'works while the store works')
  await breakStore(app, store)
  for (const [method, url] of [['DELETE', '/db/prod'], ['POST', '/db/prod/reset'], ['POST', '/db/prod']] as const) {
    const res = await app.inject({ method, url })
    t.equal(res.statusCode, 503, `${method} ${url}`)
    t.equal(res.json().code, 'LOCK_STORE_UNAVAILABLE')
    t.notMatch(res.body, /database connection|SQLITE|sqlite|\.ts:|at /, 'no internals')
  }
  t.equal((await app.inject({ method: 'GET', url: '/db/prod' })).statusCode, 200, 'reads are not checked')
  const lock = await app.inject({ method: 'POST', url: '/v1/database/prod/lock', headers: { 'x-user': 'alice' } })
  t.equal(lock.statusCode, 503)
  t.same(Object.keys(lock.json()).sort(), ['code', 'error', 'message', 'statusCode'])
})

t.test('failOpen lets write checks through; delete and reset still fail closed', async (t) => {
  const { app, store } = await hostWithClosableStore(t, true)
  await breakStore(app, store)
  t.equal((await app.inject({ method: 'POST', url: '/db/prod' })).statusCode, 200, 'write allowed')
  t.equal((await app.inject({ method: 'DELETE', url: '/db/prod' })).statusCode, 503, 'delete refused')
  t.equal((await app.inject({ method: 'POST', url: '/db/prod/reset' })).statusCode, 503, 'reset refused')
})

/** A real store whose named operations fail while they are listed in `failing`. */
class FailingStore extends SqliteLockStore {
  readonly failing = new Set<string>()
  private check (operation: string): void {
    if (this.failing.has(operation)) throw Object.assign(new Error(`${operation}: disk I/O error`), { code: 'SQLITE_IOERR' })
  }

  override async acquire (...args: Parameters<SqliteLockStore['acquire']>) { this.check('acquire'); return super.acquire(...args) }
  override async hasChanged () { this.check('hasChanged'); return super.hasChanged() }
  override async drainState (...args: Parameters<SqliteLockStore['drainState']>) { this.check('drainState'); return super.drainState(...args) }
  override async locksOf (...args: Parameters<SqliteLockStore['locksOf']>) { this.check('locksOf'); return super.locksOf(...args) }
  override async release (...args: Parameters<SqliteLockStore['release']>) { this.check('release'); return super.release(...args) }
  override async requestUnlock (...args: Parameters<SqliteLockStore['requestUnlock']>) { this.check('requestUnlock'); return super.requestUnlock(...args) }
  override async list (...args: Parameters<SqliteLockStore['list']>) { this.check('list'); return super.list(...args) }
  override async listEvents (...args: Parameters<SqliteLockStore['listEvents']>) { this.check('listEvents'); return super.listEvents(...args) }
}

interface Line { level: number, msg: string, err?: { message: string }, database?: string, mode?: string }

async function loggedHostOn (t: TapLike, store: LockStore, extra: Partial<DatabaseLockOptions> = {}) {
  const lines: Line[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    }
  })
  const app = Fastify({ logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  await app.register(databaseLock, hostOptions(t, { store, ...extra }))
  return { app, lines }
}

t.test('a store failure answers 503 and is logged with what the plugin was trying to do', async (t) => {
  const store = new FailingStore({ path: `${tempDir(t)}/locks.db` })
  t.teardown(() => store.close())
  const { app, lines } = await loggedHostOn(t, store)
  await app.ready()
  const lock = app.databaseLock
  await lock.lock('stage')
  const cases: Array<[string, () => Promise<unknown>, string]> = [
    ['acquire', () => lock.lock('prod'), 'take a lock'],
    ['hasChanged', () => lock.lock('prod'), 'apply a new lock'],
    ['drainState', () => lock.lock('prod'), 'wait for in-flight operations'],
    ['locksOf', () => lock.lock('prod'), 'read locks'],
    ['locksOf', () => lock.status('stage'), 'read locks'],
    ['requestUnlock', () => lock.unlock('stage'), 'remove a lock'],
    ['list', () => lock.list(), 'list locks'],
    ['listEvents', () => lock.events('stage'), 'read audit events']
  ]
  for (const [operation, call, what] of cases) {
    store.failing.add(operation)
    await t.rejects(call(), { statusCode: 503, code: 'LOCK_STORE_UNAVAILABLE' }, `${operation} fails: 503`)
    store.failing.delete(operation)
    const logged = lines.find((line) => line.msg === `database-lock: the lock store failed while trying to ${what}` && line.err?.message === `${operation}: disk I/O error`)
    t.match(logged, { level: 50 }, `${operation}: logged as "${what}", with its cause`)
  }
  t.same((await lock.status('prod')).locks, [], 'no lock on prod was left behind')
})

t.test('an error the plugin made itself passes through a store call as it is', async (t) => {
  class TooNewStore extends SqliteLockStore {
    override async acquire (): Promise<never> { throw new errors.StoreTooNewError('the lock store', 9, 3) }
  }
  const store = new TooNewStore({ path: `${tempDir(t)}/locks.db` })
  t.teardown(() => store.close())
  const { app, lines } = await loggedHostOn(t, store)
  await app.ready()
  await t.rejects(app.databaseLock.lock('prod'), { statusCode: 500, code: 'LOCK_STORE_TOO_NEW' })
  t.notOk(lines.some((line) => /the lock store failed/.test(line.msg)), 'not mistaken for a store failure')
})

t.test('a lock that could not be rolled back stays, and says so in the log', async (t) => {
  const store = new FailingStore({ path: `${tempDir(t)}/locks.db` })
  t.teardown(() => store.close())
  const { app, lines } = await loggedHostOn(t, store, { drainTimeout: 100 })
  const gate: { release?: () => void } = {}
  app.delete('/db/:name', async () => { await new Promise<void>((resolve) => { gate.release = resolve }); return { deleted: true } })
  await app.ready()
  const deleting = app.inject({ method: 'DELETE', url: '/db/prod', headers: { 'x-user': 'alice' } })
  await until(() => gate.release !== undefined, 'the DELETE to be in flight')
  store.failing.add('release')
  await t.rejects(app.databaseLock.lock('prod'), { code: 'LOCK_CONFLICT' })
  store.failing.delete('release')
  t.match(lines.find((line) => /could not roll back/.test(line.msg)), {
    level: 50, msg: 'database-lock: could not roll back a lock that was not granted', database: 'prod', mode: 'delete', err: { message: 'release: disk I/O error' }
  })
  t.equal((await app.databaseLock.status('prod')).locked, true, 'the lock stays: it over-blocks, never under-blocks')
  gate.release?.()
  t.equal((await deleting).statusCode, 200)
})

t.test('an unlock whose local refresh fails is still done, and says so in the log', async (t) => {
  const store = new FailingStore({ path: `${tempDir(t)}/locks.db` })
  t.teardown(() => store.close())
  const { app, lines } = await loggedHostOn(t, store)
  await app.ready()
  await app.databaseLock.lock('prod')
  store.failing.add('hasChanged')
  t.match(await app.databaseLock.unlock('prod'), { locked: false }, 'unlocked')
  store.failing.delete('hasChanged')
  t.match(lines.find((line) => /unlocked, but/.test(line.msg)), { level: 40, msg: 'database-lock: unlocked, but refreshing the local view failed', err: { message: 'hasChanged: disk I/O error' } })
})
