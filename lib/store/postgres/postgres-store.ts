// The LockStore for services on several hosts: one PostgreSQL database shared by
// every process. Same semantics as the SQLite store; changes are announced with
// LISTEN/NOTIFY and also polled, so a lost notification only delays, never hides.
import { performance } from 'node:perf_hooks'
import type { PoolClient } from 'pg'
import type {
  AcquireInput, AcquireResult, AuditStamp, DrainState, DrainTarget, LockEvent, LockEventType, LockMode, LockRecord, LockStore, OwnChange,
  ProcessReport, StatusRequest, StoreChanges, StoredLockEvent, UnlockOutcome
} from '../../../types/index.js'
import {
  type EventRow, type LockRow, decideAcquire, expiredEvent, isLive, newLockRecord, planUnlock, policyColumn, toLockRecord, toStoredEvent
} from '../rows.js'
import { PostgresConnection, positiveOption, type PostgresLockStoreOptions, type PostgresTables } from './postgres-connection.js'
import { POSTGRES_LATEST_VERSION, POSTGRES_MIGRATIONS } from './postgres-migrations.js'
import { LockStoreError } from '../store-errors.js'

export type { PostgresLockStoreOptions } from './postgres-connection.js'

interface PostgresLockRow extends LockRow {
  id: string
}

/** Lock rows as JSON, already in LockRecord's shape (bigints of milliseconds fit a JS number). */
const RECORD_JSON = "json_build_object('database', l.database, 'mode', l.mode, 'holder', l.holder, 'namespace', l.namespace, 'reason', l.reason, " +
  "'lockedBy', l.locked_by, 'lockedAt', l.locked_at, 'expiresAt', l.expires_at, " +
  "'unlock', l.unlock_policy, 'unlockAt', l.unlock_at, 'approvals', coalesce(l.approvals, '[]'::jsonb))"
/** The columns toLockRecord reads. */
const LOCK_COLUMNS = 'l.database, l.mode, l.holder, l.namespace, l.reason, l.locked_by, l.locked_at, l.expires_at, l.unlock_policy, l.unlock_at, l.approvals'
/** Unexpired rows of `l`; `now` names the query parameter that holds the plugin's clock. */
const live = (now: string): string =>
  `(l.expires_at IS NULL OR l.expires_at > ${now}::bigint) AND (l.unlock_at IS NULL OR l.unlock_at > ${now}::bigint)`
/** The server's clock in ms: liveness is judged on one clock, whatever the hosts' skew. */
const SERVER_CLOCK = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint'
/** Start of the transaction in ms: one instant for every journal row a transaction writes and prunes. */
const TX_CLOCK = '(extract(epoch FROM now()) * 1000)::bigint'
/** An event row's columns, and the same fields of `e`, a JSON event read by json_to_record(set) AS e EVENT_RECORD. */
const EVENT_COLUMNS = 'at, type, database, mode, holder, principal, reason, request_id, client, route, owner, count, detail'
const EVENT_FIELDS = 'e.at, e.type, e.database, e.mode, e.holder, e.principal, e.reason, e."requestId", e.client, e.route, e.owner, e.count, e.detail'
const EVENT_RECORD = '(at bigint, type text, database text, mode text, holder text, detail text, principal text, reason text, "requestId" text, ' +
  'client text, route text, owner text, count integer)'

/** What the one-statement lock answers; `id` null: a row (live, expired or conflicting) was there, nothing was written. */
interface FastAcquireRow {
  id: string | null
  from: string
  version: string | null
  /** No other write committed between the statement's snapshot and its row lock on the state: `rows` are current. */
  current: boolean
  rows: LockRecord[]
}

/** What the one-statement unlock answers; `fast` false: a row has an unlock policy (or the snapshot was behind), nothing was written. */
interface FastUnlockRow {
  fast: boolean
  from: string
  version: string | null
  released: string[]
  rows: LockRecord[]
  /** The status's rows, when asked for (statusOf). */
  status: LockRecord[] | null
}
export class PostgresLockStore implements LockStore {
  readonly schema: string
  private readonly connection: PostgresConnection
  private readonly journalRetention: number
  private readonly pollFallbackInterval: number
  private readonly t: PostgresTables
  /** Whether the schema has the audit table (migration 2); tests may open older levels. */
  private readonly hasEvents: boolean
  /** Lock and unlock in one statement each, for the common cases (schema 4 and later: holders, policies). */
  private readonly fast: { acquire: string, unlock: string } | null
  /** Set by a notification or a reconnect; cleared by hasChanged. True at first, as a new reader knows nothing. */
  private changed = true
  /** Set with `changed` when what changed is not a higher version (missed notifications, a store rebuilt): news to every reader. */
  private changedUnknown = true
  /** Highest version already announced by a notification or a poll, so neither announces it twice. */
  private seenVersion = -1
  private polledAt = -Infinity
  /** This process's id, once it has reported: its own row does not count as a listener. */
  private processId: string | null = null

  constructor (options: PostgresLockStoreOptions) {
    this.connection = new PostgresConnection(options, (version) => { this.saw(version) })
    this.schema = this.connection.schema
    this.t = this.connection.t
    this.journalRetention = options.journalRetention ?? 10 * 60_000
    this.pollFallbackInterval = positiveOption('pollFallbackInterval', options.pollFallbackInterval, 100)
    const migrations = options.migrations ?? POSTGRES_MIGRATIONS
    this.hasEvents = migrations.some((migration) => migration.version >= 2)
    this.fast = migrations.some((migration) => migration.version >= 4) ? { acquire: this.fastAcquireSql(), unlock: this.fastUnlockSql() } : null
  }

  /**
   * The version bump and the journal row of a one-statement write, as CTEs `v` and `j`: they run
   * only when the CTE `written` returned a row; the changed database is $1.
   */
  private journalCtes (written: string): string {
    return `v AS (
        UPDATE ${this.t.state} SET version = version + 1 WHERE EXISTS (SELECT FROM ${written}) RETURNING version
      ), j AS (
        INSERT INTO ${this.t.changes} (version, database, changed_at) SELECT v.version, $1::text, ${TX_CLOCK} FROM v
      )`
  }

  /**
   * Whether a notification could reach anyone: some other process has registered (its row may
   * be stale; a dead one is harmless). `me` names the parameter holding this process's id, null
   * until it has reported. A process that registers after the statement's snapshot misses this
   * notification and finds the write at its next poll (pollFallbackInterval).
   */
  private othersListen (me: string): string {
    return `(${me}::text IS NULL OR EXISTS (SELECT FROM ${this.t.processes} p WHERE p.id <> ${me}::text))`
  }

  /**
   * Lock in one statement when no row of the holder exists (the common case): lock the state row
   * (writers commit in version order), insert, journal, audit and notify. The INSERT reads the
   * state row it locked, so the row lock comes first, as in every other write. Any row of the
   * holder makes it write nothing, and `acquire` decides in a transaction (decideAcquire).
   */
  private fastAcquireSql (): string {
    const t = this.t
    return `WITH s AS (
        SELECT version FROM ${t.state} FOR UPDATE
      ), ins AS (
        INSERT INTO ${t.locks} (database, mode, holder, namespace, reason, locked_by, locked_at, expires_at, owner, unlock_policy)
        SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::bigint, $8::bigint, $9::text, $10::jsonb FROM s
        ON CONFLICT (database, mode, holder) DO NOTHING
        RETURNING id
      ), ${this.journalCtes('ins')}, e AS (
        INSERT INTO ${t.events} (${EVENT_COLUMNS})
        SELECT ${EVENT_FIELDS} FROM json_to_recordset($11::json) AS e ${EVENT_RECORD} WHERE EXISTS (SELECT FROM ins)
      )
      SELECT ins.id, s.version AS from, v.version,
        CASE WHEN v.version IS NOT NULL AND ${this.othersListen('$13')} THEN pg_notify($12::text, v.version::text) END AS notified,
        (SELECT version FROM ${t.state}) = s.version AS current,
        coalesce((SELECT json_agg(${RECORD_JSON}) FROM ${t.locks} l WHERE l.database = $1::text AND ${live('$7')}), '[]') AS rows
      FROM s LEFT JOIN ins ON true LEFT JOIN v ON true`
  }

  /**
   * Unlock in one statement when none of the asked live rows has an unlock policy (each then simply
   * goes, as planUnlock decides for a row without one): delete, journal, audit, notify. The
   * statement reads its rows in its snapshot; it writes only when that snapshot is current (no
   * write committed before it got the state row lock), else, or under a policy, `requestUnlock`
   * plans in a transaction (planUnlock).
   */
  private fastUnlockSql (): string {
    const t = this.t
    return `WITH s AS (
        SELECT version FROM ${t.state} FOR UPDATE
      ), asked AS (
        SELECT l.id, l.holder, l.unlock_policy FROM ${t.locks} l
        WHERE l.database = $1::text AND l.mode = $2::text AND ($3::text IS NULL OR l.holder = $3::text) AND ${live('$4')}
      ), ok AS (
        SELECT (SELECT version FROM ${t.state}) = s.version AND NOT EXISTS (SELECT FROM asked WHERE asked.unlock_policy IS NOT NULL) AS fast FROM s
      ), d AS (
        DELETE FROM ${t.locks} l USING ok WHERE ok.fast AND l.id IN (SELECT id FROM asked) RETURNING l.id, l.holder
      ), ${this.journalCtes('d')}, e AS (
        INSERT INTO ${t.events} (${EVENT_COLUMNS})
        SELECT e.at, 'unlocked', $1::text, $2::text, d.holder, e.principal, NULL, e."requestId", e.client, e.route, e.owner, 1, NULL
        FROM json_to_record($5::json) AS e (at bigint, principal text, "requestId" text, client text, route text, owner text), d
        WHERE $5::json IS NOT NULL ORDER BY d.holder
      )
      SELECT ok.fast, s.version AS from, v.version,
        CASE WHEN v.version IS NOT NULL AND ${this.othersListen('$9')} THEN pg_notify($6::text, v.version::text) END AS notified,
        coalesce((SELECT json_agg(d.holder ORDER BY d.holder) FROM d), '[]') AS released,
        coalesce((SELECT json_agg(${RECORD_JSON}) FROM ${t.locks} l
                  WHERE l.database = $1::text AND ${live('$4')} AND l.id NOT IN (SELECT id FROM d)), '[]') AS rows,
        CASE WHEN $7::text[] IS NOT NULL THEN
          coalesce((SELECT json_agg(${RECORD_JSON} ORDER BY l.database <> $1::text, length(l.namespace), l.namespace, l.mode, l.holder)
                    FROM ${t.locks} l
                    WHERE (l.database = $1::text OR (l.namespace = ANY ($7::text[]) AND l.database <> $1::text)) AND ${live('$8')}
                      AND l.id NOT IN (SELECT id FROM d)), '[]')
        END AS status
      FROM s CROSS JOIN ok LEFT JOIN v ON true`
  }

  /** Connects, migrates and starts listening; the first call of any method does this too. */
  connect (): Promise<void> {
    return this.connection.connect()
  }

  /** Whether the LISTEN connection is up; while it is down, hasChanged polls on every call. */
  get listening (): boolean {
    return this.connection.listening
  }

  private async query<R extends object> (sql: string, params: unknown[] = []): Promise<R[]> {
    return this.connection.query<R>(sql, params)
  }

  /** A statement the store sends often: parsed and planned once per connection. `what` names it; one text per name. */
  private async prepared<R extends object> (what: string, sql: string, params: unknown[]): Promise<R[]> {
    return this.connection.prepared<R>(`dblock_${what}_${this.schema}`, sql, params)
  }

  /** Runs `work` in a transaction that first takes the writers' row lock, so versions commit in order. */
  private async write<T> (work: (client: PoolClient, version: number) => Promise<T>): Promise<T> {
    await this.connect()
    return this.connection.transaction(async (client) => {
      const state = await client.query<{ version: string }>(`SELECT version FROM ${this.t.state} FOR UPDATE`)
      return work(client, Number(state.rows[0].version))
    })
  }

  /** Records a change of each database under the next versions and wakes every listener at commit. */
  private async journal (client: PoolClient, databases: string[]): Promise<number> {
    const result = await client.query<{ version: string }>(
      `WITH v AS (
         UPDATE ${this.t.state} SET version = version + cardinality($1::text[]) RETURNING version
       ), j AS (
         INSERT INTO ${this.t.changes} (version, database, changed_at)
         SELECT v.version - cardinality($1::text[]) + d.ord, d.database, ${TX_CLOCK}
         FROM v, unnest($1::text[]) WITH ORDINALITY AS d (database, ord)
       )
       SELECT v.version, pg_notify($2, v.version::text) FROM v`,
      [databases, this.connection.channel]
    )
    return Number(result.rows[0].version)
  }

  async acquire (input: AcquireInput): Promise<AcquireResult> {
    if (this.fast !== null) {
      await this.connect()
      const events = input.audit === undefined
        ? []
        : [{ ...input.audit, type: 'locked', database: input.database, mode: input.mode, holder: input.holder, reason: input.reason, detail: null, count: 1 }]
      const [row] = await this.prepared<FastAcquireRow>('acquire', this.fast.acquire, [
        input.database, input.mode, input.holder, input.namespace, input.reason, input.lockedBy, input.now, input.expiresAt, input.audit?.owner ?? null,
        policyColumn(input.unlock), JSON.stringify(events), this.connection.channel, this.processId
      ])
      if (row.id !== null && row.version !== null) {
        const record = newLockRecord(input)
        const version = Number(row.version)
        const change: OwnChange | undefined = row.current
          ? { from: Number(row.from), version, databases: [input.database], rows: isLive(record, input.now) ? [...row.rows, record] : row.rows }
          : undefined
        return { record, created: true, version, rowId: Number(row.id), change }
      }
    }
    return this.acquireInTransaction(input)
  }

  private async acquireInTransaction (input: AcquireInput): Promise<AcquireResult> {
    return this.write(async (client, version) => {
      const found = await client.query<PostgresLockRow>(
        `SELECT * FROM ${this.t.locks} WHERE database = $1 AND mode = $2 AND holder = $3`, [input.database, input.mode, input.holder]
      )
      const row = found.rows.at(0)
      const decision = decideAcquire(row === undefined ? undefined : toLockRecord(row), input)
      if (row !== undefined && decision.action === 'conflict') {
        return { conflict: decision.conflict, record: decision.record, created: false, version, rowId: Number(row.id) }
      }
      if (row !== undefined && decision.action === 'keep') {
        const { record } = decision
        let current = version
        if (decision.changed) {
          await client.query(
            `UPDATE ${this.t.locks} SET reason = $2, expires_at = $3, namespace = $4, unlock_policy = $5::jsonb, unlock_at = NULL, approvals = NULL WHERE id = $1`,
            [row.id, record.reason, record.expiresAt, record.namespace, policyColumn(record.unlock)])
          current = await this.journal(client, [input.database])
        }
        if (decision.cancelled) await this.stamp(client, input.audit, 'unlock-cancelled', input.database, input.mode, input.holder, record.reason, 'locked again')
        await this.stamp(client, input.audit, 'relocked', input.database, input.mode, input.holder, record.reason)
        return { record, created: false, cancelled: decision.cancelled, version: current, rowId: Number(row.id) }
      }
      if (row !== undefined && decision.action === 'insert' && decision.replacesExpired) {
        await client.query(`DELETE FROM ${this.t.locks} WHERE id = $1`, [row.id])
      }
      const inserted = await client.query<{ id: string }>(
        `INSERT INTO ${this.t.locks} (database, mode, holder, namespace, reason, locked_by, locked_at, expires_at, owner, unlock_policy)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) RETURNING id`,
        [input.database, input.mode, input.holder, input.namespace, input.reason, input.lockedBy, input.now, input.expiresAt, input.audit?.owner ?? null,
          policyColumn(input.unlock)]
      )
      const current = await this.journal(client, [input.database])
      await this.stamp(client, input.audit, 'locked', input.database, input.mode, input.holder, input.reason)
      return {
        record: newLockRecord(input),
        created: true,
        version: current,
        rowId: Number(inserted.rows[0].id)
      }
    })
  }

  async release (database: string, mode: LockMode, holder: string | null, rowId?: number, audit?: AuditStamp): Promise<{ released: boolean, holders: string[], version: number }> {
    return this.write(async (client, version) => {
      const deleted = await client.query<{ holder: string }>(
        `DELETE FROM ${this.t.locks} WHERE database = $1 AND mode = $2 AND ($3::text IS NULL OR holder = $3) AND ($4::bigint IS NULL OR id = $4) RETURNING holder`,
        [database, mode, rowId === undefined ? holder : null, rowId ?? null]
      )
      const holders = deleted.rows.map((row) => row.holder).sort()
      if (holders.length === 0) return { released: false, holders, version }
      const current = await this.journal(client, [database])
      if (audit !== undefined && this.hasEvents) {
        await this.insertEvents(client, holders.map((released) => ({ ...audit, type: 'unlocked', database, mode, holder: released, reason: null, count: 1 })))
      }
      return { released: true, holders, version: current }
    })
  }

  async requestUnlock (
    database: string, mode: LockMode, holder: string | null, principal: string, now: number, audit?: AuditStamp, statusOf?: StatusRequest
  ): Promise<UnlockOutcome> {
    if (this.fast !== null) {
      await this.connect()
      const stamp = audit === undefined
        ? null
        : { at: audit.at, principal: audit.principal, requestId: audit.requestId, client: audit.client, route: audit.route, owner: audit.owner }
      const [row] = await this.prepared<FastUnlockRow>('unlock', this.fast.unlock, [
        database, mode, holder, now, stamp === null ? null : JSON.stringify(stamp), this.connection.channel,
        statusOf?.ancestors ?? null, statusOf?.now ?? now, this.processId
      ])
      if (row.fast) {
        const from = Number(row.from)
        const version = row.version === null ? from : Number(row.version)
        const change: OwnChange | undefined = row.version === null ? undefined : { from, version, databases: [database], rows: row.rows }
        return {
          released: row.released,
          scheduled: [],
          awaiting: [],
          forbidden: [],
          events: row.released.map((released) => ({ type: 'unlocked', holder: released, detail: null })),
          version,
          change,
          ...(row.status === null ? {} : { locks: row.status })
        }
      }
    }
    return this.requestUnlockInTransaction(database, mode, holder, principal, now, audit)
  }

  private async requestUnlockInTransaction (
    database: string, mode: LockMode, holder: string | null, principal: string, now: number, audit?: AuditStamp
  ): Promise<UnlockOutcome> {
    return this.write(async (client, version) => {
      const found = await client.query<PostgresLockRow>(
        `SELECT * FROM ${this.t.locks} WHERE database = $1 AND mode = $2 AND ($3::text IS NULL OR holder = $3) ORDER BY holder FOR UPDATE`,
        [database, mode, holder])
      const { outcome, writes, journal } = planUnlock(found.rows.map((row) => ({ id: row.id, lock: toLockRecord(row) })), holder, principal, now)
      for (const write of writes) {
        if (write.action === 'delete') await client.query(`DELETE FROM ${this.t.locks} WHERE id = $1`, [write.id])
        else await client.query(`UPDATE ${this.t.locks} SET unlock_at = $2, approvals = $3::jsonb WHERE id = $1`, [write.id, write.unlockAt, JSON.stringify(write.approvals)])
      }
      const current = journal ? await this.journal(client, [database]) : version
      if (audit !== undefined && this.hasEvents) {
        await this.insertEvents(client, outcome.events.map((event) => ({ ...audit, ...event, database, mode, reason: null, count: 1 })))
      }
      return { ...outcome, version: current }
    })
  }

  /** The audit event of a change, in the change's own transaction. */
  private async stamp (
    client: PoolClient, audit: AuditStamp | undefined, type: LockEventType, database: string, mode: LockMode, holder: string, reason: string | null, detail: string | null = null
  ): Promise<void> {
    if (audit === undefined || !this.hasEvents) return
    await this.insertEvents(client, [{ ...audit, type, database, mode, holder, reason, detail, count: 1 }])
  }

  async locksOf (database: string, now: number, ancestors: readonly string[] = []): Promise<LockRecord[]> {
    // Its own locks first (by mode, holder), then those it inherits, nearest namespace last.
    // Columns by name: a prepared `SELECT *` would fail once a migration added a column.
    const rows = await this.prepared<LockRow>('locks_of',
      `SELECT ${LOCK_COLUMNS} FROM ${this.t.locks} l
       WHERE (l.database = $1 OR (l.namespace = ANY ($3::text[]) AND l.database <> $1)) AND ${live('$2')}
       ORDER BY l.database <> $1, length(l.namespace), l.namespace, l.mode, l.holder`,
      [database, now, ancestors]
    )
    return rows.map(toLockRecord)
  }

  async list (options: { limit: number, after: { database: string, mode: LockMode, holder: string } | null, now: number }): Promise<LockRecord[]> {
    const { limit, after, now } = options
    const rows = after === null
      ? await this.query<PostgresLockRow>(
        `SELECT * FROM ${this.t.locks} l WHERE ${live('$1')} ORDER BY l.database, l.mode, l.holder LIMIT $2`, [now, limit]
      )
      : await this.query<PostgresLockRow>(
        `SELECT * FROM ${this.t.locks} l WHERE (l.database, l.mode, l.holder) > ($3, $4, $5) AND ${live('$1')} ORDER BY l.database, l.mode, l.holder LIMIT $2`,
        [now, limit, after.database, after.mode, after.holder]
      )
    return rows.map(toLockRecord)
  }

  async purgeExpired (now: number): Promise<LockRecord[]> {
    return this.write(async (client) => {
      // Drops journal rows older than the retention; later readers that needed them take a snapshot.
      await client.query(
        `WITH p AS (
           SELECT max(version) AS through FROM ${this.t.changes} WHERE changed_at < ${TX_CLOCK} - $1::bigint
         ), d AS (
           DELETE FROM ${this.t.changes} WHERE version <= (SELECT through FROM p)
         )
         UPDATE ${this.t.state} SET pruned_through = greatest(pruned_through, (SELECT through FROM p))
         WHERE (SELECT through FROM p) IS NOT NULL`,
        [Math.trunc(this.journalRetention)]
      )
      const removed = await client.query<PostgresLockRow>(
        `DELETE FROM ${this.t.locks} WHERE (expires_at IS NOT NULL AND expires_at <= $1) OR (unlock_at IS NOT NULL AND unlock_at <= $1) RETURNING *`, [now]
      )
      if (removed.rows.length === 0) return []
      await this.journal(client, [...new Set(removed.rows.map((row) => row.database))].sort())
      const expired = removed.rows.map(toLockRecord)
      // The audit trail learns of an expiry here, dated when the lock lifted.
      if (this.hasEvents) {
        await this.insertEvents(client, removed.rows.map((row) => expiredEvent(toLockRecord(row), now, row.owner ?? null)))
      }
      return expired
    })
  }

  private async insertEvents (client: Pick<PoolClient, 'query'>, events: LockEvent[]): Promise<void> {
    if (events.length === 0) return
    // One statement for the whole batch: the events arrive as one JSON array.
    await client.query(
      `INSERT INTO ${this.t.events} (${EVENT_COLUMNS}) SELECT ${EVENT_FIELDS} FROM json_to_recordset($1::json) AS e ${EVENT_RECORD}`,
      [JSON.stringify(events)]
    )
  }

  async appendEvents (events: LockEvent[]): Promise<void> {
    this.eventsKept()
    await this.connect()
    await this.insertEvents(this.connection.pool, events)
  }

  async listEvents (options: { database: string, type: LockEventType | null, before: { at: number, id: number } | null, limit: number, owner: string | null }): Promise<StoredLockEvent[]> {
    this.eventsKept()
    const rows = await this.query<EventRow>(
      `SELECT * FROM ${this.t.events}
       WHERE database = $1 AND (at, id) < ($2::bigint, $3::bigint) AND ($4::text IS NULL OR type = $4) AND ($6::text IS NULL OR owner = $6)
       ORDER BY at DESC, id DESC LIMIT $5`,
      [options.database, options.before?.at ?? Number.MAX_SAFE_INTEGER, options.before?.id ?? Number.MAX_SAFE_INTEGER, options.type, options.limit, options.owner]
    )
    return rows.map(toStoredEvent)
  }

  async pruneEvents (before: number): Promise<number> {
    this.eventsKept()
    await this.connect()
    const result = await this.connection.transaction((client) => client.query(`DELETE FROM ${this.t.events} WHERE at < $1`, [before]))
    return result.rowCount ?? 0
  }

  private eventsKept (): void {
    if (!this.hasEvents) throw new LockStoreError('LOCK_STORE_NO_EVENTS', 'this lock store schema has no audit table (schema version below 2)')
  }

  async snapshot (now: number): Promise<{ version: number, rows: LockRecord[] }> {
    // One statement, so the version and the rows come from one snapshot of the data.
    const [row] = await this.query<{ version: string, rows: LockRecord[] }>(
      `SELECT s.version, coalesce((SELECT json_agg(${RECORD_JSON}) FROM ${this.t.locks} l WHERE ${live('$1')}), '[]') AS rows
       FROM ${this.t.state} s`,
      [now]
    )
    return { version: Number(row.version), rows: row.rows }
  }

  async hasChanged (appliedVersion?: number): Promise<boolean> {
    await this.connect()
    const startedAt = performance.now()
    // Notifications do the work; the poll bounds how long a lost one could go unnoticed.
    if (!this.connection.listening || startedAt - this.polledAt >= this.pollFallbackInterval) {
      const [row] = await this.prepared<{ version: string }>('version', `SELECT version FROM ${this.t.state}`, [])
      this.polledAt = startedAt
      // Any other version than the one announced last, lower too (a store rebuilt), is news.
      if (Number(row.version) !== this.seenVersion) this.saw(Number(row.version), true)
    }
    // A version the caller has applied is no news: its own write, announced back to it.
    const changed = this.changed && (this.changedUnknown || appliedVersion === undefined || this.seenVersion > appliedVersion)
    this.changed = false
    this.changedUnknown = false
    return changed
  }

  private saw (version: number, fromPoll = false): void {
    if (!Number.isSafeInteger(version)) {
      this.changed = true
      this.changedUnknown = true
    } else if (version > this.seenVersion) {
      this.seenVersion = version
      this.changed = true
    } else if (fromPoll) {
      // Lower than announced: the store was rebuilt.
      this.seenVersion = version
      this.changed = true
      this.changedUnknown = true
    }
  }

  async changesSince (version: number, now: number): Promise<StoreChanges | null> {
    // One statement, so the version, the journal and the rows come from one snapshot of the data.
    const [row] = await this.prepared<{ version: string, pruned_through: string, databases: string[], rows: LockRecord[] }>('changes_since',
      `WITH s AS (
         SELECT version, pruned_through FROM ${this.t.state}
       ), changed AS (
         SELECT DISTINCT c.database FROM ${this.t.changes} c, s
         WHERE c.version > $1::bigint AND s.version <> $1::bigint AND s.pruned_through <= $1::bigint
       )
       SELECT s.version, s.pruned_through,
         coalesce((SELECT json_agg(database) FROM changed), '[]') AS databases,
         coalesce((SELECT json_agg(${RECORD_JSON}) FROM ${this.t.locks} l
                   WHERE l.database IN (SELECT database FROM changed) AND ${live('$2')}), '[]') AS rows
       FROM s`,
      [version, now]
    )
    const current = Number(row.version)
    if (current === version) return { version, databases: [], rows: [] }
    if (version < Number(row.pruned_through)) return null
    return { version: current, databases: row.databases, rows: row.rows }
  }

  async report (report: ProcessReport): Promise<void> {
    // One statement: the upsert and the draining rows change together. The delete and the
    // insert touch different rows, so their order inside the statement does not matter.
    // Its commit does not wait for the WAL flush (synchronous_commit off for this transaction
    // only): a report matters only to processes alive with this one and the server, and a
    // server crash ends their connections; lock and unlock commits stay durable.
    this.processId = report.processId
    await this.prepared('report',
      `WITH unflushed AS (
         SELECT set_config('synchronous_commit', 'off', true)
       ), p AS (
         INSERT INTO ${this.t.processes} (id, pid, applied_version, heartbeat_at)
         VALUES ($1, $2, $3, $4::bigint + ${SERVER_CLOCK} - $5::bigint)
         ON CONFLICT (id) DO UPDATE SET applied_version = excluded.applied_version, heartbeat_at = excluded.heartbeat_at
       ), gone AS (
         DELETE FROM ${this.t.draining} WHERE process_id = $1 AND database <> ALL ($6::text[])
       )
       INSERT INTO ${this.t.draining} (process_id, database) SELECT $1, unnest($6::text[]) FROM unflushed ON CONFLICT DO NOTHING`,
      [report.processId, report.pid, report.appliedVersion, report.heartbeatAt, Date.now(), report.draining]
    )
  }

  async drainState (target: DrainTarget, version: number, liveSince: number, exceptProcessId = '', statusOf?: StatusRequest): Promise<DrainState> {
    // liveSince is in this host's clock: moved to the server's clock like the heartbeats it is compared with.
    const counts = `WITH live AS (SELECT $3::bigint + ${SERVER_CLOCK} - $5::bigint AS since)
       SELECT
         (SELECT count(*)::int FROM ${this.t.processes} p, live
          WHERE p.heartbeat_at >= live.since AND p.applied_version < $2 AND p.id <> $4) AS lagging,
         (SELECT count(*)::int FROM ${this.t.draining} d JOIN ${this.t.processes} p ON p.id = d.process_id, live
          WHERE (d.database = $1 OR ($6 AND left(d.database, length($1) + 1) IN ($1 || '.', $1 || '/')))
            AND p.heartbeat_at >= live.since AND p.id <> $4) AS draining`
    const params = [target.name, version, liveSince, exceptProcessId, Date.now(), target.subtree]
    if (statusOf === undefined) {
      const [row] = await this.prepared<{ lagging: number, draining: number }>('drain_state', counts, params)
      return { lagging: row.lagging, draining: row.draining }
    }
    // The locker's status in the same statement: what locksOf answers, in its order.
    const [row] = await this.prepared<{ lagging: number, draining: number, locks: LockRow[] }>('drain_state_status',
      `${counts},
         (SELECT coalesce(json_agg(to_json(l) ORDER BY l.database <> $7, length(l.namespace), l.namespace, l.mode, l.holder), '[]')
          FROM ${this.t.locks} l
          WHERE (l.database = $7 OR (l.namespace = ANY ($9::text[]) AND l.database <> $7)) AND ${live('$8')}) AS locks`,
      [...params, statusOf.database, statusOf.now, statusOf.ancestors]
    )
    return { lagging: row.lagging, draining: row.draining, locks: row.locks.map(toLockRecord) }
  }

  async forgetProcess (processId: string): Promise<void> {
    await this.query(
      `WITH d AS (DELETE FROM ${this.t.draining} WHERE process_id = $1) DELETE FROM ${this.t.processes} WHERE id = $1`,
      [processId]
    )
  }

  async reapProcesses (before: number): Promise<number> {
    const [row] = await this.query<{ removed: number }>(
      `WITH gone AS (
         DELETE FROM ${this.t.processes} WHERE heartbeat_at < $1::bigint + ${SERVER_CLOCK} - $2::bigint RETURNING id
       ), d AS (
         DELETE FROM ${this.t.draining} WHERE process_id IN (SELECT id FROM gone)
       )
       SELECT count(*)::int AS removed FROM gone`,
      [before, Date.now()]
    )
    return row.removed
  }

  close (): Promise<void> {
    return this.connection.close()
  }
}

export { POSTGRES_LATEST_VERSION }
