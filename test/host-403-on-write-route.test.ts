// Regression: the guard added its 403 refusal schema to every guarded route, write routes
// included, where it never answers 403. A host's write route answering 403 with a body of its
// own then failed to serialize (a 500) or lost its fields. Now only delete and reset routes get
// the 403 schema; every guarded route gets the 503.
import t from 'tap'
import { databaseLock, hostOptions, newHost } from './helpers/host.js'

t.test('a write route\'s own 403 keeps its body; delete and reset routes document the guard\'s 403', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t))
  const routes = new Map<string, Record<string, unknown>>()
  app.addHook('onRoute', (route) => { routes.set(`${String(route.method)} ${route.url}`, route.schema?.response as Record<string, unknown>) })
  app.post('/db/:name', async (_request, reply) => reply.code(403).send({ quota: 'exceeded', limit: 3 }))
  app.delete('/db/:name', async () => ({ deleted: true }))
  app.post('/db/:name/reset', { config: { databaseLock: 'reset' } }, async () => ({ reset: true }))
  await app.ready()

  const res = await app.inject({ method: 'POST', url: '/db/prod', headers: { 'x-user': 'alice' } })
  t.equal(res.statusCode, 403, 'not a 500')
  t.same(res.json(), { quota: 'exceeded', limit: 3 }, 'the host\'s body, untouched')

  const responses = (method: string, url: string) => Object.keys(routes.get(`${method} ${url}`) ?? {}).sort()
  t.same(responses('POST', '/db/:name'), ['503'], 'a write route: only the write lock\'s 503')
  t.same(responses('DELETE', '/db/:name'), ['403', '503'])
  t.same(responses('POST', '/db/:name/reset'), ['403', '503'])
})
