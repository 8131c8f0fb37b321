// Rows as both stores read and write them: lock records and audit events.
import type { AcquireInput, LockEvent, LockEventType, LockMode, LockRecord, StoredLockEvent, UnlockOutcome, UnlockPolicy } from '../../types/index.js'

/**
 * What `acquire` does with the row it found (both stores decide alike): insert a new lock
 * (none, or only an expired one, which is dead and replaced), or keep the live one, refreshing
 * its reason or expiry when asked (`changed`: a write and a new version are needed).
 */
export type AcquireDecision =
  | { action: 'insert', replacesExpired: boolean }
  /** `cancelled`: locking again withdrew a pending unlock (its time, its approvals). */
  | { action: 'keep', record: LockRecord, changed: boolean, cancelled: boolean }
  /** The request would weaken a live lock: nothing changes. */
  | { action: 'conflict', conflict: 'expiry' | 'unlock', record: LockRecord }

/** When a lock stops blocking: its expiry, or its scheduled unlock when that comes first (ms; null: never). */
export function liftsAt (lock: Pick<LockRecord, 'expiresAt' | 'unlockAt'>): number | null {
  if (lock.unlockAt === null) return lock.expiresAt
  return lock.expiresAt === null || lock.unlockAt < lock.expiresAt ? lock.unlockAt : lock.expiresAt
}

export function isLive (lock: Pick<LockRecord, 'expiresAt' | 'unlockAt'>, now: number): boolean {
  const end = liftsAt(lock)
  return end === null || end > now
}

/** Whether `next` lets a lock be lifted sooner or more easily than `current` does. */
export function isWeaker (next: UnlockPolicy | null, current: UnlockPolicy | null): boolean {
  if (current === null) return false
  if (current === 'never') return next !== 'never'
  if (next === 'never') return false
  if (next === null) return true
  return (next.delay ?? 0) < (current.delay ?? 0) || (next.approvals ?? 1) < (current.approvals ?? 1)
}

function samePolicy (a: UnlockPolicy | null, b: UnlockPolicy | null): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

export function decideAcquire (existing: LockRecord | undefined, input: AcquireInput): AcquireDecision {
  if (existing === undefined) return { action: 'insert', replacesExpired: false }
  if (!isLive(existing, input.now)) return { action: 'insert', replacesExpired: true }
  // A live lock is only ever strengthened: an earlier end or a weaker policy changes nothing.
  if (input.refreshExpiry && (input.expiresAt ?? Infinity) < (existing.expiresAt ?? Infinity)) {
    return { action: 'conflict', conflict: 'expiry', record: existing }
  }
  if (input.refreshUnlock && isWeaker(input.unlock, existing.unlock)) return { action: 'conflict', conflict: 'unlock', record: existing }
  // Narrowing a namespace lock lifts it from every name below at once: under a policy, that is a weakening too.
  if (input.refreshNamespace && existing.unlock !== null && existing.namespace !== null && input.namespace !== existing.namespace) {
    return { action: 'conflict', conflict: 'unlock', record: existing }
  }
  const reason = input.refreshReason ? input.reason : existing.reason
  const expiresAt = input.refreshExpiry ? input.expiresAt : existing.expiresAt
  const namespace = input.refreshNamespace ? input.namespace : existing.namespace
  const unlock = input.refreshUnlock ? input.unlock : existing.unlock
  const cancelled = existing.unlockAt !== null || existing.approvals.length > 0
  return {
    action: 'keep',
    record: { ...existing, reason, expiresAt, namespace, unlock, unlockAt: null, approvals: [] },
    changed: reason !== existing.reason || expiresAt !== existing.expiresAt || namespace !== existing.namespace ||
      !samePolicy(unlock, existing.unlock) || cancelled,
    cancelled
  }
}

/** What an unlock request does to one lock, under its policy. */
export type UnlockDecision =
  | { action: 'release', detail: string | null }
  | { action: 'forbid' }
  /** Waits for more approvals; `recorded`: this principal's approval is new. */
  | { action: 'approve', approvals: string[], needed: number, recorded: boolean }
  /** Lifts at `unlockAt`; `requested`: this request set the time (an earlier one had not). */
  | { action: 'schedule', unlockAt: number, approvals: string[], requested: boolean, recorded: boolean }

export function decideUnlock (lock: LockRecord, principal: string, now: number): UnlockDecision {
  const policy = lock.unlock
  if (policy === null) return { action: 'release', detail: null }
  if (policy === 'never') return { action: 'forbid' }
  let approvals = lock.approvals
  let recorded = false
  if (policy.approvals !== undefined) {
    // Distinct principals: the same caller asking twice counts once.
    if (!approvals.includes(principal)) {
      approvals = [...approvals, principal]
      recorded = true
    }
    if (approvals.length < policy.approvals) return { action: 'approve', approvals, needed: policy.approvals, recorded }
  }
  if (policy.delay === undefined) return { action: 'release', detail: approvals.length === 0 ? null : `approved by ${approvals.join(', ')}` }
  if (lock.unlockAt !== null) return { action: 'schedule', unlockAt: lock.unlockAt, approvals, requested: false, recorded }
  return { action: 'schedule', unlockAt: now + policy.delay * 1000, approvals, requested: true, recorded }
}

/** The audit events of an unlock decision (the store writes them with the change). */
export function unlockEvents (decision: UnlockDecision): Array<{ type: LockEventType, detail: string | null }> {
  const events: Array<{ type: LockEventType, detail: string | null }> = []
  if ((decision.action === 'approve' || decision.action === 'schedule') && decision.recorded) {
    const needed = decision.action === 'approve' ? decision.needed : decision.approvals.length
    events.push({ type: 'unlock-approved', detail: `approval ${decision.approvals.length} of ${needed}` })
  }
  if (decision.action === 'schedule' && decision.requested) events.push({ type: 'unlock-requested', detail: `lifts at ${new Date(decision.unlockAt).toISOString()}` })
  if (decision.action === 'release') events.push({ type: 'unlocked', detail: decision.detail })
  return events
}

/** A row's write after an unlock request: remove it, or record its unlock time and approvals. */
export type UnlockWrite<Id> =
  | { id: Id, action: 'delete' }
  | { id: Id, action: 'update', unlockAt: number | null, approvals: string[] }

/**
 * What an unlock request does to a database's rows of one mode (`holder` null: every holder's),
 * the same for both stores: the answer, the writes to make in the request's transaction, and
 * whether every process must hear of it (a lock gone, or a new end).
 */
export function planUnlock<Id> (
  rows: ReadonlyArray<{ id: Id, lock: LockRecord }>, holder: string | null, principal: string, now: number
): { outcome: Omit<UnlockOutcome, 'version'>, writes: Array<UnlockWrite<Id>>, journal: boolean } {
  const outcome: Omit<UnlockOutcome, 'version'> = { released: [], scheduled: [], awaiting: [], forbidden: [], events: [] }
  const writes: Array<UnlockWrite<Id>> = []
  let journal = false
  for (const { id, lock } of rows) {
    if ((holder !== null && lock.holder !== holder) || !isLive(lock, now)) continue
    const decision = decideUnlock(lock, principal, now)
    if (decision.action === 'forbid') {
      outcome.forbidden.push(lock.holder)
      continue
    }
    if (decision.action === 'release') {
      writes.push({ id, action: 'delete' })
      outcome.released.push(lock.holder)
      journal = true
    } else if (decision.action === 'approve') {
      if (decision.recorded) writes.push({ id, action: 'update', unlockAt: null, approvals: decision.approvals })
      outcome.awaiting.push({ holder: lock.holder, approvals: decision.approvals, needed: decision.needed })
    } else {
      if (decision.requested || decision.recorded) writes.push({ id, action: 'update', unlockAt: decision.unlockAt, approvals: decision.approvals })
      // Every process must learn the new end of the lock: it lifts there without any I/O.
      if (decision.requested) journal = true
      outcome.scheduled.push({ holder: lock.holder, unlockAt: decision.unlockAt })
    }
    for (const event of unlockEvents(decision)) outcome.events.push({ ...event, holder: lock.holder })
  }
  return { outcome, writes, journal }
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** An unlock policy as a row keeps it: JSON text (SQLite) or jsonb (PostgreSQL); anything else is none. */
export function toUnlockPolicy (value: unknown): UnlockPolicy | null {
  // PostgreSQL hands jsonb back parsed: the string "never" arrives as never.
  const parsed: unknown = typeof value === 'string' && value !== 'never' ? JSON.parse(value) : value
  if (parsed === 'never') return 'never'
  if (!isRecord(parsed)) return null
  const policy: { delay?: number, approvals?: number } = {}
  if (typeof parsed.delay === 'number') policy.delay = parsed.delay
  if (typeof parsed.approvals === 'number') policy.approvals = parsed.approvals
  return policy.delay === undefined && policy.approvals === undefined ? null : policy
}

export function toApprovals (value: unknown): string[] {
  const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : value
  return Array.isArray(parsed) ? parsed.filter((entry): entry is string => typeof entry === 'string') : []
}

/** A policy or approvals as a row column: JSON text, or null. */
export function policyColumn (policy: UnlockPolicy | null): string | null {
  return policy === null ? null : JSON.stringify(policy)
}

/** A `locks` row's columns; PostgreSQL returns its bigints as strings. */
export interface LockRow {
  database: string
  mode: LockMode
  /** From schema version 4 (before it, a lock's holder is its locked_by). */
  holder?: string
  namespace?: string | null
  reason: string | null
  locked_by: string
  locked_at: number | string
  expires_at: number | string | null
  /** From schema version 3. */
  owner?: string | null
  unlock_policy?: unknown
  unlock_at?: number | string | null
  approvals?: unknown
}

export function toLockRecord (row: LockRow): LockRecord {
  return {
    database: row.database,
    mode: row.mode,
    holder: row.holder ?? row.locked_by,
    namespace: row.namespace ?? null,
    reason: row.reason,
    lockedBy: row.locked_by,
    lockedAt: Number(row.locked_at),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
    unlock: toUnlockPolicy(row.unlock_policy ?? null),
    unlockAt: row.unlock_at === null || row.unlock_at === undefined ? null : Number(row.unlock_at),
    approvals: toApprovals(row.approvals ?? null)
  }
}

/** The record of a lock row that `acquire` has just inserted. */
export function newLockRecord (input: AcquireInput): LockRecord {
  return {
    database: input.database,
    mode: input.mode,
    holder: input.holder,
    namespace: input.namespace,
    reason: input.reason,
    lockedBy: input.lockedBy,
    lockedAt: input.now,
    expiresAt: input.expiresAt,
    unlock: input.unlock,
    unlockAt: null,
    approvals: []
  }
}

/** A `lock_events` row; PostgreSQL returns its bigints as strings. */
export interface EventRow {
  id: number | string
  at: number | string
  type: LockEventType
  database: string
  mode: LockMode | null
  holder?: string | null
  principal: string | null
  reason: string | null
  request_id: string | null
  client: string | null
  route: string | null
  owner?: string | null
  detail?: string | null
  count: number | string
}

/** The origin fields of an event no request caused (an expiry, a program's call). */
export const NO_ORIGIN = { principal: null, requestId: null, client: null, route: null, owner: null }

/**
 * The event of a lock that lifted by itself, dated when it lifted (else `at`), for the owner of
 * its row: `expired`, or `unlocked` when its scheduled unlock came first.
 */
export function expiredEvent (lock: LockRecord, at: number, owner: string | null = null): LockEvent {
  const scheduled = lock.unlockAt !== null && liftsAt(lock) === lock.unlockAt
  return {
    ...NO_ORIGIN,
    owner,
    type: scheduled ? 'unlocked' : 'expired',
    detail: scheduled ? 'scheduled unlock' : null,
    database: lock.database,
    mode: lock.mode,
    holder: lock.holder,
    reason: lock.reason,
    at: liftsAt(lock) ?? at,
    count: 1
  }
}

export function toStoredEvent (row: EventRow): StoredLockEvent {
  return {
    id: Number(row.id),
    type: row.type,
    database: row.database,
    mode: row.mode,
    holder: row.holder ?? null,
    detail: row.detail ?? null,
    principal: row.principal,
    reason: row.reason,
    requestId: row.request_id,
    client: row.client,
    route: row.route,
    owner: row.owner ?? null,
    at: Number(row.at),
    count: Number(row.count)
  }
}
