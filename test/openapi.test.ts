// The demo's OpenAPI document (/docs/json): what the plugin adds to every guarded route, a
// /health that needs no credentials, and a document that passes redocly's recommended rules.
// (test/contract.test.ts holds the service to the document.)
import t from 'tap'
import { startDemo } from './helpers/app.js'

interface Response { description?: string, content?: { 'application/json'?: { schema?: { properties?: { code?: { enum?: string[] } } } } } }
interface Operation {
  operationId?: string
  requestBody?: { required?: boolean }
  parameters?: Array<{ in: string, name: string, description?: string }>
  responses: Record<string, Response>
  security?: unknown[]
  tags?: string[]
  summary?: string
  description?: string
}

async function documentOf (t: Parameters<typeof startDemo>[0]) {
  const demo = await startDemo(t)
  const res = await demo.app.inject({ method: 'GET', url: '/docs/json' })
  if (res.statusCode !== 200) throw new Error(`/docs/json answered ${res.statusCode}`)
  return { source: res.body, paths: res.json().paths as Record<string, Record<string, Operation>> }
}

t.test('guarded routes document the answers the guard can give', async (t) => {
  const { paths } = await documentOf(t)
  const expected: Array<[path: string, method: string, codes: Record<string, string>]> = [
    ['/v1/database/{name}', 'delete', { 400: 'INVALID_DATABASE_NAME', 401: 'AUTHENTICATION_REQUIRED', 403: 'DATABASE_LOCKED', 503: 'DATABASE_WRITE_LOCKED' }],
    ['/v1/database/{name}/reset', 'post', { 400: 'INVALID_DATABASE_NAME', 401: 'AUTHENTICATION_REQUIRED', 403: 'DATABASE_LOCKED', 503: 'DATABASE_WRITE_LOCKED' }],
    ['/v1/database/{name}/rows', 'post', { 400: 'INVALID_DATABASE_NAME', 401: 'AUTHENTICATION_REQUIRED', 503: 'DATABASE_WRITE_LOCKED' }]
  ]
  for (const [path, method, codes] of expected) {
    const responses = paths[path][method].responses
    for (const [status, code] of Object.entries(codes)) {
      t.match(responses[status]?.description ?? '', code, `${method.toUpperCase()} ${path}: ${status} names ${code}`)
      t.ok(responses[status]?.content?.['application/json']?.schema?.properties?.code?.enum?.includes(code), 'and lists it in the code enum')
    }
  }
  const rowsForbidden = paths['/v1/database/{name}/rows'].post.responses['403']
  t.notMatch(rowsForbidden?.description ?? '', 'DATABASE_LOCKED', 'a write route never gets DATABASE_LOCKED')
  t.same(paths['/health'].get.security, [], '/health needs no credentials')
})

t.test('every response has a description, every error response its codes, every operation an id', async (t) => {
  const { paths } = await documentOf(t)
  const ids = new Set<string>()
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const where = `${method.toUpperCase()} ${path}`
      t.ok(operation.operationId !== undefined && !ids.has(operation.operationId), `${where}: a unique operationId (${operation.operationId})`)
      ids.add(operation.operationId ?? '')
      for (const [status, response] of Object.entries(operation.responses)) {
        t.ok(response.description !== undefined && response.description !== 'Default Response', `${where} ${status}: described (${response.description})`)
        // 431 is Node's own answer, without a code.
        if (Number(status) >= 400 && status !== '431') {
          const codes = response.content?.['application/json']?.schema?.properties?.code?.enum ?? []
          t.ok(codes.length > 0, `${where} ${status}: lists its codes (${codes.join(', ')})`)
        }
      }
    }
  }
})

t.test('the lock, unlock and create bodies are optional; a row is not', async (t) => {
  const { paths } = await documentOf(t)
  t.equal(paths['/v1/database/{name}/lock'].post.requestBody?.required, false, 'lock')
  t.equal(paths['/v1/database/{name}/unlock'].post.requestBody?.required, false, 'unlock')
  t.equal(paths['/v1/database/{name}'].post.requestBody?.required, false, 'create or publish')
  t.equal(paths['/v1/database/{name}/rows'].post.requestBody?.required, true, 'insert a row')
})

t.test('redocly lint, recommended rules: no error and no warning', async (t) => {
  const { source } = await documentOf(t)
  const { createConfig, lintFromString } = await import('@redocly/openapi-core')
  const config = await createConfig({ extends: ['recommended'] })
  const problems = await lintFromString({ source, absoluteRef: '/openapi.json', config })
  const report = problems.map((problem) => `${problem.severity} ${problem.ruleId}: ${problem.message} (${problem.location[0]?.pointer ?? ''})`)
  t.same(report, [], `${problems.length} problems`)
})

t.test('the lock routes document themselves: tag, summary, description, every answer', async (t) => {
  const { paths } = await documentOf(t)
  const routes: Array<[string, string, boolean]> = [
    ['/v1/database/{name}/lock', 'post', true],
    ['/v1/database/{name}/unlock', 'post', true],
    ['/v1/database/{name}/lock', 'get', false],
    ['/v1/database/{name}/lock/events', 'get', true],
    ['/v1/locks', 'get', true]
  ]
  for (const [path, method, described] of routes) {
    const operation = paths[path][method]
    const label = `${method.toUpperCase()} ${path}`
    t.same(operation.tags, ['database locks'], `${label}: tagged`)
    t.ok((operation.summary ?? '').length > 10, `${label}: a summary`)
    if (described) t.ok((operation.description ?? '').length > 20, `${label}: a description`)
    // The list is about no one database: no 404.
    const statuses = path === '/v1/locks' ? ['200', '400', '401', '403', '503'] : ['200', '400', '401', '403', '404', '503']
    for (const status of statuses) t.ok(operation.responses[status] !== undefined, `${label}: documents ${status}`)
  }
})

t.test('the lock routes\' descriptions state what a caller relies on', async (t) => {
  const { paths } = await documentOf(t)
  const facts: Array<[string, string, RegExp[]]> = [
    ['/v1/database/{name}/lock', 'post', [/deletes and resets answer 403/, /guarded write answers 503/, /`holder` \(default: the caller\)/, /every name below/, /none of them is still running/, /Idempotent per mode and holder/]],
    ['/v1/database/{name}/unlock', 'post', [/other holders' locks and the other mode stay/, /`\{"holder": "\*"\}` lifts every holder's lock/]],
    ['/v1/database/{name}/lock', 'get', [/expired locks are never shown/]]
  ]
  for (const [path, method, patterns] of facts) {
    for (const pattern of patterns) t.match(paths[path][method].description ?? '', pattern, `${method.toUpperCase()} ${path}: ${String(pattern)}`)
  }
  const parameters = paths['/v1/database/{name}/lock'].post.parameters ?? []
  t.match(parameters.find((parameter) => parameter.in === 'path'), { name: 'name', description: /travels as %2F/ }, 'the name parameter says how a "/" travels')
})

t.test('/health answers 200 even with a bad token', async (t) => {
  const demo = await startDemo(t)
  const res = await demo.app.inject({ method: 'GET', url: '/health', headers: { authorization: 'Bearer nonsense' } })
  t.equal(res.statusCode, 200)
  t.equal((await demo.app.inject({ method: 'GET', url: '/v1/database/x', headers: { authorization: 'Bearer nonsense' } })).statusCode, 401, 'elsewhere a bad token is still refused')
})
