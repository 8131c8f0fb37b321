// The demo's OpenAPI document (/docs/json): what the plugin adds to every guarded route, and
// a /health that needs no credentials.
import t from 'tap'
import { startDemo } from './helpers/app.js'

interface Operation { responses: Record<string, { description?: string }>, security?: unknown[] }

t.test('guarded routes document the answers the guard can give', async (t) => {
  const demo = await startDemo(t)
  const res = await demo.app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const paths = res.json().paths as Record<string, Record<string, Operation>>
  for (const [path, method] of [['/v1/database/{name}', 'delete'], ['/v1/database/{name}/reset', 'post'], ['/v1/database/{name}/rows', 'post']]) {
    const responses = paths[path][method].responses
    // A write route never meets a delete lock's 403.
    const refusals = method === 'post' && path.endsWith('/rows') ? [['503', 'DATABASE_WRITE_LOCKED']] : [['403', 'DATABASE_LOCKED'], ['503', 'DATABASE_WRITE_LOCKED']]
    for (const [status, code] of [['400', 'INVALID_DATABASE_NAME'], ['401', 'AUTHENTICATION_REQUIRED'], ...refusals]) {
      t.ok(responses[status] !== undefined, `${method.toUpperCase()} ${path} documents ${status}`)
      t.match(responses[status]?.description ?? '', code, `${status} names its code`)
    }
  }
  t.same(paths['/health'].get.security, [], '/health needs no credentials')
})

t.test('/health answers 200 even with a bad token', async (t) => {
  const demo = await startDemo(t)
  const res = await demo.app.inject({ method: 'GET', url: '/health', headers: { authorization: 'Bearer nonsense' } })
  t.equal(res.statusCode, 200)
  t.equal((await demo.app.inject({ method: 'GET', url: '/v1/database/x', headers: { authorization: 'Bearer nonsense' } })).statusCode, 401, 'elsewhere a bad token is still refused')
})
