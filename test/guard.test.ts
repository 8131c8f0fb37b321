// Which routes are guarded: classification, scopes, opt-outs, the reset marker.
import t from 'tap'
import { classifyRoute } from '../lib/guard.js'
import { databaseLock, hostOptions, newHost } from './helpers/host.js'

// A caller who is not the owner: refused without details (a caller with no credentials gets 401).
const STRANGER = { 'x-user': 'bob' }

const ok = async () => ({ ok: true })

t.test('classification by config, then by method and the database param', async (t) => {
  const c = (method: string | string[], url: string, config?: unknown) => classifyRoute({ method, url, config: config as never }, 'name')
  t.equal(c('DELETE', '/db/:name'), 'delete')
  t.equal(c('POST', '/db/:name'), 'write')
  t.equal(c('PUT', '/db/:name/rows'), 'write')
  t.equal(c('PATCH', '/db/:name'), 'write')
  t.equal(c('GET', '/db/:name'), 'read')
  t.equal(c('HEAD', '/db/:name'), 'read')
  t.equal(c('OPTIONS', '/db/:name'), 'read')
  t.equal(c('DELETE', '/db/:id'), 'read', 'another param is not the database')
  t.equal(c('DELETE', '/db/:names'), 'read', 'a longer param name is not the database')
  t.equal(c('DELETE', '/health'), 'read')
  t.equal(c(['GET', 'POST'], '/db/:name'), 'write', 'the strictest of several methods')
  t.equal(c('POST', '/db/:name/reset', { databaseLock: 'reset' }), 'reset')
  t.equal(c('DELETE', '/db/:name', { databaseLock: false }), false)
  t.equal(c('GET', '/db/:name/purge', { databaseLock: 'delete' }), 'delete')
  t.throws(() => c('POST', '/db/:name', { databaseLock: 'destroy' }), { code: 'INVALID_LOCK_OPTION', message: /'delete', 'reset', 'write', 'read' or false/ })
})

t.test('registered in a child scope, it guards only that scope', async (t) => {
  const app = newHost(t)
  await app.register(async (child) => {
    await child.register(databaseLock, hostOptions(t))
    child.delete('/inside/:name', ok)
  })
  app.delete('/outside/:name', ok)
  await app.ready()
  t.equal((await app.inject({ method: 'POST', url: '/v1/database/prod/lock', headers: { 'x-user': 'alice' } })).statusCode, 200)
  t.equal((await app.inject({ method: 'DELETE', url: '/inside/prod', headers: STRANGER })).statusCode, 403)
  t.equal((await app.inject({ method: 'DELETE', url: '/outside/prod', headers: STRANGER })).statusCode, 200, 'a sibling scope is not guarded')
})

t.test('routes registered before the plugin are not guarded; after it they are', async (t) => {
  const app = newHost(t)
  app.delete('/early/:name', ok)
  await app.register(databaseLock, hostOptions(t))
  app.delete('/late/:name', ok)
  await app.ready()
  await app.databaseLock.lock('prod')
  t.equal((await app.inject({ method: 'DELETE', url: '/early/prod', headers: STRANGER })).statusCode, 200)
  t.equal((await app.inject({ method: 'DELETE', url: '/late/prod', headers: STRANGER })).statusCode, 403)
})

t.test('config.databaseLock false is never guarded; reset works on any method', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t))
  app.delete('/db/:name/cache', { config: { databaseLock: false } }, ok)
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
    app.route({ method, url: `/${method.toLowerCase()}-reset/:name`, config: { databaseLock: 'reset' }, handler: ok })
  }
  app.get('/db/:name', ok)
  app.post('/db/:name', ok)
  await app.ready()
  await app.databaseLock.lock('prod', { reason: 'prod', by: 'ops' })
  t.equal((await app.inject({ method: 'DELETE', url: '/db/prod/cache', headers: STRANGER })).statusCode, 200, 'opted out')
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
    const res = await app.inject({ method, url: `/${method.toLowerCase()}-reset/prod`, headers: STRANGER })
    t.equal(res.statusCode, 403, `${method} reset refused`)
    t.equal(res.json().operation, 'reset')
  }
  t.equal((await app.inject({ method: 'GET', url: '/db/prod', headers: STRANGER })).statusCode, 200, 'reads pass')
  t.equal((await app.inject({ method: 'POST', url: '/db/prod', headers: STRANGER })).statusCode, 200, 'writes pass a delete lock')
  t.equal((await app.inject({ method: 'DELETE', url: '/post-reset/stage', headers: STRANGER })).statusCode, 404, 'another database is not affected (route 404 is the method mismatch)')
  t.equal((await app.inject({ method: 'POST', url: '/post-reset/stage', headers: STRANGER })).statusCode, 200, 'another database is not affected')
  t.equal((await app.inject({ method: 'POST', url: '/post-reset/unknown', headers: STRANGER })).statusCode, 200, 'an unknown database has no lock; the route answers')
})

t.test('a route marked for the guard without the database param fails at start', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t))
  t.throws(() => app.post('/reset-all', { config: { databaseLock: 'reset' } }, ok), { message: /has no :name parameter/ })
})

t.test('the param option names the database parameter', async (t) => {
  const app = newHost(t)
  // The lock routes' schemas describe the custom parameter (OpenAPI documents from them).
  const lockParams: unknown[] = []
  app.addHook('onRoute', (route) => { if (route.url === '/api/databases/:db/lock') lockParams.push(route.schema?.params) })
  await app.register(databaseLock, hostOptions(t, { param: 'db', prefix: '/api/databases' }))
  app.delete('/api/databases/:db', ok)
  await app.ready()
  t.ok(lockParams.length > 0)
  for (const params of lockParams) t.same(params, { type: 'object', properties: { db: { type: 'string' } } })
  t.equal((await app.inject({ method: 'POST', url: '/api/databases/prod/lock', headers: { 'x-user': 'alice' } })).statusCode, 200)
  const res = await app.inject({ method: 'DELETE', url: '/api/databases/prod', headers: STRANGER })
  t.equal(res.statusCode, 403)
  t.match(res.json().message, /POST \/api\/databases\/prod\/unlock/)
})

t.test('the guard runs after the host\'s own preHandlers', async (t) => {
  const app = newHost(t)
  const order: string[] = []
  app.addHook('preHandler', async () => { order.push('host') })
  await app.register(databaseLock, hostOptions(t))
  app.delete('/db/:name', { preHandler: async () => { order.push('route') } }, async () => { order.push('handler'); return { ok: true } })
  await app.ready()
  await app.inject({ method: 'DELETE', url: '/db/prod', headers: STRANGER })
  t.same(order, ['host', 'route', 'handler'])
  await app.databaseLock.lock('prod')
  order.length = 0
  t.equal((await app.inject({ method: 'DELETE', url: '/db/prod', headers: STRANGER })).statusCode, 403)
  t.same(order, ['host', 'route'], 'host hooks ran first; the guard stopped the handler')
})

t.test('bad plugin options fail at register time with a clear message', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ principal: undefined }, /"principal" is required/],
    [{ resolveDatabase: 'x' }, /"resolveDatabase" is required/],
    [{ path: undefined }, /either "path".*or "store"/],
    [{ path: '' }, /either "path".*or "store"/],
    [{ url: 'mysql://db/locks' }, /"url" must be a postgres:\/\/ or postgresql:\/\/ connection string/],
    [{ prefix: 'v1/database' }, /"prefix" must start with "\/"/],
    [{ param: 'na-me' }, /"param" must be a route parameter name/],
    [{ drainTimeout: -1 }, /"drainTimeout" must be a positive number/],
    [{ maxStaleness: 6000 }, /"maxStaleness" must be less than "processTimeout"/]
  ]
  for (const [override, message] of cases) {
    const app = newHost(t)
    await t.rejects(async () => { await app.register(databaseLock, { ...hostOptions(t), ...override } as never).ready() }, { message }, String(message))
  }
})

t.test('a guarded handler returning a thenable that is not a promise: its then is called once, its value answered', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, { drainTimeout: 200 }))
  let thenCalls = 0
  // A lazy thenable, as query builders are: each call of then would run the work again.
  app.delete('/db/:name', async () => ({ ok: true }))
  app.post('/db/:name', (_request, _reply) => ({
    then (resolve: (value: unknown) => void) {
      thenCalls++
      resolve({ written: true })
    }
  }))
  await app.ready()
  const res = await app.inject({ method: 'POST', url: '/db/prod', headers: STRANGER })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { written: true })
  t.equal(thenCalls, 1, 'then called once')
  const status = await app.databaseLock.lock('prod', { mode: 'write' })
  t.equal(status.locked, true, 'and the write was no longer counted in flight')
})

t.test('a route the plugin does not guard gets nothing from it: no hook, no wrapper, no schema, no global hook', async (t) => {
  const handler = async () => ({ ok: true })
  const routes = async (withPlugin: boolean) => {
    const app = newHost(t)
    if (withPlugin) await app.register(databaseLock, hostOptions(t))
    const seen: Array<{ url: string, handler: unknown, preHandler: unknown, schema: unknown }> = []
    app.addHook('onRoute', (route) => { seen.push({ url: route.url, handler: route.handler, preHandler: route.preHandler, schema: route.schema }) })
    app.post('/db/:name/rows', { config: { databaseLock: false } }, handler)
    app.get('/db/:name', handler)
    await app.ready()
    const printed = app.printRoutes({ includeHooks: true, commonPrefix: false }).split('\n')
    // The host's routes and their hooks, from the first of them on (the lock routes come first).
    return { printed: printed.slice(printed.findIndex((line) => line.includes('/db/'))), seen }
  }
  const bare = await routes(false)
  const plugin = await routes(true)
  t.same(plugin.printed, bare.printed, 'the same routes with the same hooks (the lock routes aside)')
  for (const route of plugin.seen.filter((r) => r.url.startsWith('/db/'))) {
    t.equal(route.handler, handler, `${route.url}: the handler is the host's own`)
    t.equal(route.preHandler, undefined, `${route.url}: no preHandler`)
    t.equal(route.schema, undefined, `${route.url}: no schema`)
  }
})
