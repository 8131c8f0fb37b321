// Refusals once told the lock's reason to anyone: a 503 for a write lock carried
// "restore after breach INC-4711, customer acme" to an anonymous caller or a stranger, and
// a 403 told an anonymous caller that a database exists and is locked. Now a refusal
// names the reason and who holds the lock only to callers who may read the lock's status
// (its owner, the admin key); others learn that the operation is refused; a caller with
// no credentials gets 401 AUTHENTICATION_REQUIRED.
import t from 'tap'
import { ADMIN_KEY, createDatabases, startDemo } from '../helpers/app.js'
import { databaseLock, hostOptions, newHost } from '../helpers/host.js'

const SECRET = 'restore after breach INC-4711, customer acme'

t.test('write lock: the reason goes to the owner and the admin key only', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode: 'write', reason: SECRET, ttl: 600 })

  const anonymous = await demo.as(null, 'POST', '/v1/database/prod/rows', { a: 1 })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.json().code, 'AUTHENTICATION_REQUIRED')
  t.notMatch(anonymous.body, /INC-4711|locked|alice/, 'nothing about the lock')

  const stranger = await demo.as('bob', 'POST', '/v1/database/prod/rows', { a: 1 })
  t.equal(stranger.statusCode, 503, 'refused all the same')
  t.equal(stranger.json().code, 'DATABASE_WRITE_LOCKED')
  t.ok(Number(stranger.headers['retry-after']) > 0, 'Retry-After is still there')
  t.notMatch(stranger.body, /INC-4711|acme|alice/, 'no reason, no holder')
  t.notOk('reason' in stranger.json())

  const owner = await demo.as('alice', 'POST', '/v1/database/prod/rows', { a: 1 })
  t.equal(owner.statusCode, 503)
  t.match(owner.json(), { reason: SECRET, lockedBy: 'alice' })
  t.match(owner.json().message, /INC-4711/)

  const admin = await demo.app.inject({ method: 'POST', url: '/v1/database/prod/rows', headers: { 'x-admin-key': ADMIN_KEY, 'content-type': 'application/json' }, payload: '{"a":1}' })
  t.equal(admin.statusCode, 503)
  t.match(admin.json(), { reason: SECRET, lockedBy: 'alice' }, 'the admin key reads it too')
  const wrongKey = await demo.app.inject({ method: 'POST', url: '/v1/database/prod/rows', headers: { 'x-admin-key': 'not-the-key-0123456789', 'content-type': 'application/json' }, payload: '{"a":1}' })
  t.notMatch(wrongKey.body, /INC-4711/, 'a wrong admin key reads nothing')
})

t.test('delete lock: anonymous 401, a stranger a bare 403, the owner the reason and holder', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { reason: SECRET })

  const anonymous = await demo.as(null, 'DELETE', '/v1/database/prod')
  t.equal(anonymous.statusCode, 401)
  t.notMatch(anonymous.body, /locked|INC-4711/)

  const stranger = await demo.as('bob', 'DELETE', '/v1/database/prod')
  t.equal(stranger.statusCode, 403)
  t.equal(stranger.json().code, 'DATABASE_LOCKED')
  t.notMatch(stranger.body, /INC-4711|alice/)

  const owner = await demo.as('alice', 'DELETE', '/v1/database/prod')
  t.equal(owner.statusCode, 403)
  t.match(owner.json(), { code: 'DATABASE_LOCKED', reason: SECRET, lockedBy: 'alice' })
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod')).statusCode, 200, 'still there')
})

t.test('a name that does not exist yet has no owner: a principal of "" learns nothing of the namespace lock that refuses it', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, {
    principal: (request) => typeof request.headers['x-user'] === 'string' ? request.headers['x-user'] : null,
    // Only acme exists; a name below it is being created.
    resolveDatabase: (name) => name === 'acme' ? { id: 'acme', owner: 'alice' } : null
  }))
  app.post('/db/:name', async () => ({ written: true }))
  await app.ready()
  await app.databaseLock.lock('acme', { mode: 'write', children: true, ttl: 600, reason: SECRET, by: 'alice' })

  const post = async (user: string) => app.inject({ method: 'POST', url: `/db/${encodeURIComponent('acme/new')}`, headers: { 'x-user': user } })
  for (const user of ['', 'bob']) {
    const refused = await post(user)
    t.equal(refused.statusCode, 503, `${JSON.stringify(user)}: refused`)
    t.notMatch(refused.body, /INC-4711|alice/, `${JSON.stringify(user)}: no reason, no holder`)
    t.notOk('locks' in refused.json(), `${JSON.stringify(user)}: no locks`)
  }
})
