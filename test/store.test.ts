// The SQLite store file: durable, migrated, and never altered when it is newer than the code.
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import Fastify from 'fastify'
import t from 'tap'
import databaseLock from '../lib/index.js'
import { SqliteLockStore } from '../lib/store/sqlite/sqlite-store.js'
import { SQLITE_LATEST_VERSION } from '../lib/store/sqlite/sqlite-migrations.js'
import { createDatabases, startDemo, tempDir } from './helpers/app.js'

function fileHash (path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

t.test('a lock survives closing and reopening the store', async (t) => {
  const dataDir = tempDir(t)
  const first = await startDemo(t, { dataDir })
  await createDatabases(first, ['prod'])
  await first.as('alice', 'POST', '/v1/database/prod/lock', { reason: 'keep me' })
  await first.app.close()

  const second = await startDemo(t, { dataDir })
  t.equal((await second.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 403, 'still refused after a restart')
  t.match((await second.as('alice', 'GET', '/v1/database/prod/lock')).json().locks, [{ mode: 'delete', reason: 'keep me', lockedBy: 'alice' }])
})

t.test('a fresh file is created and migrated, with WAL and synchronous=FULL', async (t) => {
  const path = join(tempDir(t), 'nested', 'folder', 'locks.db')
  const store = new SqliteLockStore({ path })
  t.teardown(() => store.close())
  t.equal(store.db.pragma('user_version', { simple: true }), SQLITE_LATEST_VERSION)
  t.equal(store.db.pragma('journal_mode', { simple: true }), 'wal')
  t.equal(store.db.pragma('synchronous', { simple: true }), 2, 'FULL')
  // SQLite's busy handler sleeps on the event loop; writes retry asynchronously instead
  // (test/faults/held-write-lock-never-freezes.test.ts).
  t.equal(Number(store.db.pragma('busy_timeout', { simple: true })), 0, 'no busy handler')
  const tables = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all()
  t.same(tables.filter((name) => name !== 'sqlite_sequence'), ['draining', 'lock_changes', 'lock_events', 'locks', 'processes', 'store_meta'])
  t.ok(existsSync(path))
})

t.test('reopening a migrated file changes nothing', async (t) => {
  const path = join(tempDir(t), 'locks.db')
  const store = new SqliteLockStore({ path })
  await store.acquire({ database: 'prod', mode: 'delete', reason: null, holder: 'alice', namespace: null, lockedBy: 'alice', now: 1, expiresAt: null, refreshReason: false, refreshExpiry: false, refreshNamespace: false, unlock: null, refreshUnlock: false })
  await store.close()
  const again = new SqliteLockStore({ path })
  t.teardown(() => again.close())
  t.equal(again.db.pragma('user_version', { simple: true }), SQLITE_LATEST_VERSION)
  t.equal((await again.locksOf('prod', 2)).length, 1)
})

t.test('a file written by a newer version is refused, untouched', async (t) => {
  const path = join(tempDir(t), 'locks.db')
  const future = new Database(path)
  future.pragma('journal_mode = DELETE')
  future.exec('CREATE TABLE locks (database TEXT, future_column BLOB)')
  future.pragma(`user_version = ${SQLITE_LATEST_VERSION + 1}`)
  future.close()
  const before = fileHash(path)

  t.throws(() => new SqliteLockStore({ path }), {
    code: 'LOCK_STORE_TOO_NEW',
    message: new RegExp(`schema version ${SQLITE_LATEST_VERSION + 1}, newer than this version of fastify-database-lock understands \\(${SQLITE_LATEST_VERSION}\\)\\. Upgrade the package; the store was left untouched`)
  })
  t.equal(fileHash(path), before, 'same bytes')
  t.notOk(existsSync(`${path}-wal`), 'not switched to WAL')

  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(databaseLock, { path, principal: () => null, resolveDatabase: () => null }).ready() }, { code: 'LOCK_STORE_TOO_NEW' })
  t.equal(fileHash(path), before, 'registering the plugin did not touch it either')
})

t.test('several stores on one file see each other at once', async (t) => {
  const path = join(tempDir(t), 'locks.db')
  const a = new SqliteLockStore({ path })
  const b = new SqliteLockStore({ path })
  t.teardown(async () => { await a.close(); await b.close() })
  await b.hasChanged()
  const { version } = await a.acquire({ database: 'prod', mode: 'write', reason: 'restore', holder: 'ops', namespace: null, lockedBy: 'ops', now: 1000, expiresAt: 5000, refreshReason: true, refreshExpiry: true, refreshNamespace: false, unlock: null, refreshUnlock: false })
  t.equal(await b.hasChanged(), true, 'data_version moved for the other connection')
  const changes = await b.changesSince(0, 2000)
  t.equal(changes?.version, version)
  t.match(changes?.rows, [{ database: 'prod', mode: 'write', reason: 'restore', expiresAt: 5000 }])
  t.same(await b.locksOf('prod', 6000), [], 'expired rows are never returned')
  t.match(await b.purgeExpired(6000), [{ database: 'prod', mode: 'write', reason: 'restore' }])
  t.equal((await a.snapshot(2000)).rows.length, 0)
})
