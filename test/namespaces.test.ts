// v2 inherited locks: a `children` lock on a name covers every name below it, exactly per segment.
import t from 'tap'
import { createDatabases, fakeClock, startDemo } from './helpers/app.js'

const FAMILY = ['acme', 'acme.prod', 'acme/prod', 'acme/prod/eu', 'acme2', 'acmeprod', 'acm']

t.test('a delete lock with children refuses deletes of acme and every name below it, never acme2 or acmeprod', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, FAMILY)
  const locked = await demo.as('alice', 'POST', '/v1/database/acme/lock', { children: true, reason: 'org migration' })
  t.equal(locked.statusCode, 200)
  t.match(locked.json().locks, [{ holder: 'alice', children: true, inheritedFrom: null }])

  const refused: string[] = []
  for (const name of FAMILY) {
    const reset = await demo.as('alice', 'POST', `/v1/database/${encodeURIComponent(name)}/reset`)
    if (reset.statusCode === 403) refused.push(name)
    else t.equal(reset.statusCode, 200, `${name} reset`)
  }
  t.same(refused, ['acme', 'acme.prod', 'acme/prod', 'acme/prod/eu'], 'the name and every name below it, split exactly at . and /')

  const child = await demo.as('alice', 'GET', '/v1/database/acme%2Fprod%2Feu/lock')
  t.same(child.json(), {
    database: 'acme/prod/eu',
    locked: true,
    locks: [{
      mode: 'delete', holder: 'alice', reason: 'org migration', lockedBy: 'alice', lockedAt: locked.json().locks[0].lockedAt, expiresAt: null, unlock: null, unlockAt: null, approvals: [], children: true, inheritedFrom: 'acme'
    }]
  }, 'the status of a child shows the inherited lock and where it comes from')
  const refusal = await demo.as('alice', 'DELETE', '/v1/database/acme%2Fprod')
  t.equal(refusal.statusCode, 403)
  t.match(refusal.json(), { code: 'DATABASE_LOCKED', locks: [{ inheritedFrom: 'acme', reason: 'org migration' }] }, 'the owner learns where it comes from')
  t.equal((await demo.as('alice', 'POST', '/v1/database/acme%2Fprod', { description: 'v2' })).statusCode, 200, 'publishing below still works')

  t.equal((await demo.as('alice', 'DELETE', '/v1/database/acme2')).statusCode, 200, 'acme2 is not below acme')
  await demo.as('alice', 'POST', '/v1/database/acme/unlock')
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/acme%2Fprod%2Feu')).statusCode, 200, 'free once the namespace is unlocked')
})

t.test('a write lock with children freezes a namespace: writes below answer 503 with Retry-After, reads go on, and no name is created in it', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['acme', 'acme/prod', 'acme2'])
  await demo.admin('POST', '/v1/database/acme/lock', { mode: 'write', children: true, ttl: 600, reason: 'restore' })
  const write = await demo.as('alice', 'POST', '/v1/database/acme%2Fprod/rows', { n: 1 })
  t.equal(write.statusCode, 503)
  t.ok(Number(write.headers['retry-after']) >= 1)
  t.equal((await demo.as('alice', 'GET', '/v1/database/acme%2Fprod/rows')).statusCode, 200, 'reads go on')
  t.equal((await demo.as('alice', 'POST', '/v1/database/acme2/rows', { n: 1 })).statusCode, 201, 'acme2 is outside the namespace')
  const create = await demo.as('alice', 'POST', '/v1/database/acme%2Fnew')
  t.equal(create.statusCode, 503, 'creating a name inside a frozen namespace waits too')
  t.same(Object.keys(create.json()).sort(), ['code', 'database', 'error', 'message', 'operation', 'retryAfter', 'statusCode'], 'nobody owns that name yet: no details')
  await demo.admin('POST', '/v1/database/acme/unlock', { mode: 'write' })
  t.equal((await demo.as('alice', 'POST', '/v1/database/acme%2Fnew')).statusCode, 201)
})

t.test('while another namespace is locked, a lock above a name refuses it at once, and each unlock frees it at once', async (t) => {
  // The guard remembers what the namespace locks say of each name it checked: a change of them must reach every name.
  const demo = await startDemo(t)
  await createDatabases(demo, ['other', 'acme', 'acme/prod', 'acme/prod/eu'])
  await demo.as('alice', 'POST', '/v1/database/other/lock', { children: true })
  t.equal((await demo.as('alice', 'POST', '/v1/database/acme%2Fprod%2Feu/reset')).statusCode, 200, 'nothing above it yet')
  await demo.as('alice', 'POST', '/v1/database/acme/lock', { children: true })
  t.equal((await demo.as('alice', 'POST', '/v1/database/acme%2Fprod%2Feu/reset')).statusCode, 403, 'refused once acme is locked')
  await demo.as('alice', 'POST', '/v1/database/acme%2Fprod/lock', { children: true })
  await demo.as('alice', 'POST', '/v1/database/acme/unlock')
  t.equal((await demo.as('alice', 'POST', '/v1/database/acme%2Fprod%2Feu/reset')).statusCode, 403, 'acme/prod still covers it')
  await demo.as('alice', 'POST', '/v1/database/acme%2Fprod/unlock')
  t.equal((await demo.as('alice', 'POST', '/v1/database/acme%2Fprod%2Feu/reset')).statusCode, 200, 'free once both are unlocked')
})

t.test('two write-locked namespaces above a name: Retry-After waits for the one that lifts last, whichever it is', async (t) => {
  for (const [outer, inner] of [[60, 120], [120, 60]]) {
    const demo = await startDemo(t)
    await createDatabases(demo, ['acme', 'acme/prod', 'acme/prod/eu'])
    await demo.admin('POST', '/v1/database/acme/lock', { mode: 'write', children: true, ttl: outer, reason: 'outer' })
    await demo.admin('POST', '/v1/database/acme%2Fprod/lock', { mode: 'write', children: true, ttl: inner, reason: 'inner' })
    const write = await demo.as('alice', 'POST', '/v1/database/acme%2Fprod%2Feu/rows', { n: 1 })
    t.equal(write.statusCode, 503)
    const retryAfter = Number(write.headers['retry-after'])
    t.ok(retryAfter > 110 && retryAfter <= 120, `acme for ${outer} s, acme/prod for ${inner} s: Retry-After ${retryAfter}`)
  }
})

t.test('two delete-locked namespaces above a name: deletes wait for the one that lifts last, whichever it is', async (t) => {
  for (const [outer, inner] of [[60, 120], [120, 60]]) {
    const clock = fakeClock()
    const demo = await startDemo(t, { lockOptions: { now: clock.now } })
    await createDatabases(demo, ['acme', 'acme/prod', 'acme/prod/eu'])
    await demo.as('alice', 'POST', '/v1/database/acme/lock', { children: true, ttl: outer })
    await demo.as('alice', 'POST', '/v1/database/acme%2Fprod/lock', { children: true, ttl: inner })
    t.equal((await demo.as('alice', 'POST', '/v1/database/acme%2Fprod%2Feu/reset')).statusCode, 403)
    clock.advance(60_000)
    t.equal((await demo.as('alice', 'POST', '/v1/database/acme%2Fprod%2Feu/reset')).statusCode, 403, `acme for ${outer} s, acme/prod for ${inner} s: after 60 s, still refused`)
    clock.advance(60_000)
    t.equal((await demo.as('alice', 'POST', '/v1/database/acme%2Fprod%2Feu/reset')).statusCode, 200, 'free after 120 s')
  }
})

t.test('locking again keeps what the lock covers unless children is given; children: false narrows it', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['acme', 'acme.prod'])
  await demo.as('alice', 'POST', '/v1/database/acme/lock', { children: true })
  await demo.as('alice', 'POST', '/v1/database/acme/lock', { reason: 'again' })
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/acme.prod')).statusCode, 403, 'still covers its children')
  const narrowed = await demo.as('alice', 'POST', '/v1/database/acme/lock', { children: false })
  t.match(narrowed.json().locks, [{ children: false }])
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/acme.prod')).statusCode, 200, 'the child is free')
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/acme')).statusCode, 403, 'the name itself stays locked')
})

t.test('the demo: a database is the namespace of the names below it', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['acme'])
  const taken = await demo.as('bob', 'POST', '/v1/database/acme%2Fbobs')
  t.equal(taken.statusCode, 403)
  t.match(taken.json(), { code: 'NOT_NAMESPACE_OWNER', message: /"acme" belongs to another owner/ })
  t.equal((await demo.as('bob', 'POST', '/v1/database/acme2')).statusCode, 201, 'a name that only starts alike is not inside it')
  t.equal((await demo.as('bob', 'POST', '/v1/database/acme%2Fbobs')).statusCode, 403, 'still refused')
  await createDatabases(demo, ['acme/team'])
  const lock = await demo.as('bob', 'POST', '/v1/database/acme/lock', { children: true })
  t.equal(lock.statusCode, 403, 'only the owner of acme locks its namespace')
})

t.test('the decorator locks namespaces too', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['acme', 'acme.prod'])
  await demo.app.databaseLock.lock('acme', { children: true, by: 'ops' })
  const child = await demo.app.databaseLock.status('acme.prod')
  t.match(child, { database: 'acme.prod', locked: true, locks: [{ holder: 'ops', inheritedFrom: 'acme' }] })
  await demo.app.databaseLock.unlock('acme', { by: 'ops' })
  t.equal((await demo.app.databaseLock.status('acme.prod')).locked, false)
})
