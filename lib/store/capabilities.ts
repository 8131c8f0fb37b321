// What a LockStore offers beyond the required methods, read once when the plugin starts:
// the rest of the plugin asks this object, not the store, whether it can.
import type { LockEvent, LockMode, LockStore, StoredLockEvent } from '../../types/index.js'

/** The audit trail, when the store keeps one (all three methods, or none). */
export interface EventsCapability {
  append (events: LockEvent[]): Promise<void>
  list (options: Parameters<NonNullable<LockStore['listEvents']>>[0]): Promise<StoredLockEvent[]>
  prune (before: number): Promise<number>
}

export type VisitLive = (now: number, visit: (database: string, mode: LockMode, expiresAt: number | null, reason: string | null, namespace: string | null) => void) => Promise<number>

export interface StoreCapabilities {
  /** Streams every live lock without building records (large stores); null: use `snapshot`. */
  visitLive: VisitLive | null
  /** null: events are only logged, and the events route answers an empty page. */
  events: EventsCapability | null
}

export function capabilitiesOf (store: LockStore): StoreCapabilities {
  const { appendEvents, listEvents, pruneEvents, visitLive } = store
  return {
    visitLive: visitLive === undefined ? null : visitLive.bind(store),
    events: appendEvents === undefined || listEvents === undefined || pruneEvents === undefined
      ? null
      : { append: appendEvents.bind(store), list: listEvents.bind(store), prune: pruneEvents.bind(store) }
  }
}
