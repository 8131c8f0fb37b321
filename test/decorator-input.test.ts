// fastify.databaseLock checks a program's input with the routes' own schemas: the same bad
// input gets the same 400 message either way, and nothing is written.
import t from 'tap'
import { errors } from '../lib/index.js'
import { createDatabases, startDemo } from './helpers/app.js'
import { storeContent } from './helpers/store.js'

t.test('bad decorator input: the route\'s 400 message, nothing written', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  const before = storeContent(demo.dataDir)
  const lock = demo.app.databaseLock
  const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
    // Each value comes from an untyped caller (JavaScript, JSON config): the types would refuse them.
    ['unknown mode', () => lock.lock('prod', JSON.parse('{"mode":"forever"}')), /"mode" in the options must be one of: delete, write/],
    ['ttl zero', () => lock.lock('prod', { ttl: 0 }), /"ttl" in the options must be at least 1/],
    ['ttl fractional', () => lock.lock('prod', { ttl: 1.5 }), /"ttl" in the options must be of type integer/],
    ['ttl over a year', () => lock.lock('prod', { ttl: 31_536_001 }), /"ttl" in the options must be at most 31536000/],
    ['reason too long', () => lock.lock('prod', { reason: 'x'.repeat(1025) }), /"reason" in the options must be at most 1024 characters/],
    ['reason a number', () => lock.lock('prod', JSON.parse('{"reason":5}')), /"reason" in the options must be of type string/],
    ['unlock unknown mode', () => lock.unlock('prod', JSON.parse('{"mode":"all"}')), /"mode" in the options must be one of: delete, write/],
    ['events limit zero', () => lock.events('prod', { limit: 0 }), /"limit" in the options must be at least 1/],
    ['events limit too high', () => lock.events('prod', { limit: 501 }), /"limit" in the options must be at most 500/],
    ['events unknown type', () => lock.events('prod', JSON.parse('{"type":"deleted"}')), /"type" in the options must be one of: locked/],
    ['list limit too high', () => lock.list({ limit: 1001 }), /"limit" in the options must be at most 1000/],
    ['list limit a string', () => lock.list(JSON.parse('{"limit":"10"}')), /"limit" in the options must be of type integer/]
  ]
  for (const [label, call, message] of cases) {
    const err = await call().then(() => null, (error: unknown) => error)
    t.ok(err instanceof errors.InvalidRequestError, `${label}: InvalidRequestError`)
    t.match(err, { statusCode: 400, code: 'INVALID_LOCK_REQUEST', message }, `${label}: says what to fix`)
  }
  t.same(storeContent(demo.dataDir), before, 'nothing changed in the store')

  // The route says the same, word for word, for the same input.
  const route = await demo.as('alice', 'POST', '/v1/database/prod/lock', { ttl: 0 })
  t.equal(route.statusCode, 400)
  t.match(route.json().message, /"ttl" in the request body must be at least 1/)
})

t.test('good decorator input still works, with the defaults the routes use', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  const lock = demo.app.databaseLock
  t.match(await lock.lock('prod', { reason: 'keep', by: 'ops' }), { locked: true, locks: [{ mode: 'delete', reason: 'keep', lockedBy: 'ops' }] })
  t.match(await lock.lock('prod', { mode: 'write', ttl: 60 }), { locks: [{ mode: 'delete' }, { mode: 'write' }] })
  t.equal((await lock.list()).locks.length, 2)
  t.match((await lock.events('prod', { type: 'locked' })).events, [{ type: 'locked', mode: 'write' }, { type: 'locked', mode: 'delete' }])
  t.match(await lock.unlock('prod', { mode: 'write' }), { locks: [{ mode: 'delete' }] })
  t.match(await lock.unlock('prod'), { locked: true }, 'the default holder (program) holds nothing here')
  t.match(await lock.unlock('prod', { by: 'ops' }), { locked: false }, 'ops lifts its own lock')
})
