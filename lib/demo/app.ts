// The demo database-hosting API, built the way a host should use the plugin:
// authentication first, then `await register(databaseLock)`, then the routes.
import { join } from 'node:path'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { Type } from 'typebox'
import databaseLock from '../index.js'
import { BODY_RESPONSES, described, errorResponse, FASTIFY_CODES, PARAM_RESPONSES, refusalResponse } from '../responses.js'
import { Catalog, type HostedDatabase } from './catalog.js'
import { documentServerAnswers, SWAGGER_OPTIONS } from './openapi.js'

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

// What the demo's routes answer besides their success, each status with its codes. (401
// INVALID_TOKEN and 431 are documented on every route by documentServerAnswers; the lock
// plugin adds its 503 to the guarded routes.)
const NAME_CODES = { INVALID_DATABASE_NAME: 'the name breaks the naming rules (the message says which)' }
const VALIDATION_CODES = { FST_ERR_VALIDATION: 'the body or query string does not fit the route\'s schema (the message names the field)' }
const NO_CREDENTIALS = errorResponse('No credentials', { AUTHENTICATION_REQUIRED: 'send Authorization: Bearer <token>' })
const NOT_OWNER = { NOT_DATABASE_OWNER: 'the caller does not own the database' }
const NOT_FOUND = errorResponse('No such database', { DATABASE_NOT_FOUND: 'create it first with POST /v1/database/{name}' })
const STORAGE_FULL = errorResponse('The service has no room left', { STORAGE_FULL: 'nothing was changed; retry later' })
/** A read: the name is not checked (an unknown name is simply not found). */
const READ_ERRORS = { 401: NO_CREDENTIALS, 403: errorResponse('Not allowed', NOT_OWNER), 404: NOT_FOUND, ...PARAM_RESPONSES }
/** A guarded route: the lock plugin's guard checks the name first. */
const WRITE_ERRORS = { ...READ_ERRORS, ...BODY_RESPONSES }
/** A delete or reset: a delete lock refuses it with the plugin's refusal body, so 403 keeps its fields. */
const DESTRUCTIVE_ERRORS = {
  ...WRITE_ERRORS,
  400: errorResponse('The request cannot be read', { ...NAME_CODES, ...FASTIFY_CODES.url, ...FASTIFY_CODES.body }),
  403: refusalResponse('Refused', {
    DATABASE_LOCKED: 'a delete lock refuses deletes and resets; the message names the unlock route (`reason` and `lockedBy` only for the owner and the admin key)',
    ...NOT_OWNER
  })
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 507: 'Insufficient Storage'
}

/** `acme/prod/eu` → `acme/prod`, `acme`: the names above a name, nearest first. */
function namesAbove (name: string): string[] {
  const above: string[] = []
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] === '.' || name[i] === '/') above.push(name.slice(0, i))
  }
  return above
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

  await app.register(swagger, SWAGGER_OPTIONS)
  await app.register(swaggerUi, { routePrefix: '/docs' })
  documentServerAnswers(app)

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

  // No credentials needed: monitors call it (security [] overrides the document's default).
  app.get('/health', {
    schema: {
      tags: ['service'],
      operationId: 'getHealth',
      summary: 'Liveness',
      description: 'Answers 200 while the process serves requests; needs no credentials and ignores a stray Authorization header.',
      security: [],
      response: { 200: described(Type.Object({ status: Type.Literal('ok') }), 'The service is up') }
    }
  }, async () => ({ status: 'ok' as const }))

  app.post('/v1/database/:name', {
    schema: {
      tags: ['databases'],
      operationId: 'createOrPublishDatabase',
      summary: 'Create a database (201), or publish an update to one you own (200)',
      description: 'The caller becomes the owner of a new database. Publishing is a write: a write lock refuses it, a delete lock does not. The body is optional.',
      params: NameParams,
      // Fastify validates a missing body as null, so null stands for "no body".
      body: Type.Union([Type.Object({ description: Type.Optional(Type.String({ maxLength: 1024 })) }), Type.Null()]),
      response: {
        200: described(DatabaseSchema, 'Published: the database as it is now'),
        201: described(DatabaseSchema, 'Created: the new database, owned by the caller'),
        ...WRITE_ERRORS,
        403: errorResponse('Not allowed', {
          ...NOT_OWNER,
          NOT_NAMESPACE_OWNER: 'the name is below a database another principal owns (a database is the namespace of the names below it)'
        }),
        400: errorResponse('The request cannot be read', { ...NAME_CODES, ...VALIDATION_CODES, ...FASTIFY_CODES.url, ...FASTIFY_CODES.body }),
        507: STORAGE_FULL
      }
    }
  }, async (request, reply) => {
    const { name } = request.params
    const description = request.body?.description ?? null
    if (request.user === null) return refuse(reply, 401, 'AUTHENTICATION_REQUIRED', 'Send Authorization: Bearer <token>')
    // The name was already checked by the lock guard, which runs on every write route.
    if (catalog.get(name) === null) {
      // A database is the namespace of the names below it: only its owner creates them, so
      // only they are protected, or frozen, by its `children` locks.
      const parent = namesAbove(name).map((above) => catalog.find(above)).find((found) => found !== null) ?? null
      if (parent !== null && parent.owner !== request.user.id) {
        return refuse(reply, 403, 'NOT_NAMESPACE_OWNER', `"${parent.name}" belongs to another owner, and so do the names below it; choose a name outside it`)
      }
      const created = catalog.create(name, request.user.id, description)
      if (created !== null) return reply.code(201).send(created)
      // Another process created it in between: from here on it is an existing database.
    }
    const database = ownerOnly(request, reply)
    if (database === null) return reply
    return catalog.publish(database.name, description)
  })

  app.get('/v1/database/:name', {
    schema: {
      tags: ['databases'],
      operationId: 'getDatabase',
      summary: 'A database you own',
      params: NameParams,
      response: { 200: described(DatabaseSchema, 'The database'), 400: errorResponse('The request cannot be read', FASTIFY_CODES.url), ...READ_ERRORS }
    }
  }, async (request, reply) => ownerOnly(request, reply) ?? reply)

  app.delete('/v1/database/:name', {
    schema: {
      tags: ['databases'],
      operationId: 'deleteDatabase',
      summary: 'Delete a database and its rows (refused while locked)',
      description: 'Refused with 403 DATABASE_LOCKED under a delete lock and 503 DATABASE_WRITE_LOCKED under a write lock.',
      params: NameParams,
      response: { 200: described(Type.Object({ deleted: Type.String() }), 'Deleted: the name of the database that is gone'), ...DESTRUCTIVE_ERRORS }
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
      operationId: 'resetDatabase',
      summary: 'Wipe every row of a database (refused while locked)',
      description: 'Refused with 403 DATABASE_LOCKED under a delete lock and 503 DATABASE_WRITE_LOCKED under a write lock.',
      params: NameParams,
      response: {
        200: described(Type.Object({ database: Type.String(), removedRows: Type.Integer() }), 'Wiped: how many rows were removed'),
        ...DESTRUCTIVE_ERRORS
      }
    }
  }, async (request, reply) => {
    const database = ownerOnly(request, reply)
    if (database === null) return reply
    return { database: database.name, removedRows: catalog.reset(database.name) }
  })

  app.post('/v1/database/:name/rows', {
    schema: {
      tags: ['rows'],
      operationId: 'insertRow',
      summary: 'Insert a row (any JSON object)',
      description: 'A write: refused with 503 DATABASE_WRITE_LOCKED under a write lock.',
      params: NameParams,
      body: Type.Object({}, { additionalProperties: true }),
      response: {
        201: described(Type.Object({ seq: Type.Integer() }), 'Stored: the row\'s sequence number'),
        ...WRITE_ERRORS,
        400: errorResponse('The request cannot be read', {
          ROW_TOO_DEEP: `the row nests more than ${MAX_ROW_DEPTH} levels`,
          ...NAME_CODES,
          FST_ERR_VALIDATION: 'the body is not a JSON object',
          ...FASTIFY_CODES.url,
          ...FASTIFY_CODES.body
        }),
        507: STORAGE_FULL
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
      operationId: 'listRows',
      summary: 'List rows, oldest first',
      params: NameParams,
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }),
      response: {
        200: described(Type.Object({ rows: Type.Array(Type.Object({ seq: Type.Integer(), data: Type.Unknown(), createdAt: Type.String() })) }), 'The first `limit` rows'),
        400: errorResponse('The request cannot be read', { ...VALIDATION_CODES, ...FASTIFY_CODES.url }),
        ...READ_ERRORS
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
