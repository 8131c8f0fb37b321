// Who may lock: the database's owner or a service holding the admin key.
// Both are @fastify/auth strategies, tried with relation 'or' beside the host's own.
import type { FastifyAuthFunction } from '@fastify/auth'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ResolvedDatabase } from '../types/index.js'
import { safeEqual } from './compare.js'
import {
  AdminRequiredError, AuthenticationRequiredError, DatabaseNotFoundError, InvalidAdminKeyError, NotDatabaseOwnerError
} from './errors.js'
import { nameParam } from './names.js'
import type { ResolvedOptions } from './options.js'
import type { LockService } from './service.js'

export const ADMIN_PRINCIPAL = 'admin-key'

/** Per-request results of the strategies: the resolved database, admin status, failures. */
interface AuthState {
  target?: ResolvedDatabase
  admin: boolean
  failures: Error[]
}

const states = new WeakMap<FastifyRequest, AuthState>()

function stateOf (request: FastifyRequest): AuthState {
  let state = states.get(request)
  if (state === undefined) {
    state = { admin: false, failures: [] }
    states.set(request, state)
  }
  return state
}

/** @fastify/auth reports the last strategy's error; we report the most telling one instead. */
function rank (err: Error): number {
  if (err instanceof DatabaseNotFoundError) return 3
  if (err instanceof AuthenticationRequiredError) return 1
  return 2
}

function fail (request: FastifyRequest, err: Error): Error {
  const state = stateOf(request)
  state.failures.push(err)
  return state.failures.reduce((best, next) => rank(next) > rank(best) ? next : best)
}

/** Whether the request carries the configured admin key (compared in constant time). */
export function presentsAdminKey (request: FastifyRequest, adminKey: string | null): boolean {
  const header = request.headers['x-admin-key']
  const presented = Array.isArray(header) ? header[0] : header
  return adminKey !== null && presented !== undefined && safeEqual(presented, adminKey)
}

export function isAdmin (request: FastifyRequest): boolean {
  return states.get(request)?.admin === true
}

export function resolvedTarget (request: FastifyRequest): ResolvedDatabase | undefined {
  return states.get(request)?.target
}

export function databaseName (request: FastifyRequest, param: string): string {
  return nameParam(request.params, param)
}

export function createStrategies (options: ResolvedOptions, service: LockService) {
  function checkAdminKey (request: FastifyRequest, presented: string): Error | null {
    if (options.adminKey === null) {
      request.log.warn({ code: 'INVALID_ADMIN_KEY' }, 'database-lock: X-Admin-Key sent, but no admin key is configured')
      return new InvalidAdminKeyError('this service has no admin key configured; authenticate as the database owner')
    }
    if (!safeEqual(presented, options.adminKey)) {
      // Never log the key itself, not even a wrong one: it may be a near miss of the real one.
      request.log.warn({ code: 'INVALID_ADMIN_KEY' }, 'database-lock: wrong X-Admin-Key refused')
      return new InvalidAdminKeyError('it does not match the configured key')
    }
    return null
  }

  function presentedKey (request: FastifyRequest): string | undefined {
    const header = request.headers['x-admin-key']
    return Array.isArray(header) ? header[0] : header
  }

  const adminKey: FastifyAuthFunction = async function adminKey (request: FastifyRequest, _reply: FastifyReply) {
    const presented = presentedKey(request)
    if (presented === undefined) throw fail(request, new AuthenticationRequiredError())
    const refused = checkAdminKey(request, presented)
    if (refused !== null) throw fail(request, refused)
    stateOf(request).admin = true
  }

  const owner: FastifyAuthFunction = async function owner (request: FastifyRequest, _reply: FastifyReply) {
    const principal = await options.principal(request)
    if (principal === null || principal === undefined) throw fail(request, new AuthenticationRequiredError())
    let target: ResolvedDatabase
    try {
      target = await service.resolve(databaseName(request, options.param), request)
    } catch (err) {
      throw fail(request, err instanceof Error ? err : new Error(String(err)))
    }
    stateOf(request).target = target
    if (target.owner !== principal) throw fail(request, new NotDatabaseOwnerError(target.id))
  }

  /** For routes about every database: only the admin key will do. */
  const adminOnly: FastifyAuthFunction = async function adminOnly (request: FastifyRequest, _reply: FastifyReply) {
    const presented = presentedKey(request)
    if (presented === undefined) {
      const principal = await options.principal(request)
      throw fail(request, principal === null || principal === undefined ? new AuthenticationRequiredError() : new AdminRequiredError())
    }
    const refused = checkAdminKey(request, presented)
    if (refused !== null) throw fail(request, refused)
    stateOf(request).admin = true
  }

  return { adminKey, owner, adminOnly }
}

export type Strategies = ReturnType<typeof createStrategies>
