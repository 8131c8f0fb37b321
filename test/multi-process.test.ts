// Two real server processes sharing one data dir: a lock through one holds in the other.
import t from 'tap'
import { ADMIN_KEY, tempDir } from './helpers/app.js'
import { call, startServerProcess } from './helpers/processes.js'

t.test('lock through A, refused through B; unlock through B, allowed through A', async (t) => {
  const dataDir = tempDir(t)
  const env = { DATA_DIR: dataDir, ADMIN_KEY }
  const [a, b] = await Promise.all([startServerProcess(t, env), startServerProcess(t, env)])
  t.equal((await call(`${a.url}/v1/database/prod`, 'POST', { user: 'alice' })).status, 201)

  const lock = await call(`${a.url}/v1/database/prod/lock`, 'POST', { adminKey: ADMIN_KEY, body: { mode: 'write', reason: 'restore', ttl: 600 } })
  t.equal(lock.status, 200)
  const write = await call(`${b.url}/v1/database/prod/rows`, 'POST', { user: 'alice', body: { a: 1 } })
  t.equal(write.status, 503, 'B refuses the write at once')
  t.equal(write.headers.get('retry-after'), '300')
  t.equal(write.json.reason, 'restore')
  t.equal((await call(`${b.url}/v1/database/prod/rows`, 'GET', { user: 'alice' })).status, 200, 'B still serves reads')

  t.equal((await call(`${b.url}/v1/database/prod/unlock`, 'POST', { adminKey: ADMIN_KEY, body: { mode: 'write' } })).status, 200)
  // Unlock reaches A within the propagation bound (100 ms); staleness may only over-block.
  let status = 0
  const deadline = Date.now() + 1000
  while (status !== 201 && Date.now() < deadline) {
    status = (await call(`${a.url}/v1/database/prod/rows`, 'POST', { user: 'alice', body: { a: 2 } })).status
  }
  t.equal(status, 201, 'A accepts the write again')

  t.equal((await call(`${b.url}/v1/database/prod/lock`, 'POST', { user: 'alice' })).status, 200)
  const del = await call(`${a.url}/v1/database/prod`, 'DELETE', { user: 'alice' })
  t.equal(del.status, 403)
  t.equal(del.json.code, 'DATABASE_LOCKED')
  const listed = await call(`${a.url}/v1/locks`, 'GET', { adminKey: ADMIN_KEY })
  t.match(listed.json, { locks: [{ database: 'prod', mode: 'delete', lockedBy: 'alice' }], nextCursor: null })
})

t.test('processes that poll once a minute learn of each other\'s locks and unlocks from the store\'s watch', async (t) => {
  const dataDir = tempDir(t)
  const env = { DATA_DIR: dataDir, ADMIN_KEY }
  // Only a wake-up can tell B of A's commits in time: without one, A's lock fails after drainTimeout (409).
  const lockOptions = { pollInterval: 60_000, heartbeatInterval: 60_000, processTimeout: 200_000, maxStaleness: 150_000, drainTimeout: 5000 }
  const [a, b] = await Promise.all([startServerProcess(t, env, { lockOptions }), startServerProcess(t, env, { lockOptions })])
  t.equal((await call(`${a.url}/v1/database/prod`, 'POST', { user: 'alice' })).status, 201)

  const lock = await call(`${a.url}/v1/database/prod/lock`, 'POST', { adminKey: ADMIN_KEY, body: { mode: 'write', reason: 'restore', ttl: 600 } })
  t.equal(lock.status, 200, 'acknowledged: B applied the lock and reported it')
  t.equal((await call(`${b.url}/v1/database/prod/rows`, 'POST', { user: 'alice', body: { a: 1 } })).status, 503, 'B refuses the write')

  t.equal((await call(`${a.url}/v1/database/prod/unlock`, 'POST', { adminKey: ADMIN_KEY, body: { mode: 'write' } })).status, 200)
  let status = 0
  const deadline = Date.now() + 5000
  while (status !== 201 && Date.now() < deadline) {
    status = (await call(`${b.url}/v1/database/prod/rows`, 'POST', { user: 'alice', body: { a: 2 } })).status
  }
  t.equal(status, 201, 'B accepts the write again, long before its next poll')
})
