// Checks that back each other up, each caught on its own: the guard's preHandler and its
// handler wrapper, the routes' name check and the decorator's. Removing any one of them (with
// the other in place) fails one test here.
import t from 'tap'
import type { RouteOptions } from 'fastify'
import { SqliteLockStore } from '../lib/store/sqlite/sqlite-store.js'
import { tempDir } from './helpers/app.js'
import { databaseLock, hostOptions, newHost } from './helpers/host.js'
import { until } from './helpers/wait.js'

t.test('the handler wrapper: a lock that lands after the guard let a request through refuses it', async (t) => {
  const app = newHost(t)
  // The host gives databases an id of its own (resolving the name or the id): the refusal still names the route's name.
  await app.register(databaseLock, hostOptions(t, { resolveDatabase: (name) => name === 'prod' || name === 'db-17' ? { id: 'db-17', owner: 'alice' } : null }))
  // A preHandler added by an onRoute hook registered after the plugin (as another plugin might)
  // runs after the guard: the request has passed the guard but is not yet counted in flight.
  const gate: { release?: () => void } = {}
  app.addHook('onRoute', (route: RouteOptions) => {
    const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler]
    route.preHandler = [...existing, async () => { await new Promise<void>((resolve) => { gate.release = resolve }) }]
  })
  let deleted = false
  app.delete('/db/:name', async () => { deleted = true; return { deleted: true } })
  await app.ready()

  const deleting = app.inject({ method: 'DELETE', url: '/db/prod', headers: { 'x-user': 'alice' } })
  await until(() => gate.release !== undefined, 'the DELETE to pass the guard')
  const status = await app.databaseLock.lock('prod', { reason: 'landed late' })
  t.equal(status.locked, true, 'the lock is taken: nothing was in flight yet')
  gate.release?.()
  const res = await deleting
  t.equal(res.statusCode, 403, 'the DELETE is refused')
  t.match(res.json(), { code: 'DATABASE_LOCKED', reason: 'landed late', database: 'db-17', message: /POST \/v1\/database\/prod\/unlock/ })
  t.equal(deleted, false, 'its handler never ran')
})

t.test('the preHandler: a locked database is refused there, before any hook after it runs', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t))
  // As above, a preHandler that runs after the guard: it must not run for a refused request
  // (the handler wrapper would refuse it too, but only after the hook had done its work).
  const ranAfterGuard: string[] = []
  app.addHook('onRoute', (route: RouteOptions) => {
    const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler]
    route.preHandler = [...existing, async (request) => { ranAfterGuard.push(request.url) }]
  })
  app.delete('/db/:name', async () => ({ deleted: true }))
  await app.ready()
  await app.databaseLock.lock('prod', { reason: 'locked before' })
  const res = await app.inject({ method: 'DELETE', url: '/db/prod', headers: { 'x-user': 'alice' } })
  t.equal(res.statusCode, 403)
  t.match(res.json(), { code: 'DATABASE_LOCKED', reason: 'locked before' })
  t.same(ranAfterGuard, [], 'the hook after the guard never ran')
  t.equal((await app.inject({ method: 'DELETE', url: '/db/stage', headers: { 'x-user': 'alice' } })).statusCode, 200)
  t.same(ranAfterGuard, ['/db/stage'], 'it runs for a request the guard lets through')
})

/** A store that misses change notices (as a PostgreSQL store may, when a NOTIFY is lost): only a forced read sees changes. */
class DeafStore extends SqliteLockStore {
  override async hasChanged (): Promise<boolean> {
    await super.hasChanged()
    return false
  }

  // Nor does it wake the view: a wake-up would run its refresh (and heartbeat) on every commit elsewhere.
  override watchChanges (): null {
    return null
  }
}

t.test('the preHandler: a view gone stale is read again before a request passes', async (t) => {
  const path = `${tempDir(t)}/locks.db`
  const timing = { heartbeatInterval: 100, processTimeout: 250, maxStaleness: 50 }
  // Its background refresh never runs within the test, as in a process whose event loop stalls,
  // and its store does not report changes: the guard must read the store, not ask whether it changed.
  const store = new DeafStore({ path })
  t.teardown(() => store.close())
  const stalled = newHost(t)
  await stalled.register(databaseLock, hostOptions(t, { store, ...timing, pollInterval: 600_000 }))
  let deleted = false
  stalled.delete('/db/:name', async () => { deleted = true; return { deleted: true } })
  await stalled.ready()
  const other = newHost(t)
  await other.register(databaseLock, hostOptions(t, { path, ...timing, pollInterval: 10 }))
  await other.ready()

  // The lock waits for the stalled process until it no longer counts as alive (processTimeout),
  // so the stalled view never applied it and is older than maxStaleness.
  await other.databaseLock.lock('prod', { reason: 'taken elsewhere' })
  const res = await stalled.inject({ method: 'DELETE', url: '/db/prod', headers: { 'x-user': 'alice' } })
  t.equal(res.statusCode, 403, 'the DELETE is refused')
  t.match(res.json(), { code: 'DATABASE_LOCKED', reason: 'taken elsewhere' })
  t.equal(deleted, false, 'its handler never ran')
})

/** A host that resolves every name it is asked about, counting the questions. */
function catchAllHost (t: Parameters<typeof hostOptions>[0]) {
  const asked: string[] = []
  const options = hostOptions(t, { resolveDatabase: (name) => { asked.push(name); return { id: name, owner: 'alice' } } })
  return { asked, options }
}

t.test('the decorator checks the name itself, before the host is asked', async (t) => {
  const { asked, options } = catchAllHost(t)
  const app = newHost(t)
  await app.register(databaseLock, options)
  await app.ready()
  const lock = app.databaseLock
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['lock', () => lock.lock('Bad Name')],
    ['unlock', () => lock.unlock('Bad Name')],
    ['status', () => lock.status('Bad Name')],
    ['events', () => lock.events('Bad Name')]
  ]
  for (const [label, call] of calls) {
    await t.rejects(call(), { statusCode: 400, code: 'INVALID_DATABASE_NAME', message: /"Bad Name".*use lowercase letters/ }, label)
  }
  t.same(asked, [], 'resolveDatabase was never asked about the bad name')
  t.same((await lock.list()).locks, [], 'no lock was taken')
})

t.test('the routes check the name first, before credentials', async (t) => {
  const { asked, options } = catchAllHost(t)
  const app = newHost(t)
  await app.register(databaseLock, options)
  await app.ready()
  for (const [method, url] of [
    ['POST', '/v1/database/Bad%20Name/lock'],
    ['POST', '/v1/database/Bad%20Name/unlock'],
    ['GET', '/v1/database/Bad%20Name/lock'],
    ['GET', '/v1/database/Bad%20Name/lock/events']
  ] as const) {
    // No credentials: without the name check first, this would be a 401.
    const res = await app.inject({ method, url })
    t.equal(res.statusCode, 400, `${method} ${url}`)
    t.match(res.json(), { code: 'INVALID_DATABASE_NAME', message: /"Bad Name".*use lowercase letters/ })
  }
  t.same(asked, [], 'resolveDatabase was never asked about the bad name')
  t.same((await app.databaseLock.list()).locks, [], 'no lock was taken')
})
