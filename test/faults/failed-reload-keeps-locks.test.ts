// A full reload of the lock view that failed half way once left the view empty but
// "fresh": for up to maxStaleness every guarded request was checked against no locks, and
// a delete-locked database could be deleted. Any transient store error (SQLITE_BUSY past
// the timeout, EIO) takes this path. The view is now replaced only by a complete new one,
// and a failed refresh makes it un-fresh at once, so the guard fails closed.
import t from 'tap'
import { SqliteLockStore } from '../../lib/store/sqlite/sqlite-store.js'
import type { LockMode, StoreChanges } from '../../types/index.js'
import { tempDir } from '../helpers/app.js'
import { databaseLock, hostOptions, newHost } from '../helpers/host.js'
import { until } from '../helpers/wait.js'

/** A real SQLite store that, once told to, asks for a full reload and then fails it. */
class ReloadFailingStore extends SqliteLockStore {
  failing = false

  override async hasChanged (): Promise<boolean> {
    return this.failing ? true : super.hasChanged()
  }

  override async changesSince (version: number, now: number): Promise<StoreChanges | null> {
    return this.failing ? null : super.changesSince(version, now)
  }

  override async snapshot (now: number): Promise<{ version: number, rows: Awaited<ReturnType<SqliteLockStore['snapshot']>>['rows'] }> {
    if (this.failing) throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' })
    return super.snapshot(now)
  }

  override async visitLive (
    now: number,
    visit: (database: string, mode: LockMode, expiresAt: number | null, reason: string | null, namespace: string | null) => void,
    permanentDeletes?: (names: Uint8Array) => void
  ): Promise<number> {
    if (!this.failing) return super.visitLive(now, visit, permanentDeletes)
    // Half way: some rows visited and a first batch of permanent delete locks handed over, then the read fails.
    visit('other', 'write', null, null, null)
    permanentDeletes?.(Buffer.from('stage\nother'))
    throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' })
  }
}

t.test('a failed full reload never lets a delete through', async (t) => {
  const store = new ReloadFailingStore({ path: `${tempDir(t)}/locks.db` })
  t.teardown(() => store.close())
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, { store, pollInterval: 10 }))
  let deleted = 0
  app.delete('/db/:name', async () => { deleted++; return { deleted: true } })
  await app.ready()
  await app.databaseLock.lock('prod')
  t.equal((await app.inject({ method: 'DELETE', url: '/db/prod', headers: { 'x-user': 'bob' } })).statusCode, 403, 'locked')

  store.failing = true
  const statuses = new Map<number, number>()
  const sampledUntil = Date.now() + 1500
  while (Date.now() < sampledUntil) {
    const { statusCode } = await app.inject({ method: 'DELETE', url: '/db/prod', headers: { 'x-user': 'bob' } })
    statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  t.equal(deleted, 0, `no delete ran (answers: ${JSON.stringify([...statuses])})`)
  t.notOk(statuses.has(200), 'never a 200')
  t.ok((statuses.get(503) ?? 0) > 0, 'the guard failed closed with 503 while the store failed')

  store.failing = false
  await app.databaseLock.status('prod')
  const refusedDelete = async () => (await app.inject({ method: 'DELETE', url: '/db/prod', headers: { 'x-user': 'bob' } })).statusCode === 403
  await until(refusedDelete, 'the view to recover')
  t.ok(await refusedDelete(), 'once the store answers again, the lock is enforced from a complete view')
  t.equal(deleted, 0)
})
