// A process that starts on a store full of locks loads them all at once (permanent delete
// locks in bulk, the rest row by row). Whatever path each lock takes, it must be enforced
// exactly as by the process that took it, and as by a store that has no bulk load at all.
import t from 'tap'
import { SqliteLockStore } from '../lib/store/sqlite/sqlite-store.js'
import type { AcquireInput, LockStore } from '../types/index.js'
import { tempDir } from './helpers/app.js'
import { databaseLock, newHost } from './helpers/host.js'

const HOUR = 3600_000

/** Locks of every kind, taken through a store connection of their own, as another process would. */
async function fillStore (path: string): Promise<void> {
  const store = new SqliteLockStore({ path })
  // Filling only: 3,000 commits need not each wait for the disk.
  store.db.pragma('synchronous = OFF')
  const now = Date.now()
  const take = (database: string, mode: AcquireInput['mode'], expiresAt: number | null, { holder = 'ops', children = false } = {}) => store.acquire({
    database,
    mode,
    holder,
    namespace: children ? database : null,
    reason: 'test',
    lockedBy: 'ops',
    now,
    expiresAt,
    unlock: null,
    refreshReason: false,
    refreshExpiry: false,
    refreshNamespace: false,
    refreshUnlock: false
  })
  try {
    await take('perm', 'delete', null)
    await take('soon', 'delete', now + HOUR)
    await take('gone', 'delete', now - 1000)
    await take('frozen', 'write', now + HOUR)
    await take('both', 'delete', null)
    await take('both', 'write', now + HOUR)
    await take('line\nbreak', 'delete', null)
    await take('prød', 'delete', null)
    // Two holders on one database: one lock that never lifts, one that expires.
    await take('shared', 'delete', null, { holder: 'backup' })
    await take('shared', 'delete', now + HOUR, { holder: 'legal' })
    // A namespace lock that never lifts: it covers the names below it, and is never a plain name.
    await take('acme', 'delete', null, { children: true })
    // Delete locks without expiry whose unlock is scheduled: one still pending, one already past.
    await take('pending', 'delete', null)
    await take('lifted', 'delete', null)
    store.db.prepare('UPDATE locks SET unlock_at = ? WHERE database = ?').run(now + HOUR, 'pending')
    store.db.prepare('UPDATE locks SET unlock_at = ? WHERE database = ?').run(now - 1000, 'lifted')
    for (let i = 0; i < 3000; i++) await take(`bulk-${i}`, 'delete', null)
  } finally {
    await store.close()
  }
}

/** The same store without its optional bulk load: the view falls back to snapshot(). */
function withoutVisitLive (store: SqliteLockStore): LockStore {
  return new Proxy(store, {
    get (target, property) {
      if (property === 'visitLive') return undefined
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

const EXPECTED: Array<[method: 'DELETE' | 'POST', name: string, status: number]> = [
  ['DELETE', 'perm', 403],
  ['POST', 'perm', 200],
  ['DELETE', 'soon', 403],
  ['DELETE', 'gone', 200],
  ['DELETE', 'frozen', 503],
  ['POST', 'frozen', 503],
  ['DELETE', 'both', 403],
  ['POST', 'both', 503],
  ['DELETE', 'line\nbreak', 403],
  ['DELETE', 'prød', 403],
  ['DELETE', 'shared', 403],
  ['DELETE', 'acme', 403],
  ['DELETE', 'acme/prod', 403],
  ['DELETE', 'acme.prod.eu', 403],
  ['DELETE', 'acme2', 200],
  ['DELETE', 'pending', 403],
  ['DELETE', 'lifted', 200],
  ['DELETE', 'bulk-0', 403],
  ['DELETE', 'bulk-2999', 403],
  ['DELETE', 'bulk-3000', 200],
  ['DELETE', 'bulk', 200],
  ['DELETE', 'free', 200]
]

for (const bulk of [true, false]) {
  t.test(`a new process enforces every lock it loads (${bulk ? 'bulk load' : 'snapshot'})`, async (t) => {
    const path = `${tempDir(t)}/locks.db`
    await fillStore(path)
    const store = new SqliteLockStore({ path })
    t.teardown(() => store.close())
    const app = newHost(t)
    await app.register(databaseLock, {
      store: bulk ? store : withoutVisitLive(store),
      principal: () => 'bob',
      resolveDatabase: (name) => ({ id: name, owner: 'alice' }),
      validateName: () => null
    })
    app.delete('/db/:name', async () => ({ deleted: true }))
    app.post('/db/:name', async () => ({ written: true }))
    await app.ready()

    const statusOf = async (method: 'DELETE' | 'POST', name: string) =>
      (await app.inject({ method, url: `/db/${encodeURIComponent(name)}` })).statusCode
    for (const [method, name, status] of EXPECTED) {
      t.equal(await statusOf(method, name), status, `${method} ${JSON.stringify(name)}`)
    }

    // Unlocking reaches the loaded view through the change journal like any other change.
    await app.databaseLock.unlock('perm', { holder: 'ops' })
    await app.databaseLock.unlock('line\nbreak', { holder: 'ops' })
    await app.databaseLock.unlock('bulk-7', { holder: 'ops' })
    await app.databaseLock.unlock('shared', { holder: 'backup' })
    t.equal(await statusOf('DELETE', 'shared'), 403, 'shared: the other holder\'s lock still refuses')
    await app.databaseLock.unlock('shared', { holder: 'legal' })
    t.equal(await statusOf('DELETE', 'shared'), 200, 'shared: free once both holders unlocked')
    t.equal(await statusOf('DELETE', 'perm'), 200, 'perm unlocked')
    t.equal(await statusOf('DELETE', 'line\nbreak'), 200, 'the name with a newline unlocked')
    t.equal(await statusOf('DELETE', 'bulk-7'), 200, 'bulk-7 unlocked')
    t.equal(await statusOf('DELETE', 'bulk-8'), 403, 'bulk-8 still locked')
    await app.databaseLock.lock('perm')
    t.equal(await statusOf('DELETE', 'perm'), 403, 'perm locked again')
  })
}
