// The demo database-hosting API, built the way a host should use the plugin:
// authentication first, then `await register(databaseLock)`, then the routes.
import { join } from 'node:path'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { Type } from 'typebox'
import databaseLock from '../index.js'
import { Catalog, type HostedDatabase } from './catalog.js'

export interface DemoSettings {
  dataDir: string
  /** Bearer token → principal. */
  tokens: Map<string, string>
  adminKey?: string
  logger?: FastifyServerOptions['logger']
  /** Plugin options passed through (tests shorten intervals). */
  lockOptions?: Record<string, unknown>
  /** Milliseconds a DELETE spends before it deletes (tests of in-flight operations). */
  deleteDelay?: number
  /** Called as a DELETE starts its work (tests wait for it rather than sleep). */
  onDeleteStarted?: (name: string) => void
  /** Size quota of the catalog file in SQLite pages (tests of a full disk). */
  maxCatalogPages?: number
}

declare module 'fastify' {
  interface FastifyRequest {
    user: { id: string } | null
  }
}

const NameParams = Type.Object({ name: Type.String() })
const DatabaseSchema = Type.Object({
  name: Type.String(),
  id: Type.String(),
  owner: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  rowCount: Type.Integer()
})
const DemoError = Type.Object({ statusCode: Type.Integer(), code: Type.String(), error: Type.String(), message: Type.String() })

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 507: 'Insufficient Storage'
}

function refuse (reply: FastifyReply, statusCode: number, code: string, message: string): FastifyReply {
  return reply.code(statusCode).send({ statusCode, code, error: STATUS_TEXT[statusCode] ?? 'Error', message })
}

/** Rows nest at most this deep: deeper JSON would overflow the stack when stored. */
const MAX_ROW_DEPTH = 64

/** How deep `value` nests, counted without recursion (stopping once past `limit`). */
function depthOf (value: unknown, limit: number): number {
  let deepest = 0
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [item, depth] = stack.pop() ?? [null, 0]
    if (typeof item !== 'object' || item === null) continue
    deepest = Math.max(deepest, depth)
    if (deepest > limit) return deepest
    for (const child of Object.values(item)) stack.push([child, depth + 1])
  }
  return deepest
}

function isStorageFull (err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'SQLITE_FULL'
}

export async function buildDemoApp (settings: DemoSettings): Promise<FastifyInstance> {
  // Names may be 255 characters, more once URL-encoded; Fastify's default limit is 100.
  const app = Fastify({ logger: settings.logger ?? false, routerOptions: { maxParamLength: 1024 } }).withTypeProvider<TypeBoxTypeProvider>()
  const catalog = new Catalog(settings.dataDir, settings.maxCatalogPages)
  app.addHook('onClose', async () => { catalog.close() })
  // A full disk is the operator's problem, not a crash: say so, with a code clients can branch on.
  app.setErrorHandler((err, request, reply) => {
    if (isStorageFull(err)) {
      request.log.error({ err }, 'demo: the data directory is full')
      return refuse(reply, 507, 'STORAGE_FULL', 'The service has no room left to store this; nothing was changed. Retry later')
    }
    return reply.send(err)
  })

  await app.register(swagger, {
    openapi: {
      info: { title: 'fastify-database-lock demo', version: '0.1.0', description: 'A database-hosting API guarded by fastify-database-lock' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          adminKey: { type: 'apiKey', in: 'header', name: 'X-Admin-Key' }
        }
      },
      security: [{ bearer: [] }, { adminKey: [] }]
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })

  // Who is calling: a bearer token from DEMO_TOKENS. A wrong token is refused outright.
  app.decorateRequest('user', null)
  app.addHook('onRequest', async (request, reply) => {
    const header = request.headers.authorization
    // A monitor's stray header must not make the service look down.
    if (header === undefined || request.routeOptions.url === '/health') return
    const match = /^Bearer\s+(\S+)$/i.exec(header)
    const principal = match === null ? undefined : settings.tokens.get(match[1])
    if (principal === undefined) {
      return refuse(reply, 401, 'INVALID_TOKEN', 'The bearer token is not valid; send Authorization: Bearer <token>')
    }
    request.user = { id: principal }
  })

  await app.register(databaseLock, {
    path: join(settings.dataDir, 'database-locks.db'),
    principal: (request) => request.user?.id ?? null,
    resolveDatabase: (nameOrIdentity) => {
      const found = catalog.find(nameOrIdentity)
      return found === null ? null : { id: found.name, owner: found.owner }
    },
    adminKey: settings.adminKey,
    ...settings.lockOptions
  })

  /** The caller must be signed in and, for an existing database, its owner. */
  function ownerOnly (request: Pick<FastifyRequest, 'user'> & { params: { name: string } }, reply: FastifyReply): HostedDatabase | null {
    if (request.user === null) {
      refuse(reply, 401, 'AUTHENTICATION_REQUIRED', 'Send Authorization: Bearer <token>')
      return null
    }
    const database = catalog.get(request.params.name)
    if (database === null) {
      refuse(reply, 404, 'DATABASE_NOT_FOUND', `Database "${request.params.name}" does not exist; create it with POST /v1/database/${encodeURIComponent(request.params.name)}`)
      return null
    }
    if (database.owner !== request.user.id) {
      refuse(reply, 403, 'NOT_DATABASE_OWNER', `Only the owner of database "${database.name}" may do this`)
      return null
    }
    return database
  }

  // 403 and 503 are left to the lock plugin's refusal schema, which keeps `database`, `reason`, `retryAfter`.
  const errors = {
    400: { ...DemoError, description: 'INVALID_DATABASE_NAME: the name breaks the naming rules; or a body that does not fit the route' },
    401: { ...DemoError, description: 'AUTHENTICATION_REQUIRED: no credentials; INVALID_TOKEN: a bearer token the service does not know' },
    404: { ...DemoError, description: 'DATABASE_NOT_FOUND' }
  }

  // No credentials needed: monitors call it (security [] overrides the document's default).
  app.get('/health', { schema: { tags: ['service'], summary: 'Liveness', security: [], response: { 200: Type.Object({ status: Type.String() }) } } },
    async () => ({ status: 'ok' }))

  app.post('/v1/database/:name', {
    schema: {
      tags: ['databases'],
      summary: 'Create a database (201), or publish an update to one you own (200)',
      params: NameParams,
      // Fastify validates a missing body as null, so null stands for "no body".
      body: Type.Union([Type.Object({ description: Type.Optional(Type.String({ maxLength: 1024 })) }), Type.Null()]),
      response: { 200: DatabaseSchema, 201: DatabaseSchema, ...errors }
    }
  }, async (request, reply) => {
    const { name } = request.params
    const description = request.body?.description ?? null
    if (request.user === null) return refuse(reply, 401, 'AUTHENTICATION_REQUIRED', 'Send Authorization: Bearer <token>')
    // The name was already checked by the lock guard, which runs on every write route.
    if (catalog.get(name) === null) {
      const created = catalog.create(name, request.user.id, description)
      if (created !== null) return reply.code(201).send(created)
      // Another process created it in between: from here on it is an existing database.
    }
    const database = ownerOnly(request, reply)
    if (database === null) return reply
    return catalog.publish(database.name, description)
  })

  app.get('/v1/database/:name', {
    schema: { tags: ['databases'], summary: 'A database you own', params: NameParams, response: { 200: DatabaseSchema, ...errors } }
  }, async (request, reply) => ownerOnly(request, reply) ?? reply)

  app.delete('/v1/database/:name', {
    schema: {
      tags: ['databases'],
      summary: 'Delete a database and its rows (refused while locked)',
      params: NameParams,
      response: { 200: Type.Object({ deleted: Type.String() }), ...errors }
    }
  }, async (request, reply) => {
    const database = ownerOnly(request, reply)
    if (database === null) return reply
    settings.onDeleteStarted?.(database.name)
    if (settings.deleteDelay !== undefined) await new Promise((resolve) => setTimeout(resolve, settings.deleteDelay))
    catalog.remove(database.name)
    return { deleted: database.name }
  })

  app.post('/v1/database/:name/reset', {
    config: { databaseLock: 'reset' },
    schema: {
      tags: ['databases'],
      summary: 'Wipe every row of a database (refused while locked)',
      params: NameParams,
      response: { 200: Type.Object({ database: Type.String(), removedRows: Type.Integer() }), ...errors }
    }
  }, async (request, reply) => {
    const database = ownerOnly(request, reply)
    if (database === null) return reply
    return { database: database.name, removedRows: catalog.reset(database.name) }
  })

  app.post('/v1/database/:name/rows', {
    schema: {
      tags: ['rows'],
      summary: 'Insert a row (any JSON object)',
      params: NameParams,
      body: Type.Object({}, { additionalProperties: true }),
      response: {
        201: Type.Object({ seq: Type.Integer() }),
        507: { ...DemoError, description: 'STORAGE_FULL: no room left; nothing was changed' },
        ...errors,
        400: { ...DemoError, description: 'ROW_TOO_DEEP: nested more than 64 levels; INVALID_DATABASE_NAME; or a body that is not a JSON object' }
      }
    }
  }, async (request, reply) => {
    const database = ownerOnly(request, reply)
    if (database === null) return reply
    if (depthOf(request.body, MAX_ROW_DEPTH) > MAX_ROW_DEPTH) {
      return refuse(reply, 400, 'ROW_TOO_DEEP', `A row may nest objects and arrays at most ${MAX_ROW_DEPTH} levels deep; flatten it`)
    }
    return reply.code(201).send(catalog.insertRow(database.name, request.body))
  })

  app.get('/v1/database/:name/rows', {
    schema: {
      tags: ['rows'],
      summary: 'List rows, oldest first',
      params: NameParams,
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }),
      response: {
        200: Type.Object({ rows: Type.Array(Type.Object({ seq: Type.Integer(), data: Type.Unknown(), createdAt: Type.String() })) }),
        ...errors
      }
    }
  }, async (request, reply) => {
    const database = ownerOnly(request, reply)
    if (database === null) return reply
    return { rows: catalog.rows(database.name, request.query.limit ?? 100) }
  })

  return app
}

/** Parses DEMO_TOKENS: `alice:alice-token,bob:bob-token`. */
export function parseTokens (value: string): Map<string, string> {
  const tokens = new Map<string, string>()
  for (const pair of value.split(',')) {
    const [principal, token] = pair.split(':').map((part) => part.trim())
    if (principal === undefined || principal === '' || token === undefined || token === '') {
      throw new Error(`DEMO_TOKENS must look like "alice:alice-token,bob:bob-token"; could not read "${pair}"`)
    }
    tokens.set(token, principal)
  }
  return tokens
}
