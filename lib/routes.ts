// The lock routes: lock, unlock and status of one database, and the list of every lock.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest, FastifySchema, RouteShorthandOptions } from 'fastify'
import type { ResolvedDatabase } from '../types/index.js'
import { type EventOrigin, originOf } from './audit.js'
import { ADMIN_PRINCIPAL, databaseName, isAdmin, resolvedTarget, type Strategies } from './auth.js'
import { DatabaseNotFoundError, InvalidDatabaseNameError } from './errors.js'
import { ADMIN_HOLDER, ALL_HOLDERS, DEFAULT_EVENTS_LIMIT, DEFAULT_LIST_LIMIT } from './limits.js'
import { displayName } from './names.js'
import type { ResolvedOptions } from './options.js'
// The TypeBox schemas of schemas.ts and responses.ts, built into plain objects: no TypeBox at run time.
import { DatabaseParams, EventsQuery, ListQuery, LOCK_ROUTE_RESPONSES, LockBody, UnlockBody } from './schemas.generated.js'
import type { LockService } from './service.js'
import { errorFormatterFor, validatorCompiler } from './validation.js'

export function registerRoutes (host: FastifyInstance, options: ResolvedOptions, service: LockService, strategies: Strategies): void {
  const { prefix, param } = options
  // Request types flow from each route's TypeBox schema: no casts in the handlers.
  const fastify = host.withTypeProvider<TypeBoxTypeProvider>()
  const ownerOrAdmin = fastify.auth([...options.authStrategies, strategies.adminKey, strategies.owner], { relation: 'or' })
  const adminOnly = fastify.auth([...options.authStrategies, strategies.adminOnly], { relation: 'or' })

  /** A bad name is refused before anything else, credentials included. */
  async function checkName (request: FastifyRequest): Promise<void> {
    const name = databaseName(request, param)
    const problem = options.validateName(name)
    if (problem !== null) throw new InvalidDatabaseNameError(displayName(name), problem)
  }

  /** Route options shared by every lock route; the routes themselves are never guarded. */
  function routeOptions<S extends FastifySchema> (schema: S, preHandler: RouteShorthandOptions['preHandler']) {
    return {
      schema: { tags: ['database locks'], ...schema },
      config: { databaseLock: false as const },
      validatorCompiler,
      schemaErrorFormatter: errorFormatterFor(schema),
      preValidation: schema.params === undefined ? undefined : checkName,
      preHandler
    }
  }

  async function targetOf (request: FastifyRequest): Promise<ResolvedDatabase> {
    return resolvedTarget(request) ?? await service.resolve(databaseName(request, param), request)
  }

  /** Who acts, as recorded in `lockedBy` and the audit trail. */
  async function originFor (request: FastifyRequest, target: ResolvedDatabase): Promise<EventOrigin> {
    const principal = isAdmin(request) ? null : await options.principal(request)
    return originOf(request, principal ?? ADMIN_PRINCIPAL, target.owner)
  }

  /** The holder a lock or unlock names when its body does not: the caller, `admin` for the admin key. */
  function defaultHolder (request: FastifyRequest, origin: EventOrigin): string {
    return isAdmin(request) || origin.principal === null || origin.principal === ADMIN_PRINCIPAL ? ADMIN_HOLDER : origin.principal
  }

  const paramsSchema = param === 'name' ? DatabaseParams : { type: 'object', properties: { [param]: { type: 'string' } } }
  const path = `${prefix}/:${param}/lock`

  fastify.post(path, routeOptions({
    operationId: 'lockDatabase',
    summary: 'Lock a database',
    description: 'Takes a `delete` lock (deletes and resets answer 403) or a `write` lock (every guarded write answers 503), ' +
      'held by `holder` (default: the caller); with `children`, also on every name below. ' +
      'Answers only once every process refuses the blocked operations and none of them is still running. Idempotent per mode and holder.',
    params: paramsSchema,
    body: LockBody,
    response: LOCK_ROUTE_RESPONSES.lock
  }, ownerOrAdmin), async (request) => {
    const body = request.body ?? {}
    const target = await targetOf(request)
    const origin = await originFor(request, target)
    return service.lock(target, {
      mode: body.mode ?? 'delete',
      reason: body.reason,
      ttl: body.ttl,
      by: origin.principal ?? ADMIN_PRINCIPAL,
      holder: body.holder ?? defaultHolder(request, origin),
      children: body.children,
      unlock: body.unlock
    }, origin)
  })

  fastify.post(`${prefix}/:${param}/unlock`, routeOptions({
    operationId: 'unlockDatabase',
    summary: 'Unlock a database',
    description: 'Lifts one holder\'s lock of one mode (default: the caller\'s `delete` lock); other holders\' locks and the other mode stay. ' +
      '`{"holder": "*"}` lifts every holder\'s lock of the mode. Idempotent.',
    params: paramsSchema,
    body: UnlockBody,
    response: LOCK_ROUTE_RESPONSES.unlock
  }, ownerOrAdmin), async (request, reply) => {
    const body = request.body ?? {}
    const target = await targetOf(request)
    const origin = await originFor(request, target)
    const holder = body.holder ?? defaultHolder(request, origin)
    // Approvals count distinct callers; the admin key counts as `admin`.
    const approver = isAdmin(request) ? ADMIN_HOLDER : defaultHolder(request, origin)
    const result = await service.unlock(target, body.mode ?? 'delete', holder === ALL_HOLDERS ? null : holder, origin, approver)
    return reply.code(result.statusCode).send(result.body)
  })

  fastify.get(`${path}/events`, routeOptions({
    operationId: 'listLockEvents',
    summary: 'Audit events of a database, newest first',
    description: 'Who locked, unlocked, and who was refused. A `blocked` event folds the refusals of one caller and route within one second into `count`.',
    params: paramsSchema,
    querystring: EventsQuery,
    response: LOCK_ROUTE_RESPONSES.events
  }, ownerOrAdmin), async (request) => {
    const { query } = request
    let target: ResolvedDatabase
    try {
      target = await targetOf(request)
    } catch (err) {
      // "Who deleted it?" is asked after the database is gone: the admin key may still read its trail.
      if (!(err instanceof DatabaseNotFoundError) || !isAdmin(request)) throw err
      target = { id: databaseName(request, param), owner: '' }
    }
    // The admin key reads the whole trail; anybody else only what happened while they owned the name.
    const reader = isAdmin(request) ? null : (await options.principal(request)) ?? ''
    // '' owns nothing: it is whom the trail records as owner of a name nobody owned yet.
    if (reader === '') return { events: [], nextCursor: null }
    return service.events(target, query.type ?? null, query.limit ?? DEFAULT_EVENTS_LIMIT, query.cursor, reader)
  })

  fastify.get(path, routeOptions({
    operationId: 'getLockStatus',
    summary: 'Lock status of a database',
    description: 'The live locks of the database (expired locks are never shown).',
    params: paramsSchema,
    response: LOCK_ROUTE_RESPONSES.status
  }, ownerOrAdmin), async (request) => service.status(await targetOf(request)))

  if (options.listPath !== false) {
    fastify.get(options.listPath, routeOptions({
      operationId: 'listLocks',
      summary: 'Every live lock (admin key only)',
      description: 'For finding stuck locks. Pages follow `nextCursor`.',
      querystring: ListQuery,
      response: LOCK_ROUTE_RESPONSES.list
    }, adminOnly), async (request) => {
      const { query } = request
      return service.list(query.limit ?? DEFAULT_LIST_LIMIT, query.cursor)
    })
  }
}
