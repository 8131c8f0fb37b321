// Numbered schema migrations of the PostgreSQL lock store, tracked in the table
// dblock_migrations of the store's schema. Append only: a shipped migration is
// never edited, a change is a new number.
export interface PostgresMigration {
  version: number
  description: string
  /** The SQL for schema `s`, an already quoted identifier. */
  sql: (s: string) => string
}

/** The version table; created before any migration so that its rows can be read and locked. */
export const VERSION_TABLE = 'dblock_migrations'

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    description: 'locks by database and mode, change journal, process registry',
    // Table names carry a prefix: the schema is often `public` of an application's own database.
    // Names collate as bytes ("C"), so lists page in the same order as with SQLite.
    sql: (s) => `
      CREATE TABLE ${s}.dblock_locks (
        id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        database   text COLLATE "C" NOT NULL,
        mode       text COLLATE "C" NOT NULL CHECK (mode IN ('delete', 'write')),
        reason     text,
        locked_by  text   NOT NULL,
        locked_at  bigint NOT NULL,
        expires_at bigint,
        UNIQUE (database, mode)
      );
      CREATE INDEX dblock_locks_by_expiry ON ${s}.dblock_locks (expires_at) WHERE expires_at IS NOT NULL;

      -- One row; writers lock it first, so versions are handed out, and committed, in order.
      CREATE TABLE ${s}.dblock_state (
        id             boolean PRIMARY KEY DEFAULT true CHECK (id),
        version        bigint  NOT NULL,
        pruned_through bigint  NOT NULL
      );
      INSERT INTO ${s}.dblock_state (version, pruned_through) VALUES (0, 0);

      -- One row per change of a database's locks; versions only grow.
      CREATE TABLE ${s}.dblock_changes (
        version    bigint PRIMARY KEY,
        database   text COLLATE "C" NOT NULL,
        changed_at bigint NOT NULL
      );

      -- Every process that guards requests with this store, and what it has seen.
      -- heartbeat_at is in the PostgreSQL server's clock, so hosts' clock skew cannot make a live process look gone.
      CREATE TABLE ${s}.dblock_processes (
        id              text    PRIMARY KEY,
        pid             integer NOT NULL,
        applied_version bigint  NOT NULL,
        heartbeat_at    bigint  NOT NULL
      );

      -- Databases on which a process still runs an operation that a current lock blocks.
      CREATE TABLE ${s}.dblock_draining (
        process_id text NOT NULL,
        database   text COLLATE "C" NOT NULL,
        PRIMARY KEY (database, process_id)
      );
      CREATE INDEX dblock_draining_by_process ON ${s}.dblock_draining (process_id);
    `
  },
  {
    version: 2,
    description: 'audit trail of lock events',
    sql: (s) => `
      -- Append-only; a 'blocked' row stands for its count of refusals within one second.
      CREATE TABLE ${s}.dblock_events (
        id         bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at         bigint  NOT NULL,
        type       text    NOT NULL,
        database   text COLLATE "C" NOT NULL,
        mode       text,
        principal  text,
        reason     text,
        request_id text,
        client     text,
        route      text,
        count      integer NOT NULL DEFAULT 1
      );
      CREATE INDEX dblock_events_by_database ON ${s}.dblock_events (database, at, id);
      CREATE INDEX dblock_events_by_time ON ${s}.dblock_events (at);
    `
  },
  {
    version: 3,
    description: 'the owner of the database on each event and lock, so a name re-created by another owner does not show them the old trail',
    sql: (s) => `
      ALTER TABLE ${s}.dblock_locks ADD COLUMN owner text;
      ALTER TABLE ${s}.dblock_events ADD COLUMN owner text;
    `
  },
  {
    version: 4,
    description: 'several holders per database and mode, namespace (children) locks, and the columns of guarded unlock',
    // A lock taken before has its taker as holder; the admin key's locks are held by `admin`, the
    // holder an admin-key call names by default from now on, so a restore job unlocks them as before.
    sql: (s) => `
      ALTER TABLE ${s}.dblock_locks
        ADD COLUMN holder text COLLATE "C",
        ADD COLUMN namespace text COLLATE "C",
        ADD COLUMN unlock_policy jsonb,
        ADD COLUMN unlock_at bigint,
        ADD COLUMN approvals jsonb;
      UPDATE ${s}.dblock_locks SET holder = CASE locked_by WHEN 'admin-key' THEN 'admin' ELSE locked_by END;
      ALTER TABLE ${s}.dblock_locks ALTER COLUMN holder SET NOT NULL;
      ALTER TABLE ${s}.dblock_locks DROP CONSTRAINT dblock_locks_database_mode_key;
      ALTER TABLE ${s}.dblock_locks ADD CONSTRAINT dblock_locks_database_mode_holder_key UNIQUE (database, mode, holder);
      CREATE INDEX dblock_locks_by_namespace ON ${s}.dblock_locks (namespace) WHERE namespace IS NOT NULL;
      CREATE INDEX dblock_locks_by_unlock ON ${s}.dblock_locks (unlock_at) WHERE unlock_at IS NOT NULL;
      ALTER TABLE ${s}.dblock_events ADD COLUMN holder text, ADD COLUMN detail text;
    `
  }
]

export const POSTGRES_LATEST_VERSION = POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1].version
