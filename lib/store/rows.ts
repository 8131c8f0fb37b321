// Rows as both stores read and write them: new lock records and audit events.
import type { AcquireInput, LockEventType, LockMode, LockRecord, StoredLockEvent } from '../../types/index.js'

/** The record of a lock row that `acquire` has just inserted. */
export function newLockRecord (input: AcquireInput): LockRecord {
  return {
    database: input.database,
    mode: input.mode,
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
  principal: string | null
  reason: string | null
  request_id: string | null
  client: string | null
  route: string | null
  count: number | string
}

/** The origin fields of an event nobody caused (an expiry). */
export const NO_ORIGIN = { principal: null, requestId: null, client: null, route: null }

export function toStoredEvent (row: EventRow): StoredLockEvent {
  return {
    id: Number(row.id),
    type: row.type,
    database: row.database,
    mode: row.mode,
    principal: row.principal,
    reason: row.reason,
    requestId: row.request_id,
    client: row.client,
    route: row.route,
    at: Number(row.at),
    count: Number(row.count)
  }
}
