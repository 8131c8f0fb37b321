// Who may lock: the owner or a service with the admin key; everyone else is told why not.
import { Writable } from 'node:stream'
import t from 'tap'
import { safeEqual } from '../lib/compare.js'
import { ADMIN_KEY, createDatabases, startDemo } from './helpers/app.js'
import { databaseLock, hostOptions, newHost } from './helpers/host.js'

function logSink () {
  const lines: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) { lines.push(chunk.toString()); done() }
  })
  return { lines, logger: { level: 'info', stream } }
}

t.test('no credentials: 401 on every lock route, and nothing is locked', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  for (const [method, url] of [['POST', '/v1/database/prod/lock'], ['POST', '/v1/database/prod/unlock'], ['GET', '/v1/database/prod/lock'], ['GET', '/v1/locks']]) {
    const res = await demo.as(null, method, url)
    t.equal(res.statusCode, 401, `${method} ${url}`)
    t.equal(res.json().code, 'AUTHENTICATION_REQUIRED')
    t.match(res.json().message, /X-Admin-Key/)
  }
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod/lock')).json().locked, false)
})

t.test('unknown database: 404 for the owner and for the admin key', async (t) => {
  const demo = await startDemo(t)
  const asUser = await demo.as('alice', 'POST', '/v1/database/nope/lock')
  t.equal(asUser.statusCode, 404)
  t.same(asUser.json(), { statusCode: 404, code: 'DATABASE_NOT_FOUND', error: 'Not Found', message: 'Database "nope" does not exist; check the name' })
  t.equal((await demo.admin('POST', '/v1/database/nope/lock')).statusCode, 404)
  t.equal((await demo.admin('GET', '/v1/database/nope/lock')).statusCode, 404)
})

t.test('a lock taken through the identity guards a delete through the name, and the reverse', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod', 'stage'])
  const prodId = (await demo.as('alice', 'GET', '/v1/database/prod')).json().id as string
  const stageId = (await demo.as('alice', 'GET', '/v1/database/stage')).json().id as string
  t.match(prodId, /^db_[0-9a-f]{16}$/)

  const byId = await demo.as('alice', 'POST', `/v1/database/${prodId}/lock`)
  t.equal(byId.statusCode, 200)
  t.equal(byId.json().database, 'prod', 'the status names the canonical database')
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 403, 'delete by name refused')
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod/lock')).json().locked, true, 'status by name sees it')

  await demo.as('alice', 'POST', '/v1/database/stage/lock')
  const delById = await demo.as('alice', 'DELETE', `/v1/database/${stageId}`)
  t.equal(delById.statusCode, 403, 'delete by identity refused')
  t.equal(delById.json().code, 'DATABASE_LOCKED')
  t.equal((await demo.as('alice', 'POST', `/v1/database/${stageId}/reset`)).statusCode, 403, 'reset by identity refused')

  await demo.as('alice', 'POST', `/v1/database/${stageId}/unlock`)
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/stage')).statusCode, 200, 'unlock by identity lifts the lock of the name')
})

t.test('admin key: the right key may lock, read and unlock any database', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  const lock = await demo.admin('POST', '/v1/database/prod/lock', { mode: 'write', reason: 'restore', ttl: 600 })
  t.equal(lock.statusCode, 200)
  t.equal(lock.json().locks[0].lockedBy, 'admin-key')
  t.equal((await demo.admin('GET', '/v1/database/prod/lock')).json().locked, true)
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/rows', { a: 1 })).statusCode, 503, 'the owner sees the admin lock')
  const unlock = await demo.admin('POST', '/v1/database/prod/unlock', { mode: 'write' })
  t.equal(unlock.statusCode, 200)
  t.equal(unlock.json().locked, false)
})

t.test('admin key: wrong, other length, or missing', async (t) => {
  const sink = logSink()
  const demo = await startDemo(t, { logger: sink.logger })
  await createDatabases(demo, ['prod'])
  const wrongKey = `${ADMIN_KEY.slice(0, -1)}X`
  const wrong = await demo.admin('POST', '/v1/database/prod/lock', undefined, wrongKey)
  t.equal(wrong.statusCode, 403)
  t.equal(wrong.json().code, 'INVALID_ADMIN_KEY')
  t.match(wrong.json().message, /does not match/)
  const short = await demo.admin('POST', '/v1/database/prod/lock', undefined, 'x')
  t.equal(short.statusCode, 403, 'a key of another length is refused, not a crash')
  const long = await demo.admin('POST', '/v1/database/prod/lock', undefined, ADMIN_KEY.repeat(50))
  t.equal(long.statusCode, 403)
  t.equal((await demo.admin('GET', '/v1/locks', undefined, wrongKey)).statusCode, 403, 'the list refuses it too')
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod/lock')).json().locked, false, 'no lock was taken')

  const logs = sink.lines.join('')
  const refusal = sink.lines.map((line) => JSON.parse(line)).find((line) => /X-Admin-Key/.test(line.msg))
  t.match(refusal, { level: 40, code: 'INVALID_ADMIN_KEY', msg: 'database-lock: wrong X-Admin-Key refused' }, 'the refusal is logged as a warning with its code')
  t.notMatch(logs, new RegExp(wrongKey), 'the wrong key is not logged')
  t.notMatch(logs, new RegExp(ADMIN_KEY), 'the real key is not logged')
  t.notMatch(logs, /alice-token/, 'tokens are not logged')
})

t.test('admin key: with no key configured the header grants nothing', async (t) => {
  const sink = logSink()
  const demo = await startDemo(t, { adminKey: undefined, logger: sink.logger })
  await createDatabases(demo, ['prod'])
  const res = await demo.admin('POST', '/v1/database/prod/lock')
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'INVALID_ADMIN_KEY')
  t.match(res.json().message, /no admin key configured/)
  t.equal((await demo.admin('GET', '/v1/locks')).statusCode, 403)
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/lock')).statusCode, 200, 'the owner still may')
  const warning = sink.lines.map((line) => JSON.parse(line)).find((line) => /X-Admin-Key/.test(line.msg))
  t.match(warning, { level: 40, code: 'INVALID_ADMIN_KEY', msg: 'database-lock: X-Admin-Key sent, but no admin key is configured' }, 'logged as a warning with its code')
})

t.test('the owner needs no key; a non-owner with a wrong key is still refused', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/lock')).statusCode, 200)
  const bob = await demo.as('bob', 'POST', '/v1/database/prod/unlock', undefined, { 'x-admin-key': 'guess' })
  t.equal(bob.statusCode, 403)
  t.equal((await demo.as('bob', 'POST', '/v1/database/prod/unlock')).json().code, 'NOT_DATABASE_OWNER')
  const aliceWithWrongKey = await demo.as('alice', 'POST', '/v1/database/prod/unlock', undefined, { 'x-admin-key': 'guess' })
  t.equal(aliceWithWrongKey.statusCode, 200, 'the owner passes even with a stray wrong key')
})

t.test('which refusal a caller gets when several strategies fail: the most telling, the first of equals', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'], 'bob')
  const wrongKey = { 'x-admin-key': `${ADMIN_KEY}x` }
  const unknown = await demo.as('alice', 'POST', '/v1/database/nope/lock', undefined, wrongKey)
  t.equal(unknown.json().code, 'DATABASE_NOT_FOUND', 'an unknown database beats a wrong key')
  const notOwner = await demo.as('alice', 'POST', '/v1/database/prod/lock', undefined, wrongKey)
  t.equal(notOwner.json().code, 'INVALID_ADMIN_KEY', 'a wrong key (tried first) beats not being the owner')
})

t.test('a caller with both a token and the admin key acts as the admin key', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { reason: 'mine' })
  const both = { 'x-admin-key': ADMIN_KEY }
  const lock = await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode: 'write' }, both)
  t.match(lock.json().locks, [{ mode: 'delete', lockedBy: 'alice' }, { mode: 'write', lockedBy: 'admin-key' }], 'recorded as the admin key')
  const events = await demo.as('alice', 'GET', '/v1/database/prod/lock/events', undefined, both)
  t.same(events.json().events.map((event: { principal: string }) => event.principal), ['admin-key', 'alice'], 'and reads the trail')
})

t.test('only the admin key lists locks', async (t) => {
  const demo = await startDemo(t)
  const res = await demo.as('alice', 'GET', '/v1/locks')
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'ADMIN_REQUIRED')
  const anonymous = await demo.as(null, 'GET', '/v1/locks')
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.json().code, 'AUTHENTICATION_REQUIRED')
})

t.test('safeEqual compares in constant time whatever the lengths', async (t) => {
  t.equal(safeEqual('abc', 'abc'), true)
  t.equal(safeEqual('abc', 'abd'), false)
  t.equal(safeEqual('', 'abc'), false)
  t.equal(safeEqual('a'.repeat(10_000), 'abc'), false)
})

t.test('an admin key shorter than 16 characters is refused at register time', async (t) => {
  await t.rejects(startDemo(t, { adminKey: 'short' }), { code: 'INVALID_LOCK_OPTION', message: /at least 16 characters/ })
})

t.test('a principal function that answers undefined for a caller it does not know: 401, as for null', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, {
    adminKey: ADMIN_KEY,
    principal: (request) => typeof request.headers['x-user'] === 'string' ? request.headers['x-user'] : undefined
  }))
  await app.ready()
  for (const [method, url] of [['POST', '/v1/database/prod/lock'], ['GET', '/v1/database/prod/lock'], ['GET', '/v1/locks']] as const) {
    const res = await app.inject({ method, url })
    t.equal(res.statusCode, 401, `${method} ${url}`)
    t.equal(res.json().code, 'AUTHENTICATION_REQUIRED', `${method} ${url}: not a refusal of who the caller is`)
  }
  t.equal((await app.inject({ method: 'GET', url: '/v1/database/prod/lock', headers: { 'x-user': 'alice' } })).json().locked, false)
})
