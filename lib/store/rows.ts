// Rows as both stores read and write them: lock records and audit events.
import type { AcquireInput, LockEvent, LockEventType, LockMode, LockRecord, StoredLockEvent } from '../../types/index.js'

/**
 * What `acquire` does with the row it found (both stores decide alike): insert a new lock
 * (none, or only an expired one, which is dead and replaced), or keep the live one, refreshing
 * its reason or expiry when asked (`changed`: a write and a new version are needed).
 */
export type AcquireDecision =
  | { action: 'insert', replacesExpired: boolean }
  | { action: 'keep', record: LockRecord, changed: boolean }

export function decideAcquire (existing: LockRecord | undefined, input: AcquireInput): AcquireDecision {
  if (existing === undefined) return { action: 'insert', replacesExpired: false }
  if (existing.expiresAt !== null && existing.expiresAt <= input.now) return { action: 'insert', replacesExpired: true }
  const reason = input.refreshReason ? input.reason : existing.reason
  const expiresAt = input.refreshExpiry ? input.expiresAt : existing.expiresAt
  const namespace = input.refreshNamespace ? input.namespace : existing.namespace
  return {
    action: 'keep',
    record: { ...existing, reason, expiresAt, namespace },
    changed: reason !== existing.reason || expiresAt !== existing.expiresAt || namespace !== existing.namespace
  }
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
    expiresAt: row.expires_at === null ? null : Number(row.expires_at)
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
    expiresAt: input.expiresAt
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
  count: number | string
}

/** The origin fields of an event no request caused (an expiry, a program's call). */
export const NO_ORIGIN = { principal: null, requestId: null, client: null, route: null, owner: null }

/** The `expired` event of a lock that lifted by itself, dated when it lifted (else `at`), for the owner of its row. */
export function expiredEvent (lock: LockRecord, at: number, owner: string | null = null): LockEvent {
  return {
    ...NO_ORIGIN, owner, type: 'expired', database: lock.database, mode: lock.mode, holder: lock.holder, reason: lock.reason, at: lock.expiresAt ?? at, count: 1
  }
}

export function toStoredEvent (row: EventRow): StoredLockEvent {
  return {
    id: Number(row.id),
    type: row.type,
    database: row.database,
    mode: row.mode,
    holder: row.holder ?? null,
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
