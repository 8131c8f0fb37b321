// The guard around host routes of every shape: resolvers that answer at once, later, or throw;
// handlers that are async, synchronous, throwing or callback-style; response schemas the host
// declared itself. Whatever the shape, a locked database is refused, nothing stays counted in
// flight, and the host's own answers keep their shape.
import t from 'tap'
import type { FastifyReply } from 'fastify'
import { databaseLock, hostOptions, newHost, OWNERS } from './helpers/host.js'

const OWNER = { 'x-user': 'alice' }

t.test('an async resolveDatabase: the locked database is refused, others pass', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, {
    resolveDatabase: async (name) => OWNERS.has(name) ? { id: name, owner: OWNERS.get(name) ?? '' } : null
  }))
  const deleted: string[] = []
  app.delete('/db/:name', async (request) => { deleted.push((request.params as { name: string }).name); return { deleted: true } })
  await app.ready()
  await app.databaseLock.lock('prod')
  t.equal((await app.inject({ method: 'DELETE', url: '/db/prod', headers: OWNER })).statusCode, 403)
  t.equal((await app.inject({ method: 'DELETE', url: '/db/stage', headers: OWNER })).statusCode, 200)
  t.equal((await app.inject({ method: 'DELETE', url: '/db/unknown', headers: OWNER })).statusCode, 200, 'an unknown database: the route answers')
  t.same(deleted, ['stage', 'unknown'])
})

t.test('a resolveDatabase that throws or rejects: 500, the handler never runs', async (t) => {
  const failures: Array<[string, (name: string) => never | Promise<never>]> = [
    ['throws an Error', () => { throw new Error('catalog down') }],
    ['throws a string', () => { throw 'catalog down' }], // eslint-disable-line no-throw-literal
    ['rejects', async () => { throw new Error('catalog down') }]
  ]
  for (const [label, resolveDatabase] of failures) {
    const app = newHost(t)
    await app.register(databaseLock, hostOptions(t, { resolveDatabase }))
    let ran = false
    app.delete('/db/:name', async () => { ran = true; return { deleted: true } })
    await app.ready()
    const res = await app.inject({ method: 'DELETE', url: '/db/prod', headers: OWNER })
    t.equal(res.statusCode, 500, `${label}: 500`)
    t.match(res.json().message, /catalog down/, `${label}: the host's own error`)
    t.equal(ran, false, `${label}: the handler never ran`)
  }
})

t.test('handlers of every shape leave nothing counted in flight', async (t) => {
  const app = newHost(t)
  // A leaked in-flight count would hold up the write lock below until drainTimeout: 409.
  await app.register(databaseLock, hostOptions(t, { drainTimeout: 300 }))
  app.post('/sync-value/:name', function () { return { ok: true } })
  app.post('/sync-throw/:name', function () { throw new Error('handler failed') })
  app.post('/async-reject/:name', async () => { throw new Error('handler failed') })
  app.post('/callback/:name', function (_request, reply) { setImmediate(() => { reply.send({ ok: true }) }) })
  await app.ready()
  t.same((await app.inject({ method: 'POST', url: '/sync-value/prod' })).json(), { ok: true }, 'a synchronous handler\'s value is the answer')
  t.equal((await app.inject({ method: 'POST', url: '/sync-throw/prod' })).statusCode, 500)
  t.equal((await app.inject({ method: 'POST', url: '/async-reject/prod' })).statusCode, 500)
  t.same((await app.inject({ method: 'POST', url: '/callback/prod' })).json(), { ok: true })
  const started = Date.now()
  t.match(await app.databaseLock.lock('prod', { mode: 'write' }), { locked: true }, 'the write lock is taken')
  t.ok(Date.now() - started < 300, 'without waiting for anything')
})

t.test('the host\'s own response schemas are kept', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t))
  const mine = { type: 'object', properties: { mine: { type: 'string' } } }
  const answer = (status: number) => async (_request: unknown, reply: FastifyReply) => reply.code(status).send({ mine: 'kept', extra: 'dropped by the host\'s schema' })
  app.post('/ok/:name', { schema: { response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } } }, async () => ({ ok: true, secret: 'not in the schema' }))
  app.post('/own-403/:name', { schema: { response: { 403: mine } } }, answer(403))
  app.post('/own-4xx/:name', { schema: { response: { '4xx': mine } } }, answer(403))
  app.post('/own-503/:name', { schema: { response: { 503: mine } } }, answer(503))
  app.post('/own-5xx/:name', { schema: { response: { '5xx': mine } } }, answer(503))
  app.post('/own-5XX/:name', { schema: { response: { '5XX': mine } } }, answer(503))
  await app.ready()
  t.same((await app.inject({ method: 'POST', url: '/ok/prod' })).json(), { ok: true }, 'its 200 schema still shapes its answer')
  for (const route of ['own-403', 'own-4xx', 'own-503', 'own-5xx', 'own-5XX']) {
    t.same((await app.inject({ method: 'POST', url: `/${route}/prod` })).json(), { mine: 'kept' }, `${route}: its own schema, not the guard's`)
  }
})
