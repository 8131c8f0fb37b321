// Store files written by earlier releases upgrade in place: every lock and event survives,
// and a release meeting a file newer than it knows refuses it without touching it.
import { createHash } from 'node:crypto'
import { copyFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { SQLITE_LATEST_VERSION, SQLITE_MIGRATIONS } from '../lib/store/sqlite/sqlite-migrations.js'
import { SqliteLockStore } from '../lib/store/sqlite/sqlite-store.js'
import { tempDir } from './helpers/app.js'

const FIXTURE = join(__dirname, 'fixtures', 'store-schema-3.db')
const NOV_24 = Date.UTC(2026, 10, 24, 10, 0, 0)
const YEAR_2100 = Date.UTC(2100, 0, 1)

/** A store file at an earlier schema level, as that release's migrations left it. */
function oldStoreFile (path: string, level: number): Database.Database {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  for (const migration of SQLITE_MIGRATIONS.slice(0, level)) {
    db.exec(migration.sql)
    db.pragma(`user_version = ${migration.version}`)
  }
  return db
}

function digest (path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

t.test('a schema-3 file written by the previous release keeps every lock and event; holders are their takers', async (t) => {
  // test/fixtures/store-schema-3.db was written by release 2a150de's SqliteLockStore (schema 3).
  const path = join(tempDir(t), 'locks.db')
  copyFileSync(FIXTURE, path)
  const before = new Database(path, { readonly: true })
  t.equal(before.pragma('user_version', { simple: true }), 3, 'the fixture is at schema 3')
  const rowsBefore = before.prepare('SELECT rowid, database, mode FROM locks ORDER BY rowid').all()
  before.close()

  const store = new SqliteLockStore({ path })
  t.teardown(() => store.close())
  t.equal(store.db.pragma('user_version', { simple: true }), SQLITE_LATEST_VERSION)
  t.same(await store.locksOf('prod', NOV_24 + 5000), [
    { database: 'prod', mode: 'delete', holder: 'alice', namespace: null, reason: 'production', lockedBy: 'alice', lockedAt: NOV_24, expiresAt: null, unlock: null, unlockAt: null, approvals: [] },
    // The admin key's lock is held by `admin`, the holder an admin-key unlock names by default.
    { database: 'prod', mode: 'write', holder: 'admin', namespace: null, reason: 'restore', lockedBy: 'admin-key', lockedAt: NOV_24 + 1000, expiresAt: YEAR_2100, unlock: null, unlockAt: null, approvals: [] }
  ])
  t.same(await store.locksOf('acme/billing', NOV_24 + 5000, ['acme']), [
    { database: 'acme/billing', mode: 'delete', holder: 'bob', namespace: null, reason: null, lockedBy: 'bob', lockedAt: NOV_24 + 2000, expiresAt: YEAR_2100, unlock: null, unlockAt: null, approvals: [] }
  ])
  const rowsAfter = store.db.prepare('SELECT rowid, database, mode FROM locks ORDER BY rowid').all()
  t.same(rowsAfter, rowsBefore,
    'every row kept, with its row id (rollbacks name rows by id), the expired one too until it is purged')
  const events = await store.listEvents({ database: 'prod', type: null, before: null, limit: 10, owner: 'alice' })
  t.same(events.map((event) => [event.type, event.principal, event.holder]), [['locked', 'admin-key', null], ['locked', 'alice', null]],
    'events kept, with their owner; events from before holders name none')

  const unlocked = await store.release('prod', 'write', 'admin')
  t.same(unlocked.holders, ['admin'], 'an admin-key unlock after the upgrade lifts the admin key\'s lock from before it')
})

t.test('a schema-1 file upgrades in place; a release that knows only schema 1 then refuses the file untouched', async (t) => {
  const path = join(tempDir(t), 'locks.db')
  const old = oldStoreFile(path, 1)
  old.prepare("INSERT INTO locks (database, mode, reason, locked_by, locked_at, expires_at) VALUES ('prod', 'delete', 'kept', 'alice', 1000, NULL)").run()
  old.close()

  const upgraded = new SqliteLockStore({ path })
  t.equal(upgraded.db.pragma('user_version', { simple: true }), SQLITE_LATEST_VERSION)
  t.match(await upgraded.locksOf('prod', 2000), [{ database: 'prod', mode: 'delete', holder: 'alice', reason: 'kept', lockedBy: 'alice', lockedAt: 1000 }])
  await upgraded.close()

  const untouched = digest(path)
  t.throws(() => new SqliteLockStore({ path, migrations: SQLITE_MIGRATIONS.slice(0, 1) }), {
    code: 'LOCK_STORE_TOO_NEW', message: new RegExp(`schema version ${SQLITE_LATEST_VERSION}, newer than .* \\(1\\)`)
  })
  t.equal(digest(path), untouched, 'the newer file is untouched by the older release')
})

t.test('a schema-2 file upgrades in place: events from before owners were recorded are for the admin key only', async (t) => {
  const path = join(tempDir(t), 'locks.db')
  const old = oldStoreFile(path, 2)
  old.prepare("INSERT INTO locks (database, mode, reason, locked_by, locked_at, expires_at) VALUES ('prod', 'delete', 'kept', 'alice', 1000, NULL)").run()
  old.prepare("INSERT INTO lock_events (at, type, database, mode, principal, reason) VALUES (1000, 'locked', 'prod', 'delete', 'alice', 'kept')").run()
  old.close()

  const store = new SqliteLockStore({ path })
  t.teardown(() => store.close())
  t.match(await store.locksOf('prod', 2000), [{ database: 'prod', mode: 'delete', holder: 'alice', reason: 'kept', lockedBy: 'alice', lockedAt: 1000 }], 'the lock survives')
  const all = await store.listEvents({ database: 'prod', type: null, before: null, limit: 10, owner: null })
  t.match(all, [{ type: 'locked', principal: 'alice', owner: null, holder: null }], 'the event survives, with no owner recorded')
  t.same(await store.listEvents({ database: 'prod', type: null, before: null, limit: 10, owner: 'alice' }), [], 'so only a reader of everything sees it')
})
