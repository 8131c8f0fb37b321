'use strict'
// Fills a lock store with `count` delete locks (databases tenant-0 … tenant-N),
// through the store's own `acquire` so that rows and change journal look as they
// would after that many locks taken one by one, but in one transaction.
const { DIST } = require('./helpers.js')

/** `children`: namespace locks instead (org-0 … org-N, each covering the names below it). */
function seedLocks (path, count, { children = false } = {}) {
  const { SqliteLockStore } = require(DIST)
  const store = new SqliteLockStore({ path })
  try {
    const now = Date.now()
    store.db.transaction(() => {
      for (let i = 0; i < count; i++) {
        // acquire runs its statements synchronously (better-sqlite3); the promise only carries the result.
        // A failure would only reject that promise, so the count is checked below instead.
        store.acquire({
          database: children ? `org-${i}` : `tenant-${i}`,
          mode: 'delete',
          reason: 'bench',
          holder: 'bench',
          namespace: children ? `org-${i}` : null,
          lockedBy: 'bench',
          now,
          expiresAt: null,
          refreshReason: false,
          refreshExpiry: false,
          refreshNamespace: false,
          unlock: null,
          refreshUnlock: false
        }).catch(() => {})
      }
    })()
    const rows = store.db.prepare('SELECT count(*) FROM locks').pluck().get()
    if (rows < count) throw new Error(`seeding ${path} wrote ${rows} of ${count} locks`)
    store.db.pragma('wal_checkpoint(TRUNCATE)')
  } finally {
    store.db.close()
  }
}

/**
 * How each kind of store the bench runs on is filled: `seedStore(file, { kind, count })`.
 * Another kind of store is one more entry here and one more entry in run.js's lockStores().
 */
const SEEDERS = {
  delete: (file, count) => seedLocks(file, count),
  namespace: (file, count) => seedLocks(file, count, { children: true })
}

function seedStore (file, { kind, count }) {
  const seeder = SEEDERS[kind]
  if (seeder === undefined) throw new Error(`no seeder for ${kind} locks; the kinds are ${Object.keys(SEEDERS).join(', ')}`)
  // An empty store is created by the plugin itself when it opens the file.
  if (count > 0) seeder(file, count)
}

module.exports = { seedLocks, seedStore, SEEDERS }
