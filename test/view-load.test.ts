// A process that starts on a store full of locks loads them all at once (permanent delete
// locks in bulk, the rest row by row). Whatever path each lock takes, it must be enforced
// exactly as by the process that took it, and as by a store that has no bulk load at all.
import t from 'tap'
import { NAMES_PER_CHUNK, OTHER_LIVE_LOCKS, PERMANENT_DELETE_CHUNK_END, PERMANENT_DELETE_NAMES, SqliteLockStore } from '../lib/store/sqlite/sqlite-store.js'
import type { AcquireInput, LockStore } from '../types/index.js'
import { tempDir } from './helpers/app.js'
import { acquireInput } from './helpers/store.js'
import { databaseLock, newHost } from './helpers/host.js'

const HOUR = 3600_000

/** Locks of every kind, taken through a store connection of their own, as another process would. */
async function fillStore (path: string): Promise<void> {
  const store = new SqliteLockStore({ path })
  // Filling only: 3,000 commits need not each wait for the disk.
  store.db.pragma('synchronous = OFF')
  const now = Date.now()
  const take = (database: string, mode: AcquireInput['mode'], expiresAt: number | null, { holder = 'ops', children = false } = {}) =>
    store.acquire(acquireInput({ database, mode, holder, namespace: children ? database : null, reason: 'test', lockedBy: 'ops', now, expiresAt }))
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

t.test('start-up reads the locks through the indexes of migration 5, never a scan of every row', async (t) => {
  const store = new SqliteLockStore({ path: `${tempDir(t)}/locks.db` })
  t.teardown(() => store.close())
  const planOf = (sql: string) => store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all({ after: '', upto: null, now: 0 }).map((row) => String((row as { detail: unknown }).detail))
  for (const [sql, what] of [[PERMANENT_DELETE_NAMES, 'names'], [PERMANENT_DELETE_CHUNK_END, 'where a chunk ends']]) {
    t.match(planOf(sql).join('\n'), /^SEARCH locks USING COVERING INDEX locks_permanent_delete \(.*database>\?/, `permanent delete locks, ${what}: from their index alone`)
  }
  const others = planOf(OTHER_LIVE_LOCKS).join('\n')
  t.match(others, /USING INDEX locks_not_permanent_delete/, 'the other locks: through their own index')
  t.notMatch(others, /SCAN locks$/m, 'no scan of the table')
})

t.test('permanent delete locks load in chunks by name: the holders of the name a chunk ends with are read with it, nothing is skipped', async (t) => {
  const path = `${tempDir(t)}/locks.db`
  const filler = new SqliteLockStore({ path })
  filler.db.pragma('synchronous = OFF')
  const nameOf = (i: number) => `n${String(i).padStart(7, '0')}`
  const insert = filler.db.prepare("INSERT INTO locks (database, mode, holder, reason, locked_by, locked_at) VALUES (?, 'delete', ?, 'test', 'ops', 0)")
  // More rows than a chunk; the names around a chunk's last row have a second holder.
  const end = NAMES_PER_CHUNK - 1
  filler.db.transaction(() => {
    for (let i = 0; i < NAMES_PER_CHUNK + 100; i++) insert.run(nameOf(i), 'ops')
    for (let i = end - 2; i <= end + 2; i++) insert.run(nameOf(i), 'backup')
  })()
  await filler.close()

  const store = new SqliteLockStore({ path })
  t.teardown(() => store.close())
  const app = newHost(t)
  await app.register(databaseLock, { store, principal: () => 'bob', resolveDatabase: (name) => ({ id: name, owner: 'alice' }) })
  app.delete('/db/:name', async () => ({ deleted: true }))
  await app.ready()
  for (const i of [0, end - 3, end - 2, end - 1, end, end + 1, end + 2, end + 3, NAMES_PER_CHUNK + 99]) {
    t.equal((await app.inject({ method: 'DELETE', url: `/db/${nameOf(i)}` })).statusCode, 403, `${nameOf(i)} refused`)
  }
  t.equal((await app.inject({ method: 'DELETE', url: `/db/${nameOf(NAMES_PER_CHUNK + 100)}` })).statusCode, 200, 'a name never locked goes through')
})
