// Whoever re-created a deleted name once read the old owner's audit trail: principal,
// reason, client address and request ids. Each event now carries the owner of its time,
// and a caller reads only the events from while their principal owned the name; the admin
// key reads them all.
import t from 'tap'
import { startDemo } from '../helpers/app.js'
import { until } from '../helpers/wait.js'

t.test('bob re-creates alice\'s deleted database and sees none of her trail', async (t) => {
  const demo = await startDemo(t)
  t.equal((await demo.as('alice', 'POST', '/v1/database/shared')).statusCode, 201)
  await demo.as('alice', 'POST', '/v1/database/shared/lock', { reason: 'alice: customer acme, INC-4711' })
  t.equal((await demo.as('bob', 'DELETE', '/v1/database/shared')).statusCode, 403, 'bob is refused')
  // Refusals are written in batches, off the request path: wait until bob's is in the trail.
  await until(async () => {
    const events = (await demo.admin('GET', '/v1/database/shared/lock/events')).json().events as Array<{ type: string }>
    return events.some((event) => event.type === 'blocked')
  }, "bob's refusal in the trail")
  await demo.as('alice', 'POST', '/v1/database/shared/unlock')
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/shared')).statusCode, 200)

  t.equal((await demo.as('bob', 'POST', '/v1/database/shared')).statusCode, 201, 'bob takes the name')
  const empty = await demo.as('bob', 'GET', '/v1/database/shared/lock/events')
  t.equal(empty.statusCode, 200)
  t.same(empty.json().events, [], 'nothing from alice\'s time')
  t.notMatch(empty.body, /acme|alice/)

  await demo.as('bob', 'POST', '/v1/database/shared/lock', { reason: 'bob keeps it' })
  const own = await demo.as('bob', 'GET', '/v1/database/shared/lock/events')
  t.same(own.json().events.map((event: { type: string, principal: string }) => [event.type, event.principal]), [['locked', 'bob']], 'his own events')

  t.equal((await demo.as('alice', 'GET', '/v1/database/shared/lock/events')).statusCode, 403, 'alice no longer owns it')

  const admin = await demo.admin('GET', '/v1/database/shared/lock/events')
  const types = admin.json().events.map((event: { type: string, principal: string | null }) => `${event.type}:${event.principal}`)
  t.same(types, ['locked:bob', 'unlocked:alice', 'blocked:bob', 'locked:alice'], 'the admin key reads both owners\' time')
})
