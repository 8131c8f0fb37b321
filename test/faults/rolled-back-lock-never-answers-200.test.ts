// Two lock requests and a rollback once gave 200 with "locked": false. Lock A created the
// row and waited for a slow DELETE; lock B (same mode) only refreshed that row. A's wait
// timed out and A rolled the row back; B's wait then saw nothing draining and answered
// 200 with no lock, while the delete went on to succeed. A lock answers 200 only if its
// row is live after the wait.
import t, { type Test } from 'tap'
import { SqliteLockStore } from '../../lib/store/sqlite/sqlite-store.js'
import { tempDir } from '../helpers/app.js'
import { databaseLock, hostOptions, newHost } from '../helpers/host.js'
import { until } from '../helpers/wait.js'

// A's wait must outlast the test's look for A's row (5 ms polls of the store), even on a loaded disk.

t.test('a lock whose row was rolled back by a concurrent request answers 409, not 200 unlocked', async (t) => {
  const store = new SqliteLockStore({ path: `${tempDir(t)}/locks.db` })
  t.teardown(() => store.close())
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, { store, drainTimeout: 1500 }))
  const gate: { release?: () => void } = {}
  app.delete('/db/:name', async () => { await new Promise<void>((resolve) => { gate.release = resolve }); return { deleted: true } })
  await app.ready()

  const deleting = app.inject({ method: 'DELETE', url: '/db/prod' })
  await until(() => gate.release !== undefined, 'the DELETE to be in flight')
  const lockA = app.inject({ method: 'POST', url: '/v1/database/prod/lock', headers: { 'x-user': 'alice' }, payload: { reason: 'A' } })
  // B arrives once A's row exists, and so only refreshes it.
  await until(async () => (await store.locksOf('prod', Date.now())).length > 0, "A's lock row")
  const lockB = app.inject({ method: 'POST', url: '/v1/database/prod/lock', headers: { 'x-user': 'alice' } })

  const a = await lockA
  t.equal(a.statusCode, 409, 'A timed out waiting for the delete and withdrew its lock')
  const b = await lockB
  gate.release?.()
  t.not(b.statusCode, 200, `B is not acknowledged without a lock (got ${b.statusCode} ${b.body})`)
  t.equal(b.statusCode, 409)
  t.equal(b.json().code, 'LOCK_CONFLICT')
  t.equal((await deleting).statusCode, 200, 'the delete, never refused, completes')
  t.same(await store.locksOf('prod', Date.now()), [], 'no lock is left')
  t.equal((await app.databaseLock.events('prod', { type: 'conflict' })).events.length, 2, 'both conflicts are in the audit trail')
})

t.test('the same when the database holds a lock of the other mode: only the mode asked for counts', async (t) => {
  const store = new SqliteLockStore({ path: `${tempDir(t)}/locks.db` })
  t.teardown(() => store.close())
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, { store, drainTimeout: 1500 }))
  const gate: { release?: () => void } = {}
  app.post('/db/:name/rows', async () => { await new Promise<void>((resolve) => { gate.release = resolve }); return { written: true } })
  await app.ready()

  // A delete lock does not wait for writes: it is live while write locks A and B wait for the write.
  await app.databaseLock.lock('prod', { mode: 'delete', reason: 'kept' })
  const writing = app.inject({ method: 'POST', url: '/db/prod/rows' })
  await until(() => gate.release !== undefined, 'the write to be in flight')
  // Each refusal is expected from the start: under load B's wait can end before A's rollback
  // does, and a rejection with no handler yet fails the file.
  const lockA = t.rejects(app.databaseLock.lock('prod', { mode: 'write', reason: 'A' }),
    { code: 'LOCK_CONFLICT' }, 'A timed out waiting for the write and withdrew its lock')
  await until(async () => (await store.locksOf('prod', Date.now())).some((lock) => lock.mode === 'write'), "A's write lock row")
  const lockB = t.rejects(app.databaseLock.lock('prod', { mode: 'write' }),
    { code: 'LOCK_CONFLICT' }, 'B is not acknowledged: the delete lock is not the write lock it asked for')

  await Promise.all([lockA, lockB])
  gate.release?.()
  t.equal((await writing).statusCode, 200)
  t.match(await store.locksOf('prod', Date.now()), [{ mode: 'delete', reason: 'kept' }], 'the delete lock alone is left')
  t.equal((await app.databaseLock.events('prod', { type: 'conflict' })).events.length, 2, 'both conflicts are in the audit trail')
})

t.test('a lock whose own row was withdrawn while it waited is not acknowledged by another lock on the name', async (t) => {
  const owners = new Map([['acme', 'alice'], ['acme/db', 'alice']])
  /** A host with namespaced names, one write to acme/db held in flight, and two locks waiting for it. */
  async function withWaitingLocks (t: Test) {
    const store = new SqliteLockStore({ path: `${tempDir(t)}/locks.db` })
    t.teardown(() => store.close())
    const app = newHost(t)
    await app.register(databaseLock, hostOptions(t, {
      store,
      drainTimeout: 10_000,
      resolveDatabase: (name) => { const owner = owners.get(name); return owner === undefined ? null : { id: name, owner } }
    }))
    const gate: { release?: () => void } = {}
    app.post('/db/:name/rows', async () => { await new Promise<void>((resolve) => { gate.release = resolve }); return { written: true } })
    await app.ready()
    const writing = app.inject({ method: 'POST', url: '/db/acme%2Fdb/rows' })
    await until(() => gate.release !== undefined, 'the write to be in flight')
    return { app, store, gate, writing }
  }

  await t.test('alice\'s namespace lock above it', async (t) => {
    const { app, store, gate, writing } = await withWaitingLocks(t)
    const namespaceLock = app.databaseLock.lock('acme', { mode: 'write', holder: 'alice', children: true })
    const ownLock = app.databaseLock.lock('acme/db', { mode: 'write', holder: 'alice' })
    await until(async () => (await store.locksOf('acme/db', Date.now())).length > 0, "alice's row on acme/db")
    await app.databaseLock.unlock('acme/db', { mode: 'write', holder: 'alice' })
    gate.release?.()
    await t.rejects(ownLock, { code: 'LOCK_CONFLICT' }, 'its own row is gone: the namespace lock of the same holder and mode is not it')
    t.match(await namespaceLock, { locked: true })
    t.equal((await writing).statusCode, 200)
  })

  await t.test('bob\'s lock of the same mode on it', async (t) => {
    const { app, store, gate, writing } = await withWaitingLocks(t)
    const alices = app.databaseLock.lock('acme/db', { mode: 'write', holder: 'alice' })
    const bobs = app.databaseLock.lock('acme/db', { mode: 'write', holder: 'bob' })
    await until(async () => (await store.locksOf('acme/db', Date.now())).length === 2, 'both rows on acme/db')
    await app.databaseLock.unlock('acme/db', { mode: 'write', holder: 'alice' })
    gate.release?.()
    await t.rejects(alices, { code: 'LOCK_CONFLICT' }, "alice's row is gone: bob's lock is not hers")
    t.match(await bobs, { locked: true, locks: [{ holder: 'bob' }] })
    t.equal((await writing).statusCode, 200)
  })
})
