// A store failure that happens to carry `code` and `statusCode` (as errors of many
// libraries do) was once passed to the client as if the plugin had chosen it: a 500 with
// the store's own code and message. Only errors the plugin makes go to the client as they
// are; every other store failure is 503 LOCK_STORE_UNAVAILABLE, its cause in the log only.
import t from 'tap'
import { SqliteLockStore } from '../../lib/store/sqlite/sqlite-store.js'
import type { AcquireInput, AcquireResult, LockStore } from '../../types/index.js'
import { tempDir } from '../helpers/app.js'
import { databaseLock, hostOptions, newHost } from '../helpers/host.js'

/** A real SQLite store whose acquire fails the way a driver error with an HTTP-looking status would. */
class FailingAcquireStore extends SqliteLockStore {
  override async acquire (_input: AcquireInput): Promise<AcquireResult> {
    throw Object.assign(new Error('EIO: i/o error, write at /var/lib/locks/secret-path.db'), { code: 'EIO', statusCode: 500 })
  }
}

t.test('a store error with code and statusCode becomes 503 LOCK_STORE_UNAVAILABLE, its text never sent', async (t) => {
  const store: LockStore = new FailingAcquireStore({ path: `${tempDir(t)}/locks.db` })
  t.teardown(() => store.close())
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, { store }))
  await app.ready()
  const res = await app.inject({ method: 'POST', url: '/v1/database/prod/lock', headers: { 'x-user': 'alice' } })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'LOCK_STORE_UNAVAILABLE')
  t.notMatch(res.body, /EIO|secret-path/, 'the store\'s message stays in the log')
  t.same(await store.locksOf('prod', Date.now()), [], 'nothing was locked')
})
