// Failures of a store itself, with codes for logs and tests. They are not answers the plugin
// chose: a request that meets one is answered 503 LOCK_STORE_UNAVAILABLE and the cause is logged.

export type LockStoreErrorCode =
  /** The store was closed (the plugin's onClose, or the host's own close). */
  | 'LOCK_STORE_CLOSED'
  /** An audit-trail call on a store schema older than migration 2. */
  | 'LOCK_STORE_NO_EVENTS'
  /** The SQLite path no longer names the file this process opened (removed or replaced). */
  | 'LOCK_STORE_FILE_GONE'

export class LockStoreError extends Error {
  override name = 'LockStoreError'

  constructor (readonly code: LockStoreErrorCode, message: string) {
    super(message)
  }
}
