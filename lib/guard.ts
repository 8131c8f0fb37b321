// Where a DELETE is refused: routes are classified once (onRoute) and only
// guarded routes get the preHandler that checks the in-memory lock view.
import type {
  FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod, RouteOptions, preHandlerHookHandler
} from 'fastify'
import type { RouteLockClass } from '../types/index.js'
import {
  DatabaseLockedError, DatabaseWriteLockedError, InvalidDatabaseNameError, InvalidOptionError, LockStoreUnavailableError
} from './errors.js'
import { displayName } from './names.js'
import { type AuditLog, originOf } from './audit.js'
import type { ResolvedOptions } from './options.js'
import { RefusalSchema } from './schemas.js'
import type { LockView, OperationKind } from './view.js'

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH'])
const CLASSES = new Set<unknown>(['delete', 'reset', 'write', 'read', false])

function hasParam (url: string, param: string): boolean {
  return new RegExp(`(^|/):${param}(?![A-Za-z0-9_])`).test(url)
}

/** How the guard treats a route: its `config.databaseLock`, else by method when it has the database param. */
export function classifyRoute (route: Pick<RouteOptions, 'method' | 'url' | 'config'>, param: string): RouteLockClass {
  const configured = (route.config as { databaseLock?: unknown } | undefined)?.databaseLock
  if (configured !== undefined) {
    if (!CLASSES.has(configured)) {
      throw new InvalidOptionError(`route ${String(route.method)} ${route.url} has config.databaseLock ${JSON.stringify(configured)}; use 'delete', 'reset', 'write', 'read' or false`)
    }
    return configured as RouteLockClass
  }
  if (!hasParam(route.url, param)) return 'read'
  const methods = (Array.isArray(route.method) ? route.method : [route.method]).map((method) => String(method).toUpperCase())
  if (methods.includes('DELETE')) return 'delete'
  if (methods.some((method) => WRITE_METHODS.has(method))) return 'write'
  return 'read'
}

interface Tracking {
  database: string
  kind: OperationKind
  handlerRunning: boolean
  responseClosed: boolean
  finished: boolean
}

export function installGuard (fastify: FastifyInstance, options: ResolvedOptions, view: LockView, audit: AuditLog): void {
  const { param, prefix } = options
  const tracked = new WeakMap<FastifyRequest, Tracking>()

  function finish (tracking: Tracking): void {
    if (tracking.finished) return
    tracking.finished = true
    view.leave(tracking.database, tracking.kind)
  }

  /** Counts the operation as in flight until its handler settled and its response closed. */
  function track (request: FastifyRequest, reply: FastifyReply, database: string, kind: OperationKind): void {
    view.enter(database, kind)
    const tracking: Tracking = { database, kind, handlerRunning: false, responseClosed: false, finished: false }
    tracked.set(request, tracking)
    reply.raw.once('close', () => {
      tracking.responseClosed = true
      if (!tracking.handlerRunning) finish(tracking)
    })
  }

  /** An aborted request's handler may still be deleting: the operation ends when the handler does. */
  function trackHandler (handler: RouteHandlerMethod): RouteHandlerMethod {
    return function trackedHandler (this: FastifyInstance, request, reply) {
      const tracking = tracked.get(request)
      if (tracking === undefined) return handler.call(this, request, reply)
      const settle = (): void => {
        tracking.handlerRunning = false
        if (tracking.responseClosed) finish(tracking)
      }
      tracking.handlerRunning = true
      let result: unknown
      try {
        result = handler.call(this, request, reply)
      } catch (err) {
        settle()
        throw err
      }
      if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
        return (result as Promise<unknown>).then((value) => { settle(); return value }, (err: unknown) => { settle(); throw err })
      }
      settle()
      return result
    } as RouteHandlerMethod
  }

  function guardFor (routeClass: 'delete' | 'reset' | 'write'): preHandlerHookHandler {
    const kind: OperationKind = routeClass === 'write' ? 'write' : 'destructive'
    return async function databaseLockGuard (request: FastifyRequest, reply: FastifyReply) {
      const name = (request.params as Record<string, string | undefined>)[param] ?? ''
      const problem = options.validateName(name)
      if (problem !== null) throw new InvalidDatabaseNameError(displayName(name), problem)
      const target = await options.resolveDatabase(name, request)
      // A database that does not exist has no lock; the route itself answers.
      if (target === null || target === undefined) return

      if (!view.isFresh()) {
        try {
          await view.refresh(true)
        } catch (err) {
          if (options.failOpen && kind === 'write') {
            request.log.warn({ err, database: target.id }, 'database-lock: lock store unavailable; write let through (failOpen)')
            return
          }
          request.log.error({ err, database: target.id }, 'database-lock: lock store unavailable; request refused')
          throw new LockStoreUnavailableError()
        }
      }

      const verdict = view.check(target.id)
      if ((verdict.deleteLocked && kind === 'destructive') || verdict.write !== null) {
        // Refused: the audit trail learns who tried (the refusal path may await the host).
        const principal = await options.principal(request)
        const mode = verdict.deleteLocked && kind === 'destructive' ? 'delete' : 'write'
        audit.blocked(target.id, mode, mode === 'write' ? verdict.write?.reason ?? null : null, originOf(request, principal ?? null))
      }
      if (verdict.deleteLocked && kind === 'destructive') {
        throw Object.assign(new DatabaseLockedError(displayName(target.id), `${prefix}/${encodeURIComponent(name)}/unlock`), {
          database: target.id,
          operation: routeClass
        })
      }
      if (verdict.write !== null) {
        const seconds = Math.ceil((verdict.write.until - options.now()) / 1000)
        const retryAfter = Math.max(1, Math.min(seconds, options.maxRetryAfter))
        const reason = verdict.write.reason
        throw Object.assign(new DatabaseWriteLockedError(displayName(target.id), reason ?? 'maintenance', retryAfter), {
          database: target.id,
          operation: routeClass,
          reason,
          retryAfter,
          headers: { 'retry-after': String(retryAfter) }
        })
      }
      track(request, reply, target.id, kind)
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
    route.handler = trackHandler(route.handler)
    addRefusalSchemas(route)
  })
}

/** Lets 403/503 refusals keep their extra fields (database, reason, retryAfter) through serialization. */
function addRefusalSchemas (route: RouteOptions): void {
  const schema = route.schema ?? {}
  const response = { ...(schema.response as Record<string, unknown> | undefined) }
  if (response['4xx'] === undefined && response['403'] === undefined) response['403'] = RefusalSchema
  if (response['5xx'] === undefined && response['503'] === undefined) response['503'] = RefusalSchema
  route.schema = { ...schema, response }
}
