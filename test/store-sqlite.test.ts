// The LockStore conformance suite on the SQLite store: one temp file per test.
import { join } from 'node:path'
import t from 'tap'
import type { LockStore } from '../types/index.js'
import { SqliteLockStore } from '../lib/store/sqlite/sqlite-store.js'
import { tempDir } from './helpers/app.js'
import { storeConformance } from '../lib/testing.js'

storeConformance(t, async (t) => {
  const path = join(tempDir(t), 'locks.db')
  return {
    async open (options = {}): Promise<LockStore> {
      const store = new SqliteLockStore({ path, ...options })
      t.teardown(() => store.close())
      return store
    }
  }
})
