// The write lock: 503 with Retry-After for every guarded write, reads untouched, expiry.
import t from 'tap'
import { createDatabases, fakeClock, startDemo } from './helpers/app.js'
import { storeContent } from './helpers/store.js'
import { until } from './helpers/wait.js'

t.test('a write lock answers every guarded write with 503 and Retry-After', async (t) => {
  const clock = fakeClock()
  const demo = await startDemo(t, { lockOptions: { now: clock.now } })
  await createDatabases(demo, ['prod'])
  const lock = await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode: 'write', reason: 'restore', ttl: 3600 })
  t.equal(lock.statusCode, 200)
  t.same(lock.json(), {
    database: 'prod',
    locked: true,
    locks: [{
      mode: 'write', holder: 'alice', reason: 'restore', lockedBy: 'alice', lockedAt: '2026-11-23T10:00:00.000Z', expiresAt: '2026-11-23T11:00:00.000Z', unlock: null, unlockAt: null, approvals: [], children: false, inheritedFrom: null
    }]
  })
  for (const [method, url, body, operation] of [
    ['POST', '/v1/database/prod/rows', { a: 1 }, 'write'],
    ['POST', '/v1/database/prod', { description: 'x' }, 'write'],
    ['DELETE', '/v1/database/prod', undefined, 'delete'],
    ['POST', '/v1/database/prod/reset', undefined, 'reset']
  ] as const) {
    const res = await demo.as('alice', method, url, body)
    t.equal(res.statusCode, 503, `${method} ${url}`)
    t.equal(res.headers['retry-after'], '300', 'Retry-After is capped at maxRetryAfter (300 s)')
    t.same(res.json(), {
      statusCode: 503,
      code: 'DATABASE_WRITE_LOCKED',
      error: 'Service Unavailable',
      message: 'Database "prod" is locked for restore; writes are refused until it is unlocked. Retry after 300 seconds',
      database: 'prod',
      operation,
      reason: 'restore',
      lockedBy: 'alice',
      retryAfter: 300,
      locks: lock.json().locks
    })
  }
  clock.advance(3600_000 - 42_500)
  const near = await demo.as('alice', 'POST', '/v1/database/prod/rows', { a: 1 })
  t.equal(near.headers['retry-after'], '43', 'seconds until expiry, rounded up')
  t.equal(near.json().retryAfter, 43)
})

t.test('reads and unguarded routes keep working under a write lock', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod', 'other'])
  await demo.as('alice', 'POST', '/v1/database/prod/rows', { a: 1 })
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode: 'write', reason: 'restore' })
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod')).statusCode, 200)
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod/rows')).json().rows.length, 1)
  t.equal((await demo.as('alice', 'HEAD', '/v1/database/prod')).statusCode, 200)
  t.equal((await demo.as(null, 'GET', '/health')).statusCode, 200)
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod/lock')).statusCode, 200)
  t.equal((await demo.as('alice', 'POST', '/v1/database/other/rows', { a: 1 })).statusCode, 201, 'other databases are not locked')
})

t.test('both locks: a delete gets the 403, a write the 503; unlocking one mode keeps the other', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode: 'write', reason: 'restore' })
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { reason: 'prod' })
  const status = await demo.as('alice', 'GET', '/v1/database/prod/lock')
  t.same(status.json().locks.map((lock: { mode: string }) => lock.mode), ['delete', 'write'])
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).json().code, 'DATABASE_LOCKED')
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/reset')).json().code, 'DATABASE_LOCKED')
  const write = await demo.as('alice', 'POST', '/v1/database/prod/rows', {})
  t.equal(write.statusCode, 503)
  t.match(write.json(), { reason: 'restore', message: /locked for restore;/ }, 'the 503 tells the write lock\'s reason, not the delete lock\'s')
  const reset = await demo.as('alice', 'POST', '/v1/database/prod/reset')
  t.match(reset.json(), { code: 'DATABASE_LOCKED', reason: 'prod' }, 'the 403 tells the delete lock\'s reason')

  const afterDelete = await demo.as('alice', 'POST', '/v1/database/prod/unlock')
  t.same(afterDelete.json().locks.map((lock: { mode: string }) => lock.mode), ['write'], 'unlock with no body lifts only the delete lock')
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 503, 'the write lock still holds')

  await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode: 'delete' })
  const afterWrite = await demo.as('alice', 'POST', '/v1/database/prod/unlock', { mode: 'write' })
  t.same(afterWrite.json().locks.map((lock: { mode: string }) => lock.mode), ['delete'], 'unlocking write keeps delete')
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/rows', {})).statusCode, 201)
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 403)
})

t.test('a write lock without a reason is "maintenance" to everybody', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode: 'write' })
  for (const user of ['alice', 'bob'] as const) {
    const res = await demo.as(user, 'POST', '/v1/database/prod/rows', {})
    t.equal(res.statusCode, 503)
    t.match(res.json().message, /^Database "prod" is locked for maintenance;/, `${user}: the message`)
  }
})

t.test('expiry: write locks default to 2 hours, delete locks never expire unless given a ttl', async (t) => {
  const clock = fakeClock()
  const demo = await startDemo(t, { lockOptions: { now: clock.now } })
  await createDatabases(demo, ['prod', 'stage', 'temp'])
  const write = await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode: 'write' })
  t.equal(write.json().locks[0].expiresAt, '2026-11-23T12:00:00.000Z', '2 h by default')
  const del = await demo.as('alice', 'POST', '/v1/database/stage/lock')
  t.equal(del.json().locks[0].expiresAt, null)
  await demo.as('alice', 'POST', '/v1/database/temp/lock', { ttl: 60 })

  clock.advance(60_000)
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/temp')).statusCode, 200, 'a delete lock with a ttl lifts by itself')

  clock.advance(2 * 3600_000 - 60_001)
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/rows', {})).statusCode, 503, '1 ms before expiry it still holds')
  clock.advance(1)
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/rows', {})).statusCode, 201, 'at expiry it no longer blocks')
  t.same((await demo.as('alice', 'GET', '/v1/database/prod/lock')).json(), { database: 'prod', locked: false, locks: [] }, 'nor shows in status')
  t.same((await demo.admin('GET', '/v1/locks')).json().locks.map((lock: { database: string }) => lock.database), ['stage'], 'nor in the list')

  clock.advance(365 * 24 * 3600_000)
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/stage')).statusCode, 403, 'a delete lock without ttl holds a year later')
})

t.test('re-locking with a ttl refreshes the expiry and keeps lockedAt', async (t) => {
  const clock = fakeClock()
  const demo = await startDemo(t, { lockOptions: { now: clock.now } })
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode: 'write', ttl: 60 })
  clock.advance(30_000)
  const again = await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode: 'write', ttl: 60 })
  t.equal(again.json().locks[0].lockedAt, '2026-11-23T10:00:00.000Z')
  t.equal(again.json().locks[0].expiresAt, '2026-11-23T10:01:30.000Z')
  clock.advance(45_000)
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/rows', {})).statusCode, 503, 'still held past the first expiry')
})

t.test('re-locking without a ttl keeps the expiry of either mode', async (t) => {
  const clock = fakeClock()
  const demo = await startDemo(t, { lockOptions: { now: clock.now } })
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode: 'write', ttl: 60 })
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode: 'delete', ttl: 60 })
  clock.advance(30_000)
  for (const mode of ['write', 'delete']) {
    const again = await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode, reason: 'still' })
    const lock = again.json().locks.find((candidate: { mode: string }) => candidate.mode === mode)
    t.match(lock, { reason: 'still', expiresAt: '2026-11-23T10:01:00.000Z' }, `${mode}: a new reason, the same expiry`)
  }
})

t.test('expired locks are removed from the store in the background', async (t) => {
  const clock = fakeClock()
  const demo = await startDemo(t, { lockOptions: { now: clock.now, purgeInterval: 20 } })
  await createDatabases(demo, ['prod', 'stage'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode: 'write', ttl: 10 })
  await demo.as('alice', 'POST', '/v1/database/stage/lock')
  t.equal(storeContent(demo.dataDir).locks.length, 2)
  clock.advance(10_000)
  await until(() => storeContent(demo.dataDir).locks.length === 1, 'the expired row to be purged')
  t.match(storeContent(demo.dataDir).locks, [{ database: 'stage', mode: 'delete' }], 'only the live lock is left')
})
