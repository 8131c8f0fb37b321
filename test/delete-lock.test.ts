// The seven cases of the original lock/unlock feature, through the demo service.
import t from 'tap'
import { createDatabases, startDemo } from './helpers/app.js'

t.test('a locked database cannot be deleted', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/lock', { reason: 'production' })).statusCode, 200)
  const res = await demo.as('alice', 'DELETE', '/v1/database/prod')
  t.equal(res.statusCode, 403)
  const body = res.json()
  t.equal(body.code, 'DATABASE_LOCKED')
  t.match(body.message, /POST \/v1\/database\/prod\/unlock/, 'the message names the unlock route')
  t.same(Object.keys(body).sort(), ['code', 'database', 'error', 'lockedBy', 'locks', 'message', 'operation', 'reason', 'statusCode'])
  t.match(body, { reason: 'production', lockedBy: 'alice' }, 'the owner learns why and who')
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod')).statusCode, 200, 'the database still exists')
})

t.test('a locked database cannot be reset', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/rows', { n: 1 })
  await demo.as('alice', 'POST', '/v1/database/prod/lock')
  const res = await demo.as('alice', 'POST', '/v1/database/prod/reset')
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'DATABASE_LOCKED')
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod')).json().rowCount, 1, 'rows kept')
})

t.test('unlock allows a later delete', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock')
  const unlocked = await demo.as('alice', 'POST', '/v1/database/prod/unlock')
  t.equal(unlocked.statusCode, 200)
  t.same(unlocked.json(), { database: 'prod', locked: false, locks: [] })
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 200)
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod')).statusCode, 404)
})

t.test('locking twice is fine and keeps the first lockedAt and lockedBy', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  const first = await demo.as('alice', 'POST', '/v1/database/prod/lock', { reason: 'first' })
  const second = await demo.as('alice', 'POST', '/v1/database/prod/lock')
  t.equal(second.statusCode, 200)
  t.equal(second.json().locks.length, 1)
  t.equal(second.json().locks[0].lockedAt, first.json().locks[0].lockedAt)
  t.equal(second.json().locks[0].lockedBy, 'alice')
  t.equal(second.json().locks[0].reason, 'first', 'a lock without a reason keeps the old one')
  const third = await demo.as('alice', 'POST', '/v1/database/prod/lock', { reason: 'renamed' })
  t.equal(third.json().locks[0].reason, 'renamed', 'a new reason refreshes it')
  t.equal(third.json().locks[0].lockedAt, first.json().locks[0].lockedAt)
})

t.test('unlocking an unlocked database is fine', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  const res = await demo.as('alice', 'POST', '/v1/database/prod/unlock')
  t.equal(res.statusCode, 200)
  t.same(res.json(), { database: 'prod', locked: false, locks: [] })
})

t.test('a non-owner can neither lock nor unlock', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  const lock = await demo.as('bob', 'POST', '/v1/database/prod/lock')
  t.equal(lock.statusCode, 403)
  t.equal(lock.json().code, 'NOT_DATABASE_OWNER')
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod/lock')).json().locked, false, 'no lock was taken')
  await demo.as('alice', 'POST', '/v1/database/prod/lock')
  const unlock = await demo.as('bob', 'POST', '/v1/database/prod/unlock')
  t.equal(unlock.statusCode, 403)
  t.equal(unlock.json().code, 'NOT_DATABASE_OWNER')
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod/lock')).json().locked, true, 'the lock stays')
  t.equal((await demo.as('bob', 'GET', '/v1/database/prod/lock')).statusCode, 403, 'nor read its status')
})

t.test('a locked database still accepts publish', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock')
  const res = await demo.as('alice', 'POST', '/v1/database/prod', { description: 'v2' })
  t.equal(res.statusCode, 200)
  t.equal(res.json().description, 'v2')
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/rows', { n: 1 })).statusCode, 201, 'row writes too')
})
