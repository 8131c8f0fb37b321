// The public type contract of fastify-database-lock: what hosts write against.
// Implementation files import from here; nothing here has runtime code. The shapes the
// API sends are the TypeBox schemas of lib/schemas.ts: their types are derived here, so
// the validator, the serializer, the OpenAPI document and these types cannot disagree.
import type { FastifyRequest } from 'fastify'
import type { FastifyAuthFunction } from '@fastify/auth'
import type { Static } from 'typebox'
import type {
  ListedLockSchema, LockEventPageSchema, LockEventTypeSchema, LockInfoSchema, LockListSchema, LockModeSchema, LockStatusSchema,
  UnlockAnswerSchema, UnlockPolicySchema
} from '../lib/schemas.js'

/** `delete` refuses deletes and resets (403); `write` refuses every guarded write (503). */
export type LockMode = Static<typeof LockModeSchema>

/**
 * How a lock may be lifted: `{ delay }` (seconds after the unlock request), `{ approvals }`
 * (distinct principals asking; then the delay, when both are given), or `'never'` (only at its
 * expiry). No policy: at once.
 */
export type UnlockPolicy = Static<typeof UnlockPolicySchema>

/** How a route is treated by the guard; `false` opts a route out. */
export type RouteLockClass = 'delete' | 'reset' | 'write' | 'read' | false

/** One live lock as the store keeps it. Times are milliseconds since the epoch. */
export interface LockRecord {
  database: string
  mode: LockMode
  /** Who holds it: a database has at most one lock per (mode, holder), and each holder lifts only its own. */
  holder: string
  /** For a lock taken with `children`: the namespaced name whose every descendant it also covers; else null. */
  namespace: string | null
  reason: string | null
  lockedBy: string
  lockedAt: number
  expiresAt: number | null
  /** Its unlock policy; null: unlocked at once. */
  unlock: UnlockPolicy | null
  /** When a requested unlock lifts it (ms); null: none pending. */
  unlockAt: number | null
  /** Who has asked to unlock it, under an `approvals` policy (distinct principals; the admin key is `admin`). */
  approvals: string[]
}

/** One lock as the HTTP API and the decorator return it: times are ISO 8601 strings. */
export type LockInfo = Static<typeof LockInfoSchema>

/** A database's locks; `locked` is true while any live lock exists. */
export type LockStatus = Static<typeof LockStatusSchema>

/**
 * What unlock answers: the status, and while the lock stays in force under its policy (HTTP
 * 202), `code` `UNLOCK_SCHEDULED` or `UNLOCK_APPROVAL_RECORDED` with a message.
 */
export type UnlockAnswer = Static<typeof UnlockAnswerSchema>

export type ListedLock = Static<typeof ListedLockSchema>

/** One page of every live lock; pass `nextCursor` back as `cursor` for the next (null on the last page). */
export type LockList = Static<typeof LockListSchema>

/** What the host's `resolveDatabase` answers: one canonical id and its owner. */
export interface ResolvedDatabase {
  id: string
  owner: string
  /**
   * The canonical namespaced name (segments joined by `.` or `/`) that inherited locks follow:
   * a `children` lock on `acme` covers every database whose name is below `acme`. Default: `id`.
   */
  name?: string
}

export interface LockOptions {
  mode?: LockMode
  reason?: string
  /** Seconds until the lock lifts by itself (1 to 31,536,000). */
  ttl?: number
  /** Who takes the lock; recorded as `lockedBy`. Defaults to `'program'`. */
  by?: string
  /** Whose lock it is (1–64 of `[A-Za-z0-9._:@-]`, starting with a letter or digit). Defaults to `by`. */
  holder?: string
  /** Also lock every database whose name is below this one. */
  children?: boolean
  /** How the lock may be lifted (may only be strengthened later). Default: the `defaultUnlock` option for delete locks. */
  unlock?: UnlockPolicy
}

export interface UnlockOptions {
  mode?: LockMode
  /** Who unlocks, for the audit trail. Defaults to `'program'`. */
  by?: string
  /** Whose lock to lift; `'*'` lifts every holder's lock of the mode. Defaults to `by`. */
  holder?: string
}

export interface ListOptions {
  limit?: number
  cursor?: string
}

/** `fastify.databaseLock`: the routes' operations for programs. */
export interface DatabaseLockDecorator {
  lock(database: string, options?: LockOptions): Promise<LockStatus>
  /** Lifts the lock, or (under its unlock policy) records the request: `code` says which, as the 202 of the route does. */
  unlock(database: string, options?: UnlockOptions): Promise<UnlockAnswer>
  status(database: string): Promise<LockStatus>
  list(options?: ListOptions): Promise<LockList>
  /** Audit events of a database, newest first. */
  events(database: string, options?: { type?: LockEventType, limit?: number, cursor?: string }): Promise<LockEventPage>
}

/** A lock row to write: `expiresAt` null never expires. */
export interface AcquireInput {
  database: string
  mode: LockMode
  holder: string
  /** The name below which the lock also applies (a `children` lock), or null. */
  namespace: string | null
  reason: string | null
  lockedBy: string
  now: number
  expiresAt: number | null
  /** Unlock policy of a new lock; on an existing one, only with `refreshUnlock` (and only stronger). */
  unlock: UnlockPolicy | null
  /** On an existing lock: replace its reason / expiry / namespace / policy (idempotent refresh). */
  refreshReason: boolean
  refreshExpiry: boolean
  refreshNamespace: boolean
  refreshUnlock: boolean
  /** When given, a store that keeps events writes `locked` / `relocked` (at `now`) in the same transaction. */
  audit?: AuditStamp
}

/** Who causes a change, for the audit event a store writes in the change's own transaction. */
export interface AuditStamp {
  principal: string | null
  requestId: string | null
  client: string | null
  route: string | null
  /** Who owned the database then: only they (and the admin key) may read the event. Also kept on a new lock row. */
  owner: string | null
  /** Milliseconds since the epoch. */
  at: number
}

export interface AcquireResult {
  /** Set when the lock exists and the request would weaken it (an earlier expiry, a weaker unlock policy): nothing was changed. */
  conflict?: 'expiry' | 'unlock'
  /** Locking again withdrew a pending unlock (an `unlock-cancelled` event was written with it). */
  cancelled?: boolean
  record: LockRecord
  /** True when this call created the row (false: it was already locked). */
  created: boolean
  /** Store version after the write; every process must reach it. */
  version: number
  /** Identifies the row this call created, to roll it back on a conflict. */
  rowId: number
  /** Optional: what the write changed, so the writer's own view applies it without reading the store. */
  change?: OwnChange
}

/** What an unlock request did to each holder's lock. */
export interface UnlockOutcome {
  version: number
  /** Holders whose lock went. */
  released: string[]
  /** Locks that stay until `unlockAt` (ms). */
  scheduled: Array<{ holder: string, unlockAt: number }>
  /** Locks that wait for more approvals. */
  awaiting: Array<{ holder: string, approvals: string[], needed: number }>
  /** Locks under `never`: unchanged. */
  forbidden: string[]
  /** The audit events written, in order (the plugin logs them and tells `onLockEvent`). */
  events: Array<{ type: LockEventType, holder: string, detail: string | null }>
  /** Optional: what the write changed, so the writer's own view applies it without reading the store. */
  change?: OwnChange
  /** Optional, when `statusOf` was given: the database's locks after the unlock, as locksOf answers them. */
  locks?: LockRecord[]
}

/** Changes since a version: the current live rows of each changed database. */
export interface StoreChanges {
  version: number
  databases: string[]
  rows: LockRecord[]
}

/**
 * A write's own change, as `changesSince(from, now)` would have answered right after it: set only
 * when nothing else was committed between `from` and `version`. A view that has applied exactly
 * `from` applies it as it is; any other view reads the store.
 */
export interface OwnChange extends StoreChanges {
  from: number
}

/** How far the other processes are from honouring a new lock. */
/** Whose in-flight operations a new lock waits for: one name, or the name and every name below it. */
export interface DrainTarget {
  name: string
  subtree: boolean
}

export interface DrainState {
  /** Live processes that have not applied the version yet. */
  lagging: number
  /** Live processes still running a blocked operation on the database. */
  draining: number
  /** Optional: what `locksOf` answers for the `statusOf` asked, read with the counts (saves a read). */
  locks?: LockRecord[]
}

/** The status `drainState` may read along: `locksOf(database, now, ancestors)`. */
export interface StatusRequest {
  database: string
  now: number
  ancestors: readonly string[]
}

export interface ProcessReport {
  processId: string
  pid: number
  appliedVersion: number
  /** Names (ResolvedDatabase.name, else id) of databases on which this process runs operations that a current lock blocks. */
  draining: string[]
  heartbeatAt: number
}

/** What happened to a database's locks. */
export type LockEventType = Static<typeof LockEventTypeSchema>

/** One audit event; `count` > 1 only for `blocked` (refusals folded within one second). */
export interface LockEvent {
  type: LockEventType
  database: string
  mode: LockMode | null
  /** Whose lock the event is about (null: a refusal, which may be caused by several). */
  holder: string | null
  /** The step of a guarded unlock (`approval 1 of 2`, `lifts at …`, `scheduled unlock`), else null. */
  detail?: string | null
  /** Who acted: a principal, `admin-key`, or null (expiry). */
  principal: string | null
  reason: string | null
  requestId: string | null
  /** Client address. */
  client: string | null
  /** Method and URL pattern, e.g. `DELETE /v1/database/:name`. */
  route: string | null
  /** Who owned the database when it happened (null: unknown, before schema version 3). */
  owner: string | null
  /** Milliseconds since the epoch. */
  at: number
  count: number
}

export interface StoredLockEvent extends LockEvent {
  id: number
}

/** Audit events as the events route and the decorator return them (`at` as an ISO 8601 string). */
export type LockEventPage = Static<typeof LockEventPageSchema>

/** A store's watch for changes (LockStore#watchChanges). */
export interface StoreWatch {
  /** False while the watch may be missing changes: the plugin then polls every `pollInterval`. */
  healthy(): boolean
  close(): void
}

/**
 * Where locks live. Every method may throw; the plugin turns a throw into
 * 503 LOCK_STORE_UNAVAILABLE and never shows the cause to clients.
 * `now` arguments come from the plugin's clock so expiry can be tested.
 */
export interface LockStore {
  acquire(input: AcquireInput): Promise<AcquireResult>
  /**
   * Removes `holder`'s lock of `mode` (null: every holder's); with `rowId`, only that very row (a
   * rollback). With `audit`, records one `unlocked` event per row removed. Returns the holders released.
   */
  release(database: string, mode: LockMode, holder: string | null, rowId?: number, audit?: AuditStamp): Promise<{ released: boolean, holders: string[], version: number }>
  /**
   * The live locks of `database`, ordered by mode then holder, followed by the `children` locks
   * whose namespace is one of `ancestors` (the names above it).
   */
  locksOf(database: string, now: number, ancestors?: readonly string[]): Promise<LockRecord[]>
  list(options: { limit: number, after: { database: string, mode: LockMode, holder: string } | null, now: number }): Promise<LockRecord[]>
  /**
   * Asks to lift `holder`'s lock of `mode` (null: every holder's) on behalf of `principal`, each
   * row under its own unlock policy, in one transaction: a row without a policy goes; `never`
   * stays; an approval or a delay is recorded. With `audit`, one event per step.
   */
  /**
   * With `statusOf`, a store may read the database's locks along with the write and return them
   * as `locks` (what locksOf would answer after it), saving the plugin a read.
   */
  requestUnlock(database: string, mode: LockMode, holder: string | null, principal: string, now: number, audit?: AuditStamp, statusOf?: StatusRequest): Promise<UnlockOutcome>
  /**
   * Removes locks that expired or whose scheduled unlock came, recording `expired` (or `unlocked`)
   * audit events when the store keeps events; returns them.
   */
  purgeExpired(now: number): Promise<LockRecord[]>

  /** Every live lock, for a process's first view. */
  snapshot(now: number): Promise<{ version: number, rows: LockRecord[] }>
  /**
   * Optional, for large stores: visits every live lock without building an array of
   * records (a million locks load in a fraction of the memory). Returns the version read.
   */
  visitLive?(
    now: number,
    visit: (database: string, mode: LockMode, expiresAt: number | null, reason: string | null, namespace: string | null) => void,
    /**
     * When given, the store may hand over the names of permanent delete locks (no expiry, no
     * pending unlock, no `children`) in bulk instead, '\n'-separated UTF-8 (a name holding a
     * '\n' goes to `visit`): the bulk of a large store, loaded without a string per name. A
     * store that ignores it visits them too.
     */
    permanentDeletes?: (names: Uint8Array) => void
  ): Promise<number>
  /**
   * Cheap: has anything been written since the last call? With `appliedVersion` (the version
   * the caller has applied, its own writes included), a store may leave out news of versions up
   * to it, so that a writer does not read back its own write. A store may ignore it.
   */
  hasChanged(appliedVersion?: number): Promise<boolean>
  /**
   * Optional: calls `onChange` soon after another connection commits a change, so that the
   * plugin polls at once instead of often. Null when the store cannot watch; the plugin then
   * polls every `pollInterval`.
   */
  watchChanges?(onChange: () => void): StoreWatch | null
  /** Lock changes after `version`, or null when they are no longer kept (take a snapshot). */
  changesSince(version: number, now: number): Promise<StoreChanges | null>

  report(report: ProcessReport): Promise<void>
  drainState(target: DrainTarget, version: number, liveSince: number, exceptProcessId?: string, statusOf?: StatusRequest): Promise<DrainState>
  forgetProcess(processId: string): Promise<void>
  /** Removes rows of processes whose heartbeat is older than `before`. */
  reapProcesses(before: number): Promise<number>

  close(): Promise<void>

  /** Audit trail (optional: a store without it has no events route data). Appends in one transaction. */
  appendEvents?(events: LockEvent[]): Promise<void>
  /** Newest first (by `at`, then `id`), strictly after the `before` position when given. */
  /** With `owner`, only the events from while that principal owned the database; null: every event. */
  listEvents?(options: { database: string, type: LockEventType | null, before: { at: number, id: number } | null, limit: number, owner: string | null }): Promise<StoredLockEvent[]>
  /** Removes events older than `before`; returns how many. */
  pruneEvents?(before: number): Promise<number>
}

/** Options of the plugin. */
export interface DatabaseLockOptions {
  /** SQLite file for the lock store (created with its folder). Ignored when `store` or `url` is given. */
  path?: string
  /** PostgreSQL connection string (`postgres://…`): one store shared by processes on several hosts. Ignored when `store` is given. */
  url?: string
  /** A ready LockStore; the plugin does not close a store it did not open. */
  store?: LockStore
  /** Who is calling, or null when the request carries no credentials. */
  principal: (request: FastifyRequest) => string | null | undefined | Promise<string | null | undefined>
  /** Maps a name or an identity to the database's canonical id and owner, or null when unknown. */
  resolveDatabase: (nameOrIdentity: string, request?: FastifyRequest) => ResolvedDatabase | null | undefined | Promise<ResolvedDatabase | null | undefined>
  /** Service credential accepted in `X-Admin-Key`; unset disables it. */
  adminKey?: string
  /** Route prefix of the lock routes. Default `/v1/database`. */
  prefix?: string
  /** Path of the lock list route. Default `/v1/locks`; `false` leaves it out. */
  listPath?: string | false
  /** Route parameter that carries the database name. Default `name`. */
  param?: string
  /** Returns an error message for a bad name, or null. Default: the spec's name rules. */
  validateName?: (name: string) => string | null
  /** Let `write` checks through when the store cannot answer. `delete`/`reset` always fail closed. */
  failOpen?: boolean
  /** Default lifetime of a `write` lock, seconds. Default 7200. */
  writeLockTtl?: number
  /** Upper bound of `Retry-After`, seconds. Default 300. */
  maxRetryAfter?: number
  /** How long `lock` waits for in-flight blocked operations, ms. Default 10000. */
  drainTimeout?: number
  /**
   * How often a process looks for changes in the store, ms, when the store does not wake it. Default 20.
   * The SQLite store wakes it on commits; it then looks every `maxStaleness` / 4 or `heartbeatInterval`
   * (the shorter), never more often than this.
   */
  pollInterval?: number
  /** How often a process writes its heartbeat, ms. Default 500. */
  heartbeatInterval?: number
  /** A process silent for this long is treated as gone, ms. Default 5000. */
  processTimeout?: number
  /** A view older than this is refreshed before a check, and the check fails closed if that fails, ms. Default 1000. */
  maxStaleness?: number
  /** How often expired locks are removed from the store, ms. Default 60000. */
  purgeInterval?: number
  /** Extra @fastify/auth strategies for the lock routes, tried with `relation: 'or'`. */
  authStrategies?: FastifyAuthFunction[]
  /** Keep an audit trail of lock events. Default true. */
  audit?: boolean
  /** Days audit events are kept. Default 90. */
  auditRetentionDays?: number
  /** Unlock policy of delete locks taken without one (same shape as the lock body's `unlock`). Default: none. */
  defaultUnlock?: UnlockPolicy
  /**
   * Hears every audit event as it is recorded (locked, relocked, unlocked, expired, conflict;
   * blocked once per folded second, with its count): forward them to a log pipeline, a
   * webhook, metrics. Needs `audit` (the default). What it throws or rejects is logged and
   * never changes the request's answer; a slow one delays nothing (it is not awaited).
   */
  onLockEvent?: (event: LockEvent) => void | Promise<void>
  /** Clock for lock times and expiry (tests). Default `Date.now`. */
  now?: () => number
}

declare module 'fastify' {
  interface FastifyInstance {
    databaseLock: DatabaseLockDecorator
  }
  interface FastifyContextConfig {
    /** How the database-lock guard treats this route. */
    databaseLock?: RouteLockClass
  }
}
