// The embedded LockStore: one SQLite file shared by every process on the host.
import { type FSWatcher, mkdirSync, statSync, watch } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import Database from 'better-sqlite3'
import type {
  AcquireInput, AcquireResult, AuditStamp, DrainState, DrainTarget, LockEvent, LockEventType, LockMode, LockRecord, LockStore, ProcessReport,
  StoreChanges, StoreWatch, StoredLockEvent, UnlockOutcome
} from '../../../types/index.js'
import { StoreTooNewError } from '../../errors.js'
import {
  type EventRow, type LockRow, decideAcquire, expiredEvent, newLockRecord, planUnlock, policyColumn, toLockRecord, toStoredEvent
} from '../rows.js'
import { retryWhileBusy, whenNotBusy } from './sqlite-busy.js'
import { PERMANENT_DELETE, SQLITE_MIGRATIONS, type SqliteMigration } from './sqlite-migrations.js'
import { LockStoreError } from '../store-errors.js'

export interface SqliteLockStoreOptions {
  /** File of the store; its folder is created when missing. */
  path: string
  /**
   * How long a lock or unlock waits for another connection's write, ms. Default 5000. The
   * wait never blocks the event loop; background writes (heartbeat, purge) wait far less,
   * and the view goes stale (guarded requests fail closed) rather than freeze the process.
   */
  busyTimeout?: number
  /** How long the change journal is kept, ms; a process further behind reloads everything. Default 10 min. */
  journalRetention?: number
  /**
   * Migrations to apply. Default: all. Tests pass fewer to play an older release meeting a newer
   * file (which it refuses untouched); a store opened below the latest level cannot serve.
   */
  migrations?: readonly SqliteMigration[]
}

interface SqliteLockRow extends LockRow {
  rowid: number
  locked_at: number
  expires_at: number | null
}

/**
 * How long a write made by a timer (heartbeat, purge, audit flush) waits for another
 * connection's write, ms. Longer than any write of the plugin's own; a backup tool that holds
 * the write lock longer makes the refresh fail, and the view un-fresh, instead.
 */
const BACKGROUND_BUSY_BUDGET = 250

/** How often the poll checks that the path still names the open file, ms (every write checks too). */
const FILE_CHECK_INTERVAL = 250

interface FileIdentity { dev: number, ino: number }

function identityOf (path: string): FileIdentity | null {
  try {
    const { dev, ino } = statSync(path)
    return { dev, ino }
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return null
    throw err
  }
}

/**
 * A commit of this process that no event of the watch has followed for this long (ms) means the
 * watch misses writes (a file system without inotify): the view polls as if there were no watch.
 */
const WATCH_SILENT_AFTER = 1000
/** How long a wake-up waits, at most, for another connection's commit to become visible (ms). */
const WAKE_FOLLOW_UP = 200

/** Journal entries past which a process reloads everything rather than replaying them. */
const FULL_RELOAD_AFTER = 10_000

/** Neither expired nor past a scheduled unlock. */
const LIVE = '(expires_at IS NULL OR expires_at > @now) AND (unlock_at IS NULL OR unlock_at > @now)'
const ENDED = '(expires_at IS NOT NULL AND expires_at <= @now) OR (unlock_at IS NOT NULL AND unlock_at <= @now)'
/** When a row stops blocking: its expiry, or its scheduled unlock when that comes first. */
const LIFTS_AT = 'CASE WHEN unlock_at IS NOT NULL AND (expires_at IS NULL OR unlock_at < expires_at) THEN unlock_at ELSE expires_at END'

/** Rows per chunk of permanent delete locks: a million names of 13 characters are one 14 MB buffer. */
export const NAMES_PER_CHUNK = 2 ** 20
/**
 * The permanent delete locks as bytes, names joined by '\n', from index locks_permanent_delete
 * alone, a chunk at a time: the names after @after up to and including @upto (null: all the
 * rest), so that every holder of a name lands in the same chunk.
 */
export const PERMANENT_DELETE_NAMES =
  `SELECT CAST(group_concat(database, char(10)) AS BLOB) FROM locks WHERE ${PERMANENT_DELETE} AND database > @after AND (@upto IS NULL OR database <= @upto)`
/** The name a chunk of PERMANENT_DELETE_NAMES ends with, or none when the rest fit in one. */
export const PERMANENT_DELETE_CHUNK_END =
  `SELECT database FROM locks WHERE ${PERMANENT_DELETE} AND database > @after ORDER BY database LIMIT 1 OFFSET ${NAMES_PER_CHUNK - 1}`
/** Every live lock as visitLive hands it over, one raw row each. */
const LIVE_LOCKS = `SELECT database, mode, ${LIFTS_AT}, reason, namespace FROM locks WHERE ${LIVE}`
/** Every other live lock, through index locks_not_permanent_delete. */
export const OTHER_LIVE_LOCKS = `${LIVE_LOCKS} AND NOT (${PERMANENT_DELETE})`

/** The schema version a file records (`PRAGMA user_version`). */
function userVersion (db: Database.Database): number {
  return Number(db.pragma('user_version', { simple: true }))
}

/** Opens `path`, refusing (and not touching) a file written by a newer version. */
function openDatabase (path: string, busyTimeout: number, migrations: readonly SqliteMigration[]): Database.Database {
  mkdirSync(dirname(resolve(path)), { recursive: true })
  // Opening is synchronous anyway (start-up, before serving): the busy handler may wait here.
  const db = new Database(path, { timeout: busyTimeout })
  try {
    const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1].version
    // Read the version before any pragma that writes, so a newer file stays byte-for-byte as it was.
    const found = userVersion(db)
    if (found > latest) throw new StoreTooNewError(path, found, latest)
    retryWhileBusy(() => {
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = FULL')
      migrate(db, path, migrations, latest)
    }, busyTimeout)
    // From now on no busy handler: it would wait on the event loop. Calls retry asynchronously.
    db.pragma('busy_timeout = 0')
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

function migrate (db: Database.Database, path: string, migrations: readonly SqliteMigration[], latest: number): void {
  // IMMEDIATE takes the write lock first, so processes starting together migrate once.
  db.transaction(() => {
    const current = userVersion(db)
    if (current > latest) throw new StoreTooNewError(path, current, latest)
    for (const migration of migrations) {
      if (migration.version <= current) continue
      db.exec(migration.sql)
      db.pragma(`user_version = ${migration.version}`)
    }
  }).immediate()
}

export class SqliteLockStore implements LockStore {
  readonly path: string
  readonly db: Database.Database
  private readonly journalRetention: number
  private readonly busyTimeout: number
  /** The file opened, or null for an in-memory database. */
  private readonly identity: FileIdentity | null
  private readonly filePath: string
  private fileCheckedAt = 0
  private lastDataVersion = -1
  /** data_version when the watch last announced a change. */
  private watchedDataVersion = -1
  /** performance.now() of this process's first commit that no watch event has followed yet, or null. */
  private unseenWriteAt: number | null = null
  private watcher: FSWatcher | null = null
  private followUp: NodeJS.Timeout | null = null
  private readonly statements

  constructor (options: SqliteLockStoreOptions) {
    this.path = options.path
    this.journalRetention = options.journalRetention ?? 10 * 60_000
    this.busyTimeout = options.busyTimeout ?? 5000
    this.db = openDatabase(options.path, this.busyTimeout, options.migrations ?? SQLITE_MIGRATIONS)
    // Resolved now: a later chdir must not make the check look elsewhere.
    this.filePath = resolve(this.db.name)
    this.identity = this.db.memory ? null : identityOf(this.filePath)
    const db = this.db
    this.statements = {
      getLock: db.prepare<[string, string, string], SqliteLockRow>('SELECT rowid, * FROM locks WHERE database = ? AND mode = ? AND holder = ?'),
      // The row id is the journal version this write is about to create: it only grows, so a
      // rollback by row id can never remove a newer lock that reused a deleted row's id.
      insertLock: db.prepare(
        'INSERT INTO locks (rowid, database, mode, holder, namespace, reason, locked_by, locked_at, expires_at, owner, unlock_policy) VALUES (' +
        "(SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'lock_changes'), 0) + 1), " +
        '@database, @mode, @holder, @namespace, @reason, @lockedBy, @now, @expiresAt, @owner, @unlockPolicy)'
      ),
      updateLock: db.prepare(
        'UPDATE locks SET reason = @reason, expires_at = @expiresAt, namespace = @namespace, unlock_policy = @unlockPolicy, ' +
        'unlock_at = @unlockAt, approvals = @approvals WHERE rowid = @rowid'
      ),
      modeRows: db.prepare<[string, string], SqliteLockRow>('SELECT rowid, * FROM locks WHERE database = ? AND mode = ? ORDER BY holder'),
      setUnlock: db.prepare('UPDATE locks SET unlock_at = ?, approvals = ? WHERE rowid = ?'),
      deleteRow: db.prepare('DELETE FROM locks WHERE rowid = ?'),
      releaseHolder: db.prepare<[string, string, string], { holder: string }>('DELETE FROM locks WHERE database = ? AND mode = ? AND holder = ? RETURNING holder'),
      releaseAll: db.prepare<[string, string], { holder: string }>('DELETE FROM locks WHERE database = ? AND mode = ? RETURNING holder'),
      releaseRow: db.prepare<[string, string, number], { holder: string }>('DELETE FROM locks WHERE database = ? AND mode = ? AND rowid = ? RETURNING holder'),
      locksOf: db.prepare<{ database: string, now: number }, SqliteLockRow>(`SELECT rowid, * FROM locks WHERE database = @database AND ${LIVE} ORDER BY mode, holder`),
      inheritedBy: db.prepare<{ database: string, ancestors: string, now: number }, SqliteLockRow>(
        'SELECT rowid, * FROM locks WHERE namespace IN (SELECT value FROM json_each(@ancestors)) AND database <> @database ' +
        `AND ${LIVE} ORDER BY length(namespace), namespace, mode, holder`
      ),
      listFirst: db.prepare<{ now: number, limit: number }, SqliteLockRow>(`SELECT rowid, * FROM locks WHERE ${LIVE} ORDER BY database, mode, holder LIMIT @limit`),
      listAfter: db.prepare<{ now: number, limit: number, database: string, mode: string, holder: string }, SqliteLockRow>(
        `SELECT rowid, * FROM locks WHERE (database, mode, holder) > (@database, @mode, @holder) AND ${LIVE} ORDER BY database, mode, holder LIMIT @limit`
      ),
      expired: db.prepare<{ now: number }, SqliteLockRow>(`SELECT rowid, * FROM locks WHERE ${ENDED}`),
      deleteExpired: db.prepare(`DELETE FROM locks WHERE ${ENDED}`),
      live: db.prepare<{ now: number }, SqliteLockRow>(`SELECT rowid, * FROM locks WHERE ${LIVE}`),
      // Prepared once: it runs every pollInterval in every process.
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      // Whether another connection is in a write transaction: takes the write lock and gives it
      // back at once (no page is written), or fails with BUSY at once (no busy handler).
      beginWrite: db.prepare('BEGIN IMMEDIATE'),
      rollback: db.prepare('ROLLBACK'),
      liveRaw: db.prepare<{ now: number }, unknown[]>(LIVE_LOCKS).raw(),
      // Start-up reads the permanent delete locks in a few buffers ...
      permanentDeleteNames: db.prepare<{ after: string, upto: string | null }, Buffer | null>(PERMANENT_DELETE_NAMES).pluck(),
      permanentDeleteChunkEnd: db.prepare<{ after: string }, string>(PERMANENT_DELETE_CHUNK_END).pluck(),
      // ... and every other live lock row by row.
      otherLiveRaw: db.prepare<{ now: number }, unknown[]>(OTHER_LIVE_LOCKS).raw(),
      journal: db.prepare('INSERT INTO lock_changes (database, changed_at) VALUES (?, ?)'),
      version: db.prepare<[], { version: number }>("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'lock_changes'), 0) AS version"),
      prunedThrough: db.prepare<[], { value: number }>("SELECT value FROM store_meta WHERE key = 'pruned_through'"),
      setPrunedThrough: db.prepare("INSERT INTO store_meta (key, value) VALUES ('pruned_through', ?) ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)"),
      lastOldChange: db.prepare<[number], { version: number | null }>('SELECT max(version) AS version FROM lock_changes WHERE changed_at < ?'),
      pruneJournal: db.prepare('DELETE FROM lock_changes WHERE version <= ?'),
      changedDatabases: db.prepare<[number], { database: string }>('SELECT DISTINCT database FROM lock_changes WHERE version > ?'),
      locksIn: db.prepare<{ databases: string, now: number }, SqliteLockRow>(
        `SELECT rowid, * FROM locks WHERE database IN (SELECT value FROM json_each(@databases)) AND ${LIVE}`
      ),
      upsertProcess: db.prepare(
        'INSERT INTO processes (id, pid, applied_version, heartbeat_at) VALUES (@processId, @pid, @appliedVersion, @heartbeatAt) ' +
        'ON CONFLICT (id) DO UPDATE SET applied_version = excluded.applied_version, heartbeat_at = excluded.heartbeat_at'
      ),
      clearDraining: db.prepare('DELETE FROM draining WHERE process_id = ?'),
      addDraining: db.prepare('INSERT OR IGNORE INTO draining (process_id, database) VALUES (?, ?)'),
      lagging: db.prepare<{ version: number, liveSince: number, except: string }, { n: number }>(
        'SELECT count(*) AS n FROM processes WHERE heartbeat_at >= @liveSince AND applied_version < @version AND id != @except'
      ),
      // A namespace lock waits for every name below it: exactly per segment (`acme` is not above `acme2`).
      drainingOn: db.prepare<{ name: string, subtree: number, liveSince: number, except: string }, { n: number }>(
        'SELECT count(*) AS n FROM draining d JOIN processes p ON p.id = d.process_id ' +
        "WHERE (d.database = @name OR (@subtree AND substr(d.database, 1, length(@name) + 1) IN (@name || '.', @name || '/'))) " +
        'AND p.heartbeat_at >= @liveSince AND p.id != @except'
      ),
      forgetProcess: db.prepare('DELETE FROM processes WHERE id = ?'),
      reapProcesses: db.prepare('DELETE FROM processes WHERE heartbeat_at < ?'),
      reapDraining: db.prepare('DELETE FROM draining WHERE process_id NOT IN (SELECT id FROM processes)'),
      insertEvent: db.prepare(
        'INSERT INTO lock_events (at, type, database, mode, holder, principal, reason, request_id, client, route, count, owner, detail) ' +
        'VALUES (@at, @type, @database, @mode, @holder, @principal, @reason, @requestId, @client, @route, @count, @owner, @detail)'
      ),
      // Events written before schema version 3 have no owner: only a reader of everything sees them.
      listEvents: db.prepare<{ database: string, type: string | null, beforeAt: number, beforeId: number, limit: number, owner: string | null }, EventRow>(
        'SELECT * FROM lock_events WHERE database = @database AND (at, id) < (@beforeAt, @beforeId) AND (@type IS NULL OR type = @type) ' +
        'AND (@owner IS NULL OR owner = @owner) ORDER BY at DESC, id DESC LIMIT @limit'
      ),
      pruneEvents: db.prepare('DELETE FROM lock_events WHERE at < ?')
    }
  }

  /**
   * A write transaction, retried while another connection holds the write lock, for up to `budget` ms.
   * `durable: false` commits without an fsync (WAL with synchronous=NORMAL): the commit survives
   * the process being killed, not a power loss, and the next durable commit syncs it too.
   */
  private async write<T> (work: () => T, budget = this.busyTimeout, durable = true): Promise<T> {
    // Never acknowledge a write into a file that nobody else can see any more.
    this.checkFile()
    const transaction = this.db.transaction(work)
    return whenNotBusy(() => {
      if (durable) return transaction.immediate()
      // The pragma takes effect when prepared, so it cannot be a prepared statement.
      this.db.exec('PRAGMA synchronous = NORMAL')
      try {
        return transaction.immediate()
      } finally {
        this.db.exec('PRAGMA synchronous = FULL')
      }
    }, budget)
  }

  /** Throws LOCK_STORE_FILE_GONE unless the path still names the file this store opened. */
  private checkFile (): void {
    if (this.identity === null) return
    const found = identityOf(this.filePath)
    if (found === null || found.dev !== this.identity.dev || found.ino !== this.identity.ino) {
      throw new LockStoreError('LOCK_STORE_FILE_GONE',
        `the lock store file ${this.filePath} no longer names the file this process opened (${found === null ? 'removed' : 'replaced'}); ` +
        'guarded requests and lock requests are refused until the same file is back. If it cannot be restored, ' +
        'restart every process that shares the store and take the locks again (docs/consistency.md, "Fault paths")')
    }
    this.fileCheckedAt = Date.now()
  }

  /** A read transaction (WAL readers wait for nobody; retried briefly for the rare BUSY of a WAL reset). */
  private read<T> (work: () => T): Promise<T> {
    return whenNotBusy(() => this.db.transaction(work).deferred(), BACKGROUND_BUSY_BUDGET)
  }

  private currentVersion (): number {
    return this.statements.version.get()?.version ?? 0
  }

  async acquire (input: AcquireInput): Promise<AcquireResult> {
    const s = this.statements
    return this.write((): AcquireResult => {
      const existing = s.getLock.get(input.database, input.mode, input.holder)
      const decision = decideAcquire(existing === undefined ? undefined : toLockRecord(existing), input)
      if (existing !== undefined && decision.action === 'conflict') {
        return { conflict: decision.conflict, record: decision.record, created: false, version: this.currentVersion(), rowId: existing.rowid }
      }
      if (existing !== undefined && decision.action === 'keep') {
        const { record } = decision
        if (decision.changed) {
          s.updateLock.run({
            rowid: existing.rowid,
            reason: record.reason,
            expiresAt: record.expiresAt,
            namespace: record.namespace,
            unlockPolicy: policyColumn(record.unlock),
            unlockAt: null,
            approvals: null
          })
          s.journal.run(input.database, Date.now())
        }
        if (decision.cancelled) this.stamp(input.audit, 'unlock-cancelled', input.database, input.mode, input.holder, record.reason, 'locked again')
        this.stamp(input.audit, 'relocked', input.database, input.mode, input.holder, record.reason)
        return { record, created: false, cancelled: decision.cancelled, version: this.currentVersion(), rowId: existing.rowid }
      }
      if (existing !== undefined && decision.action === 'insert' && decision.replacesExpired) s.deleteRow.run(existing.rowid)
      const info = s.insertLock.run({
        database: input.database,
        mode: input.mode,
        holder: input.holder,
        namespace: input.namespace,
        reason: input.reason,
        lockedBy: input.lockedBy,
        now: input.now,
        expiresAt: input.expiresAt,
        owner: input.audit?.owner ?? null,
        unlockPolicy: policyColumn(input.unlock)
      })
      s.journal.run(input.database, Date.now())
      this.stamp(input.audit, 'locked', input.database, input.mode, input.holder, input.reason)
      return {
        record: newLockRecord(input),
        created: true,
        version: this.currentVersion(),
        rowId: Number(info.lastInsertRowid)
      }
    })
  }

  async release (database: string, mode: LockMode, holder: string | null, rowId?: number, audit?: AuditStamp): Promise<{ released: boolean, holders: string[], version: number }> {
    const s = this.statements
    return this.write(() => {
      const removed = rowId !== undefined
        ? s.releaseRow.all(database, mode, rowId)
        : holder === null ? s.releaseAll.all(database, mode) : s.releaseHolder.all(database, mode, holder)
      const holders = removed.map((row) => row.holder).sort()
      if (holders.length > 0) {
        s.journal.run(database, Date.now())
        for (const released of holders) this.stamp(audit, 'unlocked', database, mode, released, null)
      }
      return { released: holders.length > 0, holders, version: this.currentVersion() }
    })
  }

  async requestUnlock (database: string, mode: LockMode, holder: string | null, principal: string, now: number, audit?: AuditStamp): Promise<UnlockOutcome> {
    const s = this.statements
    return this.write((): UnlockOutcome => {
      const rows = s.modeRows.all(database, mode).map((row) => ({ id: row.rowid, lock: toLockRecord(row) }))
      const { outcome, writes, journal } = planUnlock(rows, holder, principal, now)
      for (const write of writes) {
        if (write.action === 'delete') s.deleteRow.run(write.id)
        else s.setUnlock.run(write.unlockAt, JSON.stringify(write.approvals), write.id)
      }
      for (const event of outcome.events) this.stamp(audit, event.type, database, mode, event.holder, null, event.detail)
      if (journal) s.journal.run(database, Date.now())
      return { ...outcome, version: this.currentVersion() }
    })
  }

  /** Writes the audit event of a change inside the change's transaction: one commit, one fsync. */
  private stamp (audit: AuditStamp | undefined, type: LockEventType, database: string, mode: LockMode, holder: string, reason: string | null, detail: string | null = null): void {
    if (audit === undefined) return
    this.statements.insertEvent.run({ ...audit, type, database, mode, holder, reason, detail, count: 1 })
  }

  async locksOf (database: string, now: number, ancestors: readonly string[] = []): Promise<LockRecord[]> {
    const own = this.statements.locksOf.all({ database, now }).map(toLockRecord)
    if (ancestors.length === 0) return own
    return own.concat(this.statements.inheritedBy.all({ database, ancestors: JSON.stringify(ancestors), now }).map(toLockRecord))
  }

  async list (options: { limit: number, after: { database: string, mode: LockMode, holder: string } | null, now: number }): Promise<LockRecord[]> {
    const { limit, after, now } = options
    const rows = after === null
      ? this.statements.listFirst.all({ now, limit })
      : this.statements.listAfter.all({ now, limit, ...after })
    return rows.map(toLockRecord)
  }

  async purgeExpired (now: number): Promise<LockRecord[]> {
    const s = this.statements
    return this.write(() => {
      const at = Date.now()
      this.pruneJournal(at)
      const expired = s.expired.all({ now })
      if (expired.length === 0) return []
      s.deleteExpired.run({ now })
      for (const database of new Set(expired.map((row) => row.database))) s.journal.run(database, at)
      // The audit trail learns of an expiry here, dated when the lock lifted.
      for (const row of expired) s.insertEvent.run({ detail: null, ...expiredEvent(toLockRecord(row), now, row.owner ?? null) })
      return expired.map(toLockRecord)
    }, BACKGROUND_BUSY_BUDGET)
  }

  async appendEvents (events: LockEvent[]): Promise<void> {
    const insert = this.statements.insertEvent
    await this.write(() => {
      for (const event of events) insert.run({ detail: null, ...event })
    }, BACKGROUND_BUSY_BUDGET)
  }

  async listEvents (options: { database: string, type: LockEventType | null, before: { at: number, id: number } | null, limit: number, owner: string | null }): Promise<StoredLockEvent[]> {
    const rows = this.statements.listEvents.all({
      database: options.database,
      type: options.type,
      beforeAt: options.before?.at ?? Number.MAX_SAFE_INTEGER,
      beforeId: options.before?.id ?? Number.MAX_SAFE_INTEGER,
      limit: options.limit,
      owner: options.owner
    })
    return rows.map(toStoredEvent)
  }

  async pruneEvents (before: number): Promise<number> {
    const prune = this.statements.pruneEvents
    return this.write(() => prune.run(before).changes, BACKGROUND_BUSY_BUDGET)
  }

  /** Drops journal rows older than the retention; later readers that needed them take a snapshot. */
  private pruneJournal (at: number): void {
    const s = this.statements
    const through = s.lastOldChange.get(at - this.journalRetention)?.version
    if (through === null || through === undefined) return
    s.pruneJournal.run(through)
    s.setPrunedThrough.run(through)
  }

  async snapshot (now: number): Promise<{ version: number, rows: LockRecord[] }> {
    return this.read(() => ({
      version: this.currentVersion(),
      rows: this.statements.live.all({ now }).map(toLockRecord)
    }))
  }

  async visitLive (
    now: number,
    visit: (database: string, mode: LockMode, expiresAt: number | null, reason: string | null, namespace: string | null) => void,
    permanentDeletes?: (names: Uint8Array) => void
  ): Promise<number> {
    const s = this.statements
    return this.read(() => {
      let rows = s.liveRaw
      if (permanentDeletes !== undefined) {
        // The bulk of a large store in a few buffers: no string, no row per lock.
        for (let after: string | undefined = ''; after !== undefined;) {
          const upto = s.permanentDeleteChunkEnd.get({ after })
          const names = s.permanentDeleteNames.get({ after, upto: upto ?? null })
          if (names !== undefined && names !== null) permanentDeletes(names)
          after = upto
        }
        rows = s.otherLiveRaw
      }
      // Raw rows, no record objects.
      for (const [database, mode, expiresAt, reason, namespace] of rows.iterate({ now }) as IterableIterator<[string, LockMode, number | null, string | null, string | null]>) {
        visit(database, mode, expiresAt, reason, namespace)
      }
      return this.currentVersion()
    })
  }

  async hasChanged (): Promise<boolean> {
    if (Date.now() - this.fileCheckedAt >= FILE_CHECK_INTERVAL) this.checkFile()
    // data_version moves when another connection commits; our own writes are applied directly.
    const dataVersion = Number(this.statements.dataVersion.get())
    const changed = dataVersion !== this.lastDataVersion
    this.lastDataVersion = dataVersion
    return changed
  }

  async changesSince (version: number, now: number): Promise<StoreChanges | null> {
    const s = this.statements
    return this.read((): StoreChanges | null => {
      const current = this.currentVersion()
      if (current === version) return { version, databases: [], rows: [] }
      const prunedThrough = s.prunedThrough.get()?.value ?? 0
      // Far behind (or new): reading every live lock is cheaper than replaying the journal.
      if (version < prunedThrough || current - version > FULL_RELOAD_AFTER) return null
      const databases = s.changedDatabases.all(version).map((row) => row.database)
      const rows = databases.length === 0
        ? []
        : s.locksIn.all({ databases: JSON.stringify(databases), now }).map(toLockRecord)
      return { version: current, databases, rows }
    })
  }

  async report (report: ProcessReport): Promise<void> {
    const s = this.statements
    // Not durable: a report only matters to processes alive with this one, and a power loss
    // ends them all. It saves an fsync per heartbeat and speeds up the locker's wait.
    await this.write(() => {
      s.upsertProcess.run(report)
      s.clearDraining.run(report.processId)
      for (const database of report.draining) s.addDraining.run(report.processId, database)
    }, BACKGROUND_BUSY_BUDGET, false)
    // The heartbeat always writes to the WAL: a watch that does not see it misses writes.
    if (this.watcher !== null && this.unseenWriteAt === null) this.unseenWriteAt = performance.now()
  }

  /**
   * Calls `onChange` soon after another connection commits: an inotify watch (fs.watch) on the
   * store's folder, for writes to its WAL file. A writer writes its commit to the WAL before it
   * syncs and publishes it, so after a write the store looks again and again while another
   * connection holds the write lock, announcing each commit that becomes visible, until nobody
   * writes. Our own writes wake the watch too, and end at once: no new commit, nobody writing.
   */
  watchChanges (onChange: () => void): StoreWatch | null {
    if (this.identity === null || this.watcher !== null) return null
    const fileName = basename(this.filePath)
    const walName = `${fileName}-wal`
    try {
      this.watcher = watch(dirname(this.filePath), { persistent: false }, (event, filename) => {
        if (event === 'rename' && (filename === null || filename === fileName || filename === walName)) {
          // Removed, replaced or moved back: the view's next read checks the file at once.
          this.fileCheckedAt = 0
          onChange()
          return
        }
        // Other files in the folder wake the process too, and are skipped here.
        if (filename !== null && filename !== walName) return
        this.unseenWriteAt = null
        // While a look-up runs, it goes on until nobody writes: it sees this write's commit too.
        if (this.followUp === null) this.lookAtWalWrite(onChange, performance.now() + WAKE_FOLLOW_UP, 1)
      })
    } catch {
      // No inotify here (or no watch left): the view polls.
      return null
    }
    const watcher = this.watcher
    watcher.on('error', () => { this.unwatch() })
    return {
      healthy: () => this.watcher === watcher && (this.unseenWriteAt === null || performance.now() - this.unseenWriteAt < WATCH_SILENT_AFTER),
      close: () => { if (this.watcher === watcher) this.unwatch() }
    }
  }

  private unwatch (): void {
    this.watcher?.close()
    this.watcher = null
    this.unseenWriteAt = null
    if (this.followUp !== null) clearTimeout(this.followUp)
    this.followUp = null
  }

  private lookAtWalWrite (onChange: () => void, until: number, pause: number): void {
    this.followUp = null
    if (!this.db.open || this.watcher === null) return
    this.announceCommit(onChange)
    if (this.anotherWriter() && performance.now() < until) {
      // A commit is written, perhaps not yet synced and published: look again shortly.
      this.followUp = setTimeout(() => { this.lookAtWalWrite(onChange, until, Math.min(pause * 2, 4)) }, pause)
      this.followUp.unref()
      return
    }
    // Nobody writes: a commit that ended meanwhile shows now; if none, the write was ours.
    this.announceCommit(onChange)
  }

  /** Calls `onChange` if another connection's commit became visible since the watch last said so. */
  private announceCommit (onChange: () => void): void {
    const dataVersion = Number(this.statements.dataVersion.get())
    if (dataVersion === this.watchedDataVersion) return
    this.watchedDataVersion = dataVersion
    onChange()
  }

  /** Whether another connection holds the write lock now. */
  private anotherWriter (): boolean {
    if (this.db.inTransaction) return true
    try {
      this.statements.beginWrite.run()
    } catch {
      // BUSY: someone writes. Any other error: say yes too, so that the view polls soon and meets it.
      return true
    }
    this.statements.rollback.run()
    return false
  }

  async drainState (target: DrainTarget, version: number, liveSince: number, exceptProcessId = ''): Promise<DrainState> {
    const s = this.statements
    return this.read(() => ({
      lagging: s.lagging.get({ version, liveSince, except: exceptProcessId })?.n ?? 0,
      draining: s.drainingOn.get({ name: target.name, subtree: target.subtree ? 1 : 0, liveSince, except: exceptProcessId })?.n ?? 0
    }))
  }

  async forgetProcess (processId: string): Promise<void> {
    const s = this.statements
    await this.write(() => {
      s.forgetProcess.run(processId)
      s.clearDraining.run(processId)
    })
  }

  async reapProcesses (before: number): Promise<number> {
    const s = this.statements
    return this.write(() => {
      const removed = s.reapProcesses.run(before).changes
      if (removed > 0) s.reapDraining.run()
      return removed
    }, BACKGROUND_BUSY_BUDGET)
  }

  async close (): Promise<void> {
    this.unwatch()
    if (this.db.open) this.db.close()
  }
}
