// The plugin: options in, decorator out; it wires the store, the view, the routes and the guard.
import fastifyAuth from '@fastify/auth'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { DatabaseLockDecorator, DatabaseLockOptions, LockMode } from '../types/index.js'
import { createStrategies } from './auth.js'
import { InvalidOptionError, InvalidRequestError } from './errors.js'
import { installGuard } from './guard.js'
import { MAX_NAME_LENGTH } from './names.js'
import { resolveOptions } from './options.js'
import { registerRoutes } from './routes.js'
import { AuditLog, PROGRAM_ORIGIN, type EventOrigin } from './audit.js'
import {
  DEFAULT_EVENTS_LIMIT, DEFAULT_LIST_LIMIT, LOCK_MODES, MAX_EVENTS_LIMIT, MAX_LIST_LIMIT, MAX_REASON_LENGTH, MAX_TTL_SECONDS
} from './limits.js'
import { LockService } from './service.js'
import { PostgresLockStore } from './store/postgres.js'
import { SqliteLockStore } from './store/sqlite.js'
import { LockView } from './view.js'

const MODES = new Set<unknown>(LOCK_MODES)

function checkMode (mode: unknown): LockMode {
  if (mode === undefined) return 'delete'
  if (!MODES.has(mode)) throw new InvalidRequestError(`mode must be "delete" or "write", got ${JSON.stringify(mode)}`)
  return mode as LockMode
}

function programOrigin (by: string): EventOrigin {
  return { ...PROGRAM_ORIGIN, principal: by }
}

function createDecorator (service: LockService): DatabaseLockDecorator {
  return {
    async lock (database, options = {}) {
      const mode = checkMode(options.mode)
      if (options.reason !== undefined && (typeof options.reason !== 'string' || options.reason.length > MAX_REASON_LENGTH)) {
        throw new InvalidRequestError(`reason must be a string of at most ${MAX_REASON_LENGTH} characters`)
      }
      if (options.ttl !== undefined && (!Number.isInteger(options.ttl) || options.ttl < 1 || options.ttl > MAX_TTL_SECONDS)) {
        throw new InvalidRequestError(`ttl must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`)
      }
      const target = await service.resolve(database)
      const by = options.by ?? 'program'
      return service.lock(target, { mode, reason: options.reason, ttl: options.ttl, by }, programOrigin(by))
    },
    async unlock (database, options = {}) {
      return service.unlock(await service.resolve(database), checkMode(options.mode), programOrigin(options.by ?? 'program'))
    },
    async events (database, options = {}) {
      const limit = options.limit ?? DEFAULT_EVENTS_LIMIT
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EVENTS_LIMIT) {
        throw new InvalidRequestError(`limit must be a whole number from 1 to ${MAX_EVENTS_LIMIT}`)
      }
      return service.events(await service.resolve(database), options.type ?? null, limit, options.cursor)
    },
    async status (database) {
      return service.status(await service.resolve(database))
    },
    async list (options = {}) {
      const limit = options.limit ?? DEFAULT_LIST_LIMIT
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
        throw new InvalidRequestError(`limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`)
      }
      return service.list(limit, options.cursor)
    }
  }
}

async function databaseLockPlugin (fastify: FastifyInstance, rawOptions: DatabaseLockOptions): Promise<void> {
  const options = resolveOptions(rawOptions)
  const maxParamLength = fastify.initialConfig.routerOptions?.maxParamLength ?? 100
  if (maxParamLength < MAX_NAME_LENGTH) {
    // Longer names would get Fastify's 404 before any route runs: say why once, at start.
    fastify.log.warn(`database-lock: maxParamLength is ${maxParamLength}; database names may be ${MAX_NAME_LENGTH} characters. Create the server with Fastify({ routerOptions: { maxParamLength: 1024 } })`)
  }
  const ownsStore = options.store === undefined
  const store = options.store ?? (options.url !== undefined
    ? new PostgresLockStore({ url: options.url })
    : new SqliteLockStore({ path: options.path as string }))
  const view = new LockView({
    store,
    now: options.now,
    log: fastify.log,
    pollInterval: options.pollInterval,
    heartbeatInterval: options.heartbeatInterval,
    processTimeout: options.processTimeout,
    maxStaleness: options.maxStaleness
  })
  try {
    await view.start()
  } catch (err) {
    if (ownsStore) await store.close()
    throw err
  }
  const audit = new AuditLog(store, fastify.log, options.now, options.audit)
  audit.start()
  const service = new LockService(options, store, view, fastify.log, audit)

  if (!fastify.hasDecorator('auth')) await fastify.register(fastifyAuth)
  registerRoutes(fastify, options, service, createStrategies(options, service))
  installGuard(fastify, options, view, audit)
  fastify.decorate('databaseLock', createDecorator(service))

  // Expired locks never block (the view compares expiry on every check); this only tidies the store.
  const housekeeping = setInterval(() => {
    Promise.all([
      store.purgeExpired(options.now()).then((expired) => { audit.logExpired(expired) }),
      store.reapProcesses(Date.now() - options.processTimeout),
      audit.prune(options.auditRetentionDays)
    ]).catch((err: unknown) => { fastify.log.warn({ err }, 'database-lock: housekeeping of the lock store failed') })
  }, options.purgeInterval)
  housekeeping.unref()

  fastify.addHook('onClose', async () => {
    clearInterval(housekeeping)
    await audit.stop()
    await view.stop()
    try {
      await store.forgetProcess(view.processId)
    } catch (err) {
      fastify.log.warn({ err }, 'database-lock: could not remove this process from the lock store')
    }
    if (ownsStore) await store.close()
  })
}

const databaseLock = fp(databaseLockPlugin, {
  fastify: '5.x',
  name: 'fastify-database-lock'
})

export default databaseLock
export { databaseLock, databaseLock as fastifyDatabaseLock }
export { SqliteLockStore, type SqliteLockStoreOptions } from './store/sqlite.js'
export { PostgresLockStore, type PostgresLockStoreOptions } from './store/postgres.js'
export { checkDatabaseName } from './names.js'
export {
  createLockClient, LockClientError, ClientErrorCodes, type LockClient, type LockClientOptions, type ClientLockOptions,
  type WithLockOptions, type WithLockPhase, type LockErrorBody, type EventsOptions, LockEventTypes
} from './client.js'
export { classifyRoute } from './guard.js'
export { RefusalSchema as DatabaseLockRefusalSchema, LockStatusSchema, LockListSchema } from './schemas.js'
export * as errors from './errors.js'
export { InvalidOptionError }
export type * from '../types/index.js'

// `require('fastify-database-lock')` returns the plugin itself, as Fastify plugins do,
// with every named export (and `default`) on it; `import` gets the same function.
module.exports = Object.assign(databaseLock, exports)
