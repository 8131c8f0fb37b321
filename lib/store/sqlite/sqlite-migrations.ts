// Numbered schema migrations of the SQLite lock store, tracked by PRAGMA user_version.
// Append only: a shipped migration is never edited, a change is a new number.
export interface SqliteMigration {
  version: number
  description: string
  sql: string
}

/**
 * Delete locks that never lift (no expiry, no unlock pending), exact (no `children`), whose
 * names can travel in a '\n'-separated list: the condition of index locks_permanent_delete
 * (migration 5). A query must repeat it word for word for SQLite to use that index.
 */
export const PERMANENT_DELETE = "mode = 'delete' AND expires_at IS NULL AND unlock_at IS NULL AND namespace IS NULL AND instr(database, char(10)) = 0"

export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    description: 'locks by database and mode, change journal, process registry',
    sql: `
      CREATE TABLE locks (
        database   TEXT    NOT NULL,
        mode       TEXT    NOT NULL CHECK (mode IN ('delete', 'write')),
        reason     TEXT,
        locked_by  TEXT    NOT NULL,
        locked_at  INTEGER NOT NULL,
        expires_at INTEGER,
        PRIMARY KEY (database, mode)
      );
      CREATE INDEX locks_by_expiry ON locks (expires_at) WHERE expires_at IS NOT NULL;

      -- One row per change of a database's locks; versions only grow.
      CREATE TABLE lock_changes (
        version    INTEGER PRIMARY KEY AUTOINCREMENT,
        database   TEXT    NOT NULL,
        changed_at INTEGER NOT NULL
      );

      CREATE TABLE store_meta (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      ) WITHOUT ROWID;

      -- Every process that guards requests with this store, and what it has seen.
      CREATE TABLE processes (
        id              TEXT    PRIMARY KEY,
        pid             INTEGER NOT NULL,
        applied_version INTEGER NOT NULL,
        heartbeat_at    INTEGER NOT NULL
      ) WITHOUT ROWID;

      -- Databases on which a process still runs an operation that a current lock blocks.
      CREATE TABLE draining (
        process_id TEXT NOT NULL,
        database   TEXT NOT NULL,
        PRIMARY KEY (database, process_id)
      ) WITHOUT ROWID;
    `
  },
  {
    version: 2,
    description: 'audit trail of lock events',
    sql: `
      -- Append-only; a 'blocked' row stands for \`count\` refusals within one second.
      CREATE TABLE lock_events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        at          INTEGER NOT NULL,
        type        TEXT    NOT NULL,
        database    TEXT    NOT NULL,
        mode        TEXT,
        principal   TEXT,
        reason      TEXT,
        request_id  TEXT,
        client      TEXT,
        route       TEXT,
        count       INTEGER NOT NULL DEFAULT 1
      );
      CREATE INDEX lock_events_by_database ON lock_events (database, at, id);
      CREATE INDEX lock_events_by_time ON lock_events (at);
    `
  },
  {
    version: 3,
    description: 'the owner of the database on each event and lock, so a name re-created by another owner does not show them the old trail',
    sql: `
      ALTER TABLE locks ADD COLUMN owner TEXT;
      ALTER TABLE lock_events ADD COLUMN owner TEXT;
    `
  },
  {
    version: 4,
    description: 'several holders per database and mode, namespace (children) locks, and the columns of guarded unlock',
    // The primary key changes, so the table is rebuilt; row ids are kept (rollbacks name rows by id).
    // A lock taken before has its taker as holder; the admin key's locks are held by `admin`,
    // the holder an admin-key call names by default from now on, so a restore job unlocks them as before.
    sql: `
      CREATE TABLE locks_v4 (
        database      TEXT    NOT NULL,
        mode          TEXT    NOT NULL CHECK (mode IN ('delete', 'write')),
        holder        TEXT    NOT NULL,
        namespace     TEXT,
        reason        TEXT,
        locked_by     TEXT    NOT NULL,
        locked_at     INTEGER NOT NULL,
        expires_at    INTEGER,
        owner         TEXT,
        unlock_policy TEXT,
        unlock_at     INTEGER,
        approvals     TEXT,
        PRIMARY KEY (database, mode, holder)
      );
      INSERT INTO locks_v4 (rowid, database, mode, holder, reason, locked_by, locked_at, expires_at, owner)
        SELECT rowid, database, mode, CASE locked_by WHEN 'admin-key' THEN 'admin' ELSE locked_by END,
               reason, locked_by, locked_at, expires_at, owner
        FROM locks;
      DROP TABLE locks;
      ALTER TABLE locks_v4 RENAME TO locks;
      CREATE INDEX locks_by_expiry ON locks (expires_at) WHERE expires_at IS NOT NULL;
      CREATE INDEX locks_by_namespace ON locks (namespace) WHERE namespace IS NOT NULL;
      CREATE INDEX locks_by_unlock ON locks (unlock_at) WHERE unlock_at IS NOT NULL;
      ALTER TABLE lock_events ADD COLUMN holder TEXT;
      ALTER TABLE lock_events ADD COLUMN detail TEXT;
    `
  },
  {
    version: 5,
    description: 'indexes that split the live locks into permanent delete locks and the rest, so start-up reads no table scan',
    // A million permanent delete locks load from the first index alone: it holds every column
    // their condition names, so SQLite reads no table row. The few other rows come through the
    // second instead of a scan of every row.
    sql: `
      CREATE INDEX locks_permanent_delete ON locks (mode, expires_at, unlock_at, namespace, database) WHERE ${PERMANENT_DELETE};
      CREATE INDEX locks_not_permanent_delete ON locks (database) WHERE NOT (${PERMANENT_DELETE});
    `
  }
]

export const SQLITE_LATEST_VERSION = SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1].version
