// Bad request bodies: 400 with a message that says what to fix, and the store unchanged.
import t from 'tap'
import { createDatabases, startDemo } from './helpers/app.js'
import { storeContent } from './helpers/store.js'

t.test('bad lock and unlock bodies', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { reason: 'baseline' })
  const before = storeContent(demo.dataDir)
  const cases: Array<[string, string, unknown, RegExp]> = [
    ['malformed JSON', '/lock', '{"mode": "write",', /not valid JSON/i],
    ['unknown field', '/lock', { mode: 'write', ttl: 60, force: true }, /Unknown field "force" in the request body; allowed fields are mode, holder, unlock, children, reason, ttl/],
    ['typo of a field', '/lock', { mod: 'write' }, /Unknown field "mod"/],
    ['ttl as a string', '/lock', { ttl: '60' }, /Field "ttl" in the request body must be of type integer/],
    ['ttl fractional', '/lock', { ttl: 1.5 }, /"ttl".*integer/],
    ['ttl zero', '/lock', { ttl: 0 }, /"ttl" in the request body must be at least 1/],
    ['ttl over a year', '/lock', { ttl: 31_536_001 }, /"ttl" in the request body must be at most 31536000/],
    ['reason too long', '/lock', { reason: 'x'.repeat(1025) }, /"reason" in the request body must be at most 1024 characters/],
    ['reason a number', '/lock', { reason: 5 }, /"reason".*string/],
    ['unknown mode', '/lock', { mode: 'forever' }, /"mode" in the request body must be one of: delete, write/],
    ['body an array', '/lock', [], /request body must be a JSON object/],
    ['body a string', '/lock', '"write"', /request body must be a JSON object/],
    ['unlock unknown mode', '/unlock', { mode: 'all' }, /"mode".*one of: delete, write/],
    ['unlock unknown field', '/unlock', { reason: 'x' }, /Unknown field "reason".*allowed fields are mode/]
  ]
  for (const [label, suffix, body, message] of cases) {
    const res = await demo.as('alice', 'POST', `/v1/database/prod${suffix}`, body)
    t.equal(res.statusCode, 400, `${label}: 400`)
    t.match(res.json(), { statusCode: 400, error: 'Bad Request', message }, `${label}: message`)
    t.notMatch(res.body, /stack|SQLITE|\.ts:\d/, `${label}: no internals`)
  }
  t.same(storeContent(demo.dataDir), before, 'nothing changed in the store')
  const status = await demo.as('alice', 'GET', '/v1/database/prod/lock')
  t.same(status.json().locks.map((lock: { mode: string, reason: string }) => [lock.mode, lock.reason]), [['delete', 'baseline']])
})

t.test('a reason of exactly 1024 characters is fine', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  const res = await demo.as('alice', 'POST', '/v1/database/prod/lock', { reason: 'r'.repeat(1024) })
  t.equal(res.statusCode, 200)
  t.equal(res.json().locks[0].reason.length, 1024)
})

t.test('no body at all means the defaults', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  const res = await demo.as('alice', 'POST', '/v1/database/prod/lock')
  t.equal(res.statusCode, 200)
  t.match(res.json().locks, [{ mode: 'delete', reason: null, expiresAt: null }])
})
