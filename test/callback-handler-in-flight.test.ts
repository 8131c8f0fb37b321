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

/** A thenable that is not a native promise (a query builder, say), settled after `ms`. */
function lazyThenable<T> (ms: number, outcome: () => T): PromiseLike<T> {
  return {
    then (onFulfilled, onRejected) {
      return new Promise<T>((resolve, reject) => { setTimeout(() => { try { resolve(outcome()) } catch (err) { reject(err) } }, ms) }).then(onFulfilled, onRejected)
    }
  }
}

t.test('a handler that returns another kind of thenable is in flight until it settles', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t))
  const state = { started: false }
  let settledAt = 0
  app.delete('/db/:name', (_request, _reply) => {
    state.started = true
    return lazyThenable(300, () => { settledAt = Date.now(); return { deleted: true } })
  })
  app.delete('/fails/:name', (_request, _reply) => lazyThenable(10, () => { throw new Error('query failed') }))
  await app.ready()
  const deleting = app.inject({ method: 'DELETE', url: '/db/prod', headers: { 'x-user': 'alice' } })
  await until(() => state.started, 'the DELETE handler to start')
  await app.databaseLock.lock('prod')
  const lockedAt = Date.now()
  t.same((await deleting).json(), { deleted: true }, 'the delete that started first completes')
  t.ok(settledAt > 0 && lockedAt >= settledAt, `the lock was acknowledged only after the handler settled (${lockedAt - settledAt} ms after)`)

  const failed = await app.inject({ method: 'DELETE', url: '/fails/stage', headers: { 'x-user': 'alice' } })
  t.equal(failed.statusCode, 500, 'a thenable that rejects is the host\'s error')
  t.match(failed.json(), { message: 'query failed' })
  // Still counted in flight, it would make the lock give up after its wait (an error, not a status).
  t.match(await app.databaseLock.lock('stage'), { locked: true }, 'and is no longer in flight: the lock is taken')
})

t.test('a namespace lock waits for a DELETE in flight below it when the host\'s ids are not its names', async (t) => {
  const app = newHost(t)
  // Ids of the host's own (it resolves a name or an id); the namespaced name comes with them.
  const resolveDatabase = (nameOrId: string) => {
    const name = nameOrId.replace(/^id-of-/, '')
    return { id: `id-of-${name}`, owner: 'alice', name }
  }
  await app.register(databaseLock, hostOptions(t, { resolveDatabase }))
  const state = { started: false }
  let finishedAt = 0
  app.delete('/db/:name', async () => {
    state.started = true
    await new Promise((resolve) => setTimeout(resolve, 300))
    finishedAt = Date.now()
    return { deleted: true }
  })
  await app.ready()
  const deleting = app.inject({ method: 'DELETE', url: '/db/acme.prod', headers: { 'x-user': 'alice' } })
  await until(() => state.started, 'the DELETE handler to start')
  t.match(await app.databaseLock.lock('acme', { children: true }), { locked: true })
  const lockedAt = Date.now()
  t.equal((await deleting).statusCode, 200, 'the delete that started first completes')
  t.ok(finishedAt > 0 && lockedAt >= finishedAt, `the lock on acme and below was acknowledged only after the delete of acme.prod (${lockedAt - finishedAt} ms after)`)
})
