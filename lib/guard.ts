// Where a DELETE is refused: routes are classified once (onRoute) and only
// guarded routes get the preHandler that checks the in-memory lock view.
import type {
  FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteHandlerMethod, RouteOptions, preHandlerHookHandler
} from 'fastify'
import type { LockInfo, ResolvedDatabase, RouteLockClass } from '../types/index.js'
import {
  AuthenticationRequiredError, DatabaseLockedError, DatabaseWriteLockedError, InvalidDatabaseNameError, InvalidOptionError,
  LockStoreUnavailableError
} from './errors.js'
import { presentsAdminKey } from './auth.js'
import type { LockStore } from '../types/index.js'
import { ancestorsOf, displayName, nameParam } from './names.js'
import { type AuditLog, originOf } from './audit.js'
import type { ResolvedOptions } from './options.js'
import { GUARD_RESPONSES } from './schemas.generated.js'
import { nameOf, toInfo } from './service.js'
import type { LockView, OperationKind, Refusal } from './view.js'

type GuardedClass = 'delete' | 'reset' | 'write'

/** The 503 body of a write refused under a write lock (reason and lockedBy for the owner and admin only). */
interface WriteLockedAnswer {
  statusCode: 503
  code: 'DATABASE_WRITE_LOCKED'
  error: 'Service Unavailable'
  message: string
  database: string
  operation: GuardedClass
  reason?: string | null
  lockedBy?: string | null
  retryAfter: number
  locks?: LockInfo[]
}

/** What an owner or the admin key learns of the locks that refuse a request. */
interface RefusalDetails {
  /** Of the lock that ends last (the one `Retry-After` waits for). */
  reason: string | null
  lockedBy: string | null
  /** Every holder's lock of the refusing mode, inherited ones included. */
  locks: LockInfo[]
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH'])
const CLASSES: ReadonlyArray<RouteLockClass> = ['delete', 'reset', 'write', 'read', false]

function isRouteLockClass (value: unknown): value is RouteLockClass {
  return CLASSES.some((routeClass) => routeClass === value)
}

function hasParam (url: string, param: string): boolean {
  return new RegExp(`(^|/):${param}(?![A-Za-z0-9_])`).test(url)
}

/** How the guard treats a route: its `config.databaseLock`, else by method when it has the database param. */
export function classifyRoute (route: Pick<RouteOptions, 'method' | 'url' | 'config'>, param: string): RouteLockClass {
  const config: unknown = route.config
  const configured: unknown = typeof config === 'object' && config !== null ? Reflect.get(config, 'databaseLock') : undefined
  if (configured !== undefined) {
    if (!isRouteLockClass(configured)) {
      throw new InvalidOptionError(`route ${String(route.method)} ${route.url} has config.databaseLock ${JSON.stringify(configured)}; use 'delete', 'reset', 'write', 'read' or false`)
    }
    return configured
  }
  if (!hasParam(route.url, param)) return 'read'
  const methods = (Array.isArray(route.method) ? route.method : [route.method]).map((method) => String(method).toUpperCase())
  if (methods.includes('DELETE')) return 'delete'
  if (methods.some((method) => WRITE_METHODS.has(method))) return 'write'
  return 'read'
}

/** The database a guarded request passed the guard for; the handler wrapper counts it as in flight. */
const kGuardedDatabase: unique symbol = Symbol('fastify-database-lock.database')

declare module 'fastify' {
  interface FastifyRequest {
    /** Internal to fastify-database-lock (a symbol nobody else can name). */
    [kGuardedDatabase]: ResolvedDatabase | null
  }
}

function isThenable (value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && 'then' in value && typeof value.then === 'function'
}

function asError (err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

export function installGuard (fastify: FastifyInstance, options: ResolvedOptions, view: LockView, audit: AuditLog, store: LockStore): void {
  const { param, prefix } = options
  /** The request whose guard passed it and is calling done(), for as long as that call runs. */
  let passing: FastifyRequest | null = null
  fastify.decorateRequest(kGuardedDatabase, null)

  /** Who locked it and why: read from the store, for the callers allowed to know (a refusal is rare). */
  async function lockDetails (target: ResolvedDatabase, mode: 'delete' | 'write'): Promise<RefusalDetails> {
    try {
      const records = (await store.locksOf(target.id, options.now(), ancestorsOf(nameOf(target)))).filter((candidate) => candidate.mode === mode)
      const last = records.reduce<typeof records[number] | undefined>((latest, record) =>
        latest === undefined || (record.expiresAt ?? Infinity) > (latest.expiresAt ?? Infinity) ? record : latest, undefined)
      return { reason: last?.reason ?? null, lockedBy: last?.lockedBy ?? null, locks: records.map((record) => toInfo(record, target.id)) }
    } catch {
      // The refusal stands without its details.
      return { reason: null, lockedBy: null, locks: [] }
    }
  }

  /**
   * The refusal for a blocked request; the audit trail learns who tried. Only callers who may
   * read the lock's status (its owner, the admin key) learn its reason and who holds it; a
   * caller with no credentials learns nothing, not even that the database is locked.
   */
  async function refusalAnswer (request: FastifyRequest, name: string, target: ResolvedDatabase, routeClass: GuardedClass, refusal: Refusal): Promise<Error | WriteLockedAnswer> {
    const database = target.id
    const principal = (await options.principal(request)) ?? null
    const admin = presentsAdminKey(request, options.adminKey)
    audit.blocked(database, refusal.lock, refusal.lock === 'write' ? refusal.reason : null, originOf(request, principal, target.owner))
    if (principal === null && !admin) return new AuthenticationRequiredError()
    // '' owns nothing: it stands for the owner of a name that does not exist yet (see decide).
    const owner = target.owner !== '' && principal === target.owner
    const details = admin || owner ? await lockDetails(target, refusal.lock) : null
    if (refusal.lock === 'delete') {
      return Object.assign(new DatabaseLockedError(displayName(database), `${prefix}/${encodeURIComponent(name)}/unlock`), {
        database,
        operation: routeClass,
        ...details
      })
    }
    const seconds = Math.ceil((refusal.until - options.now()) / 1000)
    const retryAfter = Math.max(1, Math.min(seconds, options.maxRetryAfter))
    const shownReason = details === null ? 'maintenance' : details.reason ?? 'maintenance'
    const { message } = new DatabaseWriteLockedError(displayName(database), shownReason, retryAfter)
    return { statusCode: 503, code: 'DATABASE_WRITE_LOCKED', error: 'Service Unavailable', message, database, operation: routeClass, ...details, retryAfter }
  }

  /**
   * A write refused under a write lock is an expected answer, not a fault: it is sent here and
   * logged at info. (Thrown, Fastify's default error handler would log every such 503 at error
   * level, and a restore would flood the error log.)
   */
  function sendWriteLocked (reply: FastifyReply, answer: WriteLockedAnswer): FastifyReply {
    reply.log.info({ code: answer.code, database: answer.database, operation: answer.operation }, 'database-lock: write refused, the database is write-locked')
    return reply.code(503).header('retry-after', String(answer.retryAfter)).send(answer)
  }

  /** Everything but the common case: a stale view, a lock. */
  async function slowPath (request: FastifyRequest, name: string, target: ResolvedDatabase, routeClass: GuardedClass, kind: OperationKind): Promise<WriteLockedAnswer | undefined> {
    const database = target.id
    if (!view.isFresh()) {
      try {
        await view.refresh(true)
      } catch (err) {
        if (options.failOpen && kind === 'write') {
          request.log.warn({ err, database }, 'database-lock: lock store unavailable; write let through (failOpen)')
          return undefined
        }
        request.log.error({ err, database }, 'database-lock: lock store unavailable; request refused')
        throw new LockStoreUnavailableError()
      }
    }
    const refusal = view.check(target.id, kind, nameOf(target))
    if (refusal !== null) {
      const answer = await refusalAnswer(request, name, target, routeClass, refusal)
      if (answer instanceof Error) throw answer
      return answer
    }
    request[kGuardedDatabase] = target
    return undefined
  }

  function guardFor (routeClass: GuardedClass): preHandlerHookHandler {
    const kind: OperationKind = routeClass === 'write' ? 'write' : 'destructive'

    function decide (request: FastifyRequest, reply: FastifyReply, name: string, resolved: ResolvedDatabase | null | undefined, done: HookHandlerDoneFunction): void {
      // A name that does not exist has no lock of its own, but a namespace lock above it still
      // refuses creating it; and it is counted in flight, so a namespace lock waits for its
      // creation. Nobody owns it yet: a refusal tells no details.
      const target = resolved ?? { id: name, owner: '' }
      // The common case costs two Map lookups: a fresh view and no lock on this database.
      if (view.isFresh() && view.check(target.id, kind, target.name) === null) {
        request[kGuardedDatabase] = target
        // Fastify starts the handler inside done() when no hook follows: checked and counted
        // in one synchronous step, it needs no second check (see trackHandler).
        passing = request
        try {
          done()
        } finally {
          passing = null
        }
        return
      }
      slowPath(request, name, target, routeClass, kind).then((answer) => {
        // Sent: the hook chain stops here, so done is not called.
        if (answer !== undefined) sendWriteLocked(reply, answer)
        else done()
      }, done)
    }

    // Callback style, so that a host whose resolveDatabase answers synchronously pays no promise.
    return function databaseLockGuard (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
      const name = nameParam(request.params, param)
      const problem = options.validateName(name)
      if (problem !== null) return done(new InvalidDatabaseNameError(displayName(name), problem))
      let resolved: ReturnType<ResolvedOptions['resolveDatabase']>
      try {
        resolved = options.resolveDatabase(name, request)
      } catch (err) {
        return done(asError(err))
      }
      if (isThenable(resolved)) {
        Promise.resolve(resolved).then((target) => { decide(request, reply, name, target, done) }, (err: unknown) => { done(asError(err)) })
      } else {
        decide(request, reply, name, resolved, done)
      }
    }
  }

  /**
   * Counts the operation as in flight while its handler runs, after checking once more unless
   * the guard's check ran in the same synchronous step: a lock applied between the guard and
   * the handler (a hook after the guard that waits) stops it here (no I/O, the same Map lookups).
   * An aborted request whose handler still runs stays counted: a lock waits for the delete,
   * not for the client.
   */
  function trackHandler (handler: RouteHandlerMethod, routeClass: GuardedClass): RouteHandlerMethod {
    const kind: OperationKind = routeClass === 'write' ? 'write' : 'destructive'
    return function trackedHandler (this: FastifyInstance, request, reply) {
      const target = request[kGuardedDatabase]
      if (target === null) return handler.call(this, request, reply)
      const database = target.id
      const name = target.name ?? database
      // Still inside the guard's done(): nothing ran since its check, so no lock can have arrived.
      const refusal = passing === request ? null : view.check(database, kind, name)
      if (refusal !== null) {
        return refusalAnswer(request, nameParam(request.params, param) || database, target, routeClass, refusal).then((answer) => {
          if (answer instanceof Error) throw answer
          return sendWriteLocked(reply, answer)
        })
      }
      const leave = view.enter(database, kind, name)
      let result: ReturnType<RouteHandlerMethod>
      try {
        result = handler.call(this, request, reply)
      } catch (err) {
        leave()
        throw err
      }
      // A native promise is returned as it is, the count ended beside Fastify's own reaction:
      // one promise fewer per request. Another thenable is adopted once (calling `then` twice
      // could run a lazy one, a query builder, twice).
      if (result instanceof Promise) {
        result.then(leave, leave)
        return result
      }
      if (isThenable(result)) {
        return Promise.resolve(result).then((value) => { leave(); return value }, (err: unknown) => { leave(); throw err })
      }
      // A callback-style handler returns before its work is done: it ends with the response.
      if ((result === undefined || result === reply) && !reply.sent) reply.raw.once('close', leave)
      else leave()
      return result
    }
  }

  fastify.addHook('onRoute', (route: RouteOptions) => {
    const routeClass = classifyRoute(route, param)
    if (routeClass === false || routeClass === 'read') return
    if (!hasParam(route.url, param)) {
      throw new InvalidOptionError(`route ${String(route.method)} ${route.url} is marked databaseLock '${routeClass}' but has no :${param} parameter to name the database`)
    }
    const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler]
    route.preHandler = [...existing, guardFor(routeClass)]
    route.handler = trackHandler(route.handler, routeClass)
    addRefusalSchemas(route, routeClass)
  })
}

/**
 * The refusals the guard adds to a route (see guardResponses in responses.ts), for its serializer (they keep
 * their extra fields: database, reason, retryAfter) and for the OpenAPI document. A status the
 * route declares itself is left as it is. Not 400 or 401: a schema added there would also shape
 * the host's own 400/401 bodies (a body of another shape would fail to serialize), so the host
 * documents those (INVALID_DATABASE_NAME, AUTHENTICATION_REQUIRED) with its own.
 */
function addRefusalSchemas (route: RouteOptions, routeClass: GuardedClass): void {
  const schema = route.schema ?? {}
  const declared: unknown = schema.response
  const response: Record<string, unknown> = typeof declared === 'object' && declared !== null ? { ...declared } : {}
  for (const [status, answer] of Object.entries(GUARD_RESPONSES[routeClass])) {
    const range = `${status[0]}xx`
    if (response[range] === undefined && response[range.toUpperCase()] === undefined && response[status] === undefined) response[status] = answer
  }
  route.schema = { ...schema, response }
}
