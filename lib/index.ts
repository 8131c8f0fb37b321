// The plugin: options in, decorator out; it wires the store, the view, the routes and the guard.
import fastifyAuth from '@fastify/auth'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { DatabaseLockOptions, LockStore } from '../types/index.js'
import { createStrategies } from './auth.js'
import { createDecorator } from './decorator.js'
import { InvalidOptionError } from './errors.js'
import { installGuard } from './guard.js'
import { MAX_NAME_LENGTH } from './names.js'
import { resolveOptions, type StoreChoice } from './options.js'
import { registerRoutes } from './routes.js'
import { AuditLog } from './audit.js'
import { LockService } from './service.js'
import { capabilitiesOf } from './store/capabilities.js'
import { PostgresLockStore } from './store/postgres/postgres-store.js'
import { SqliteLockStore } from './store/sqlite/sqlite-store.js'
import { LockView } from './view.js'

function openStore (choice: StoreChoice): LockStore {
  switch (choice.kind) {
    case 'given': return choice.store
    case 'postgres': return new PostgresLockStore({ url: choice.url })
    case 'sqlite': return new SqliteLockStore({ path: choice.path })
  }
}

async function databaseLockPlugin (fastify: FastifyInstance, rawOptions: DatabaseLockOptions): Promise<void> {
  const options = resolveOptions(rawOptions)
  const maxParamLength = fastify.initialConfig.routerOptions?.maxParamLength ?? 100
  if (maxParamLength < MAX_NAME_LENGTH) {
    // Longer names would get Fastify's 414 before any route runs: say why once, at start.
    fastify.log.warn(`database-lock: maxParamLength is ${maxParamLength}; database names may be ${MAX_NAME_LENGTH} characters. Create the server with Fastify({ routerOptions: { maxParamLength: 1024 } })`)
  }
  const ownsStore = options.store.kind !== 'given'
  const store = openStore(options.store)
  const capabilities = capabilitiesOf(store)
  const view = new LockView({
    store,
    visitLive: capabilities.visitLive,
    watchChanges: capabilities.watchChanges,
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
  const audit = new AuditLog(capabilities.events, fastify.log, options.now, options.audit, options.onLockEvent)
  const service = new LockService(options, store, view, fastify.log, audit)

  if (!fastify.hasDecorator('auth')) await fastify.register(fastifyAuth)
  registerRoutes(fastify, options, service, createStrategies(options, service))
  installGuard(fastify, options, view, audit, store)
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
export { SqliteLockStore, type SqliteLockStoreOptions } from './store/sqlite/sqlite-store.js'
export { PostgresLockStore, type PostgresLockStoreOptions } from './store/postgres/postgres-store.js'
export { LockStoreError, type LockStoreErrorCode } from './store/store-errors.js'
export { checkDatabaseName } from './names.js'
export {
  createLockClient, LockClientError, ClientErrorCodes, type LockClient, type LockClientOptions, type ClientLockOptions,
  type WithLockOptions, type WithLockPhase, type LockErrorBody, type EventsOptions, LockEventTypes
} from './client.js'
export { classifyRoute } from './guard.js'
export { markOptionalBodies, OPTIONAL_BODY_OPERATIONS } from './openapi.js'
export { RefusalSchema as DatabaseLockRefusalSchema, LockStatusSchema, LockListSchema } from './schemas.generated.js'
export * as errors from './errors.js'
export { InvalidOptionError }
export type * from '../types/index.js'

// `require('fastify-database-lock')` returns the plugin itself, as Fastify plugins do,
// with every named export (and `default`) on it; `import` gets the same function.
module.exports = Object.assign(databaseLock, exports)
