// Option defaults and checks: a misconfiguration fails at register time, not on the first request.
import type { DatabaseLockOptions, LockStore, UnlockPolicy } from '../types/index.js'
import { InvalidOptionError } from './errors.js'
import { MAX_APPROVALS, MAX_UNLOCK_DELAY_SECONDS, MIN_APPROVALS } from './limits.js'
import { checkDatabaseName } from './names.js'

/** Where the locks live: a store the host gave (and closes), or one the plugin opens and closes. */
export type StoreChoice =
  | { kind: 'given', store: LockStore }
  | { kind: 'sqlite', path: string }
  | { kind: 'postgres', url: string }

export type ResolvedOptions = Required<Omit<DatabaseLockOptions, 'path' | 'url' | 'store' | 'adminKey' | 'listPath' | 'onLockEvent' | 'defaultUnlock'>> & {
  store: StoreChoice
  defaultUnlock: UnlockPolicy | null
  onLockEvent: DatabaseLockOptions['onLockEvent'] | null
  adminKey: string | null
  listPath: string | false
}

function wholeIn (value: unknown, min: number, max: number): boolean {
  return value === undefined || (Number.isInteger(value) && typeof value === 'number' && value >= min && value <= max)
}

/** `defaultUnlock`: the lock body's `unlock`, checked once at register time. */
function unlockPolicyOption (policy: DatabaseLockOptions['defaultUnlock']): UnlockPolicy | null {
  if (policy === undefined) return null
  // A default `never` would make every delete lock taken without a ttl impossible to lift, ever.
  if (policy === 'never') throw new InvalidOptionError('option "defaultUnlock" cannot be "never": give "never" per lock, with its ttl')
  const keys = typeof policy === 'object' && policy !== null ? Object.keys(policy) : []
  if (keys.length === 0 || keys.some((key) => key !== 'delay' && key !== 'approvals') ||
    !wholeIn(policy.delay, 1, MAX_UNLOCK_DELAY_SECONDS) || !wholeIn(policy.approvals, MIN_APPROVALS, MAX_APPROVALS)) {
    throw new InvalidOptionError(`option "defaultUnlock" must be "never" or { delay: 1–${MAX_UNLOCK_DELAY_SECONDS} seconds, approvals: ${MIN_APPROVALS}–${MAX_APPROVALS} } (either or both), got ${JSON.stringify(policy)}`)
  }
  return { ...policy }
}

/** `store` beats `url` beats `path`, as the options' docs say. */
function storeChoice (options: DatabaseLockOptions): StoreChoice {
  if (options.store !== undefined) return { kind: 'given', store: options.store }
  if (options.url !== undefined) {
    if (typeof options.url !== 'string' || !/^postgres(ql)?:\/\//.test(options.url)) {
      throw new InvalidOptionError('option "url" must be a postgres:// or postgresql:// connection string')
    }
    return { kind: 'postgres', url: options.url }
  }
  if (typeof options.path !== 'string' || options.path === '') {
    throw new InvalidOptionError('give either "path" (a SQLite file), "url" (a postgres:// connection string) or "store" (a LockStore)')
  }
  return { kind: 'sqlite', path: options.path }
}

/** `value`, or `fallback` when unset; a value that is not a positive number fails naming `owner`'s option. */
export function positive (name: string, value: number | undefined, fallback: number, owner = ''): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(`${owner}option "${name}" must be a positive number, got ${String(value)}`)
  }
  return value
}

function pathOption (name: string, value: string | undefined, fallback: string): string {
  const path = value ?? fallback
  if (typeof path !== 'string' || !path.startsWith('/') || path.endsWith('/')) {
    throw new InvalidOptionError(`option "${name}" must start with "/" and not end with one, got ${String(value)}`)
  }
  return path
}

export function resolveOptions (options: DatabaseLockOptions): ResolvedOptions {
  if (typeof options.principal !== 'function') {
    throw new InvalidOptionError('option "principal" is required: a function (request) => caller id or null')
  }
  if (typeof options.resolveDatabase !== 'function') {
    throw new InvalidOptionError('option "resolveDatabase" is required: a function (nameOrIdentity, request) => { id, owner } or null')
  }
  if (options.adminKey !== undefined && options.adminKey !== null && (typeof options.adminKey !== 'string' || options.adminKey.length < 16)) {
    throw new InvalidOptionError('option "adminKey" must be a string of at least 16 characters; leave it unset to disable admin access')
  }
  if (options.onLockEvent !== undefined && typeof options.onLockEvent !== 'function') {
    throw new InvalidOptionError('option "onLockEvent" must be a function (event) => void')
  }
  const param = options.param ?? 'name'
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(param)) {
    throw new InvalidOptionError(`option "param" must be a route parameter name, got ${String(param)}`)
  }
  const pollInterval = positive('pollInterval', options.pollInterval, 20)
  const heartbeatInterval = positive('heartbeatInterval', options.heartbeatInterval, 500)
  const processTimeout = positive('processTimeout', options.processTimeout, 5000)
  const maxStaleness = positive('maxStaleness', options.maxStaleness, 1000)
  if (processTimeout <= heartbeatInterval * 2) {
    throw new InvalidOptionError('option "processTimeout" must be more than twice "heartbeatInterval"')
  }
  if (maxStaleness >= processTimeout) {
    // A process must fail closed before the others may treat it as gone.
    throw new InvalidOptionError('option "maxStaleness" must be less than "processTimeout"')
  }
  return {
    store: storeChoice(options),
    principal: options.principal,
    resolveDatabase: options.resolveDatabase,
    adminKey: options.adminKey ?? null,
    prefix: pathOption('prefix', options.prefix, '/v1/database'),
    listPath: options.listPath === false ? false : pathOption('listPath', options.listPath, '/v1/locks'),
    param,
    validateName: options.validateName ?? checkDatabaseName,
    failOpen: options.failOpen === true,
    writeLockTtl: positive('writeLockTtl', options.writeLockTtl, 7200),
    maxRetryAfter: positive('maxRetryAfter', options.maxRetryAfter, 300),
    drainTimeout: positive('drainTimeout', options.drainTimeout, 10_000),
    pollInterval,
    heartbeatInterval,
    processTimeout,
    maxStaleness,
    purgeInterval: positive('purgeInterval', options.purgeInterval, 60_000),
    authStrategies: options.authStrategies ?? [],
    audit: options.audit !== false,
    auditRetentionDays: positive('auditRetentionDays', options.auditRetentionDays, 90),
    onLockEvent: options.onLockEvent ?? null,
    defaultUnlock: unlockPolicyOption(options.defaultUnlock),
    now: options.now ?? Date.now
  }
}
