// Direct looks into a lock store file, to assert what a request did or did not change.
import Database from 'better-sqlite3'
import { join } from 'node:path'
import type { AcquireInput } from '../../types/index.js'

export function lockFile (dataDir: string): string {
  return join(dataDir, 'database-locks.db')
}

/** Every row of the locks table and the journal length: a fingerprint of the store's content. */
export function storeContent (dataDir: string): { locks: unknown[], changes: number } {
  const db = new Database(lockFile(dataDir), { readonly: true, fileMustExist: true })
  try {
    return {
      locks: db.prepare('SELECT * FROM locks ORDER BY database, mode').all(),
      changes: (db.prepare('SELECT count(*) AS n FROM lock_changes').get() as { n: number }).n
    }
  } finally {
    db.close()
  }
}

/** The same store, counting each method called on it by name; every call still goes through. */
export function countingStore<S extends object> (store: S): { store: S, calls: Map<string, number>, count (method: string): number } {
  const calls = new Map<string, number>()
  const counted = new Proxy(store, {
    get (target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        calls.set(String(property), (calls.get(String(property)) ?? 0) + 1)
        return Reflect.apply(value, target, args)
      }
    }
  })
  return { store: counted, calls, count: (method) => calls.get(method) ?? 0 }
}

/** A new lock's input as a store takes it: nothing refreshed, no unlock policy, unless given. */
export function acquireInput (lock: Pick<AcquireInput, 'database' | 'mode' | 'now' | 'expiresAt'> & Partial<AcquireInput>): AcquireInput {
  return {
    holder: 'ops',
    namespace: null,
    reason: null,
    lockedBy: lock.holder ?? 'ops',
    unlock: null,
    refreshReason: false,
    refreshExpiry: false,
    refreshNamespace: false,
    refreshUnlock: false,
    ...lock
  }
}
