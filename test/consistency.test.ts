// "A 200 means safe": lock waits for blocked operations in flight, else 409 and no lock.
import t from 'tap'
import { SqliteLockStore } from '../lib/store/sqlite/sqlite-store.js'
import type { LockStore } from '../types/index.js'
import { createDatabases, startDemo, tempDir } from './helpers/app.js'
import { databaseLock, hostOptions, newHost } from './helpers/host.js'
import { storeContent } from './helpers/store.js'
import { until } from './helpers/wait.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('a slow DELETE in flight: lock answers after it finished, with 404', async (t) => {
  let deleteStarted = 0
  const demo = await startDemo(t, { deleteDelay: 300, onDeleteStarted: () => { deleteStarted = Date.now() } })
  await createDatabases(demo, ['prod'])
  const deleting = demo.as('alice', 'DELETE', '/v1/database/prod')
  await until(() => deleteStarted > 0, 'the DELETE to be in flight')
  const lock = await demo.as('alice', 'POST', '/v1/database/prod/lock')
  const lockTook = Date.now() - deleteStarted
  const deleted = await deleting
  t.equal(deleted.statusCode, 200, 'the delete that started first completes')
  t.equal(lock.statusCode, 404, 'the lock then finds no database')
  t.equal(lock.json().code, 'DATABASE_NOT_FOUND')
  t.ok(lockTook >= 290, `lock answered only after the delete (${lockTook} ms)`)
  t.same(storeContent(demo.dataDir).locks, [], 'no lock row is left behind')
})

t.test('a DELETE slower than drainTimeout: 409 LOCK_CONFLICT and no lock row', async (t) => {
  let deleteStarted = false
  const demo = await startDemo(t, { deleteDelay: 400, lockOptions: { drainTimeout: 100 }, onDeleteStarted: () => { deleteStarted = true } })
  await createDatabases(demo, ['prod'])
  const deleting = demo.as('alice', 'DELETE', '/v1/database/prod')
  await until(() => deleteStarted, 'the DELETE to be in flight')
  const lock = await demo.as('alice', 'POST', '/v1/database/prod/lock', { reason: 'too late' })
  t.equal(lock.statusCode, 409)
  t.equal(lock.json().code, 'LOCK_CONFLICT')
  t.match(lock.json().message, /after waiting 100 ms, so the lock was not taken/)
  t.same(storeContent(demo.dataDir).locks, [], 'the lock was rolled back')
  t.equal((await deleting).statusCode, 200)
})

t.test('a database replaced under a new identity while the lock waited: 404, no lock', async (t) => {
  // The host resolves a name or an identity. The DELETE in flight is a restore that replaces
  // db-1 by db-2 and points the old identity at the new database.
  let current = { id: 'db-1', owner: 'alice' }
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, { resolveDatabase: (name) => ['prod', 'db-1', current.id].includes(name) ? current : null }))
  const gate: { release?: () => void } = {}
  app.delete('/db/:name', async () => {
    await new Promise<void>((resolve) => { gate.release = resolve })
    current = { id: 'db-2', owner: 'alice' }
    return { replaced: true }
  })
  await app.ready()
  const replacing = app.inject({ method: 'DELETE', url: '/db/prod', headers: { 'x-user': 'alice' } })
  await until(() => gate.release !== undefined, 'the DELETE to be in flight')
  // The refusal is expected from the start: it may come before the DELETE's answer is read.
  const locking = t.rejects(app.databaseLock.lock('prod'), { statusCode: 404, code: 'DATABASE_NOT_FOUND' }, 'the database the lock was asked for is gone')
  await until(async () => (await app.databaseLock.list()).locks.length > 0, "the lock's row")
  gate.release?.()
  t.equal((await replacing).statusCode, 200)
  await locking
  t.same((await app.databaseLock.list()).locks, [], 'no lock is left on either')
})

t.test('a write in flight holds up a write lock but not a delete lock', async (t) => {
  const app = newHost(t)
  // A lock that waits for the write (which is held until the end) answers 409 after 200 ms.
  await app.register(databaseLock, hostOptions(t, { drainTimeout: 200 }))
  const gate: { release?: () => void } = {}
  app.post('/db/:name/rows', async () => { await new Promise<void>((resolve) => { gate.release = resolve }); return { ok: true } })
  await app.ready()
  const writing = app.inject({ method: 'POST', url: '/db/prod/rows' })
  await until(() => gate.release !== undefined, 'the write to be in flight')
  t.match(await app.databaseLock.lock('prod', { mode: 'delete' }), { locked: true }, 'a delete lock does not wait for writes')
  await t.rejects(app.databaseLock.lock('prod', { mode: 'write' }), { code: 'LOCK_CONFLICT' }, 'the write lock waited for the write in flight, in vain')
  t.same((await app.databaseLock.status('prod')).locks.map((lock) => lock.mode), ['delete'], 'and was not taken')
  gate.release?.()
  t.equal((await writing).statusCode, 200)
  t.match(await app.databaseLock.lock('prod', { mode: 'write' }), { locked: true }, 'with the write done, the write lock is taken')
})

t.test('an aborted request whose handler still runs is waited for', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t))
  let started = false
  let finished = false
  app.delete('/db/:name', async () => { started = true; await sleep(250); finished = true; return { ok: true } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address() as { port: number }
  const controller = new AbortController()
  const request = fetch(`http://127.0.0.1:${address.port}/db/prod`, { method: 'DELETE', signal: controller.signal }).catch(() => 'aborted')
  await until(() => started, 'the DELETE handler to start')
  controller.abort()
  t.equal(await request, 'aborted')
  await app.databaseLock.lock('prod')
  t.equal(finished, true, 'lock returned only after the handler finished')
})

t.test('in-flight tracking ends when the guard or a later hook refuses, so nothing leaks', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, { drainTimeout: 200 }))
  app.delete('/db/:name', { preHandler: [] }, async () => { throw new Error('boom') })
  app.post('/db/:name/rows', async (_request, reply) => { reply.code(400).send({ nope: true }) })
  await app.ready()
  t.equal((await app.inject({ method: 'DELETE', url: '/db/prod' })).statusCode, 500)
  t.equal((await app.inject({ method: 'POST', url: '/db/prod/rows' })).statusCode, 400)
  const status = await app.databaseLock.lock('prod', { mode: 'write' })
  t.equal(status.locked, true, 'no operation is left counted as in flight')
})

t.test('a lock taken while a hook after the guard holds a write back stops that write before its handler', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t))
  let release = (): void => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  let waiting = false
  // A preHandler placed after the guard (an onRoute hook registered after the plugin) that waits.
  app.addHook('onRoute', (route) => {
    const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler]
    route.preHandler = [...existing, async () => { waiting = true; await held }]
  })
  let ran = 0
  app.post('/db/:name', async () => { ran++; return { ok: true } })
  await app.ready()
  const pending = app.inject({ method: 'POST', url: '/db/prod', headers: { 'x-user': 'bob' } })
  await until(() => waiting)
  // The write passed the guard but has not started: it is not in flight, so the lock is granted.
  await app.databaseLock.lock('prod', { mode: 'write' })
  release()
  t.equal((await pending).statusCode, 503, 'refused when it reaches its handler')
  t.equal(ran, 0, 'the handler never ran after the lock was acknowledged')
})

t.test('the request path makes no store call', async (t) => {
  const real = new SqliteLockStore({ path: `${tempDir(t)}/locks.db` })
  const calls: string[] = []
  // Counts calls on the real store; every call still goes through.
  const counted = new Proxy(real, {
    get (target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => { calls.push(String(property)); return value.apply(target, args) }
    }
  }) as LockStore
  const app = newHost(t)
  t.teardown(() => real.close())
  // Long intervals keep the background refresh out of the count.
  await app.register(databaseLock, hostOptions(t, { store: counted, pollInterval: 60_000, heartbeatInterval: 20_000, processTimeout: 120_000, maxStaleness: 60_000, purgeInterval: 600_000 }))
  app.delete('/db/:name', async () => ({ ok: true }))
  app.post('/db/:name', async () => ({ ok: true }))
  await app.ready()
  await app.databaseLock.lock('stage')
  // The count means something only if the counting store is the one in use.
  t.ok(calls.includes('acquire'), 'the lock went through the counting store')
  calls.length = 0
  let refused = 0
  for (let i = 0; i < 500; i++) {
    if ((await app.inject({ method: 'POST', url: '/db/prod' })).statusCode !== 200) t.fail('write refused')
    if ((await app.inject({ method: 'DELETE', url: '/db/stage', headers: { 'x-user': 'bob' } })).statusCode === 403) refused++
  }
  t.equal(refused, 500, 'the locked database was refused every time')
  t.same(calls, [], '1,000 guarded requests made no store call')
  await app.databaseLock.unlock('stage')
  t.ok(calls.includes('requestUnlock'), 'and still is after the requests')
})
