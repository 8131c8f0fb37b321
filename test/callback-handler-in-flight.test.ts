// A callback-style handler (it returns nothing and sends later) is in flight until its reply
// goes out, not until it returns: a lock taken meanwhile waits for it.
import t from 'tap'
import { databaseLock, hostOptions, newHost } from './helpers/host.js'
import { until } from './helpers/wait.js'

t.test('a lock waits for a callback-style DELETE until its reply is sent', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t))
  const state = { started: false }
  let sentAt = 0
  app.delete('/db/:name', function (_request, reply) {
    state.started = true
    setTimeout(() => { sentAt = Date.now(); reply.send({ deleted: true }) }, 300)
  })
  await app.ready()
  const deleting = app.inject({ method: 'DELETE', url: '/db/prod', headers: { 'x-user': 'alice' } })
  await until(() => state.started, 'the DELETE handler to start')
  await app.databaseLock.lock('prod')
  const lockedAt = Date.now()
  t.equal((await deleting).statusCode, 200, 'the delete that started first completes')
  t.ok(sentAt > 0 && lockedAt >= sentAt, `the lock was acknowledged only after the delete's reply (${lockedAt - sentAt} ms after)`)
})

t.test('the same when the handler returns the reply it will send later', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t))
  const state = { started: false }
  let sentAt = 0
  app.delete('/db/:name', function (_request, reply) {
    state.started = true
    setTimeout(() => { sentAt = Date.now(); reply.send({ deleted: true }) }, 300)
    return reply
  })
  await app.ready()
  const deleting = app.inject({ method: 'DELETE', url: '/db/prod', headers: { 'x-user': 'alice' } })
  await until(() => state.started, 'the DELETE handler to start')
  await app.databaseLock.lock('prod')
  const lockedAt = Date.now()
  t.equal((await deleting).statusCode, 200, 'the delete that started first completes')
  t.ok(sentAt > 0 && lockedAt >= sentAt, `the lock was acknowledged only after the delete's reply (${lockedAt - sentAt} ms after)`)
})
