// What a LockStore offers beyond the required methods, read once when the plugin starts:
// the rest of the plugin asks this object, not the store, whether it can.
import type { LockEvent, LockMode, LockStore, StoreWatch, StoredLockEvent } from '../../types/index.js'

/** The audit trail, when the store keeps one (all three methods, or none). */
export interface EventsCapability {
  append (events: LockEvent[]): Promise<void>
  list (options: Parameters<NonNullable<LockStore['listEvents']>>[0]): Promise<StoredLockEvent[]>
  prune (before: number): Promise<number>
}

/** Where a full load puts every live lock. */
export interface LiveLockSink {
  row (database: string, mode: LockMode, expiresAt: number | null, reason: string | null, namespace: string | null): void
  /**
   * Names of permanent delete locks (no expiry, no pending unlock, not a namespace lock),
   * '\n'-separated UTF-8, from a store that hands them over in bulk.
   */
  permanentDeletes (names: Uint8Array): void
}

export type VisitLive = (now: number, sink: LiveLockSink) => Promise<number>

export type WatchChanges = (onChange: () => void) => StoreWatch | null

export interface StoreCapabilities {
  /** Streams every live lock without building records (large stores); null: use `snapshot`. */
  visitLive: VisitLive | null
  /** Wakes the view when another connection commits; null: the view only polls. */
  watchChanges: WatchChanges | null
  /** null: events are only logged, and the events route answers an empty page. */
  events: EventsCapability | null
}

export function capabilitiesOf (store: LockStore): StoreCapabilities {
  const { appendEvents, listEvents, pruneEvents, visitLive, watchChanges } = store
  return {
    visitLive: visitLive === undefined ? null : (now, sink) => visitLive.call(store, now, sink.row, sink.permanentDeletes),
    watchChanges: watchChanges === undefined ? null : watchChanges.bind(store),
    events: appendEvents === undefined || listEvents === undefined || pruneEvents === undefined
      ? null
      : { append: appendEvents.bind(store), list: listEvents.bind(store), prune: pruneEvents.bind(store) }
  }
}
