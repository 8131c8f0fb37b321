// The PostgreSQL store's connections: the pool, the one LISTEN connection (opened again
// with backoff when lost), migrations under an advisory lock, and transactions. The
// store's operations are in postgres-store.ts.
import type { Client, Notification, Pool, PoolClient, PoolConfig } from 'pg'
import { InvalidOptionError, StoreTooNewError } from '../../errors.js'
import { positive } from '../../options.js'
import { LockStoreError } from '../store-errors.js'
import { POSTGRES_MIGRATIONS, VERSION_TABLE, type PostgresMigration } from './postgres-migrations.js'

export interface PostgresLockStoreOptions {
  /** Connection string, e.g. `postgres://user:password@host:5432/app?sslmode=require`. */
  url: string
  /** Schema that holds the store's tables (`dblock_*`); created when missing. Default `public`. */
  schema?: string
  /** Most pooled connections; the store also keeps one more connection for LISTEN. Default 4. */
  poolSize?: number
  /** How long opening a connection may take before the call fails, ms. Default 2000. */
  connectTimeout?: number
  /** How long one query may take before the call fails, ms. Default 5000. */
  queryTimeout?: number
  /** How often the store version is read even while notifications arrive, ms. Default 100. */
  pollFallbackInterval?: number
  /** How long the change journal is kept, ms; a process further behind reloads everything. Default 10 min. */
  journalRetention?: number
  /** `application_name` of the store's connections, to find them in pg_stat_activity. Default `fastify-database-lock`. */
  applicationName?: string
  /** Migrations to apply (tests open schemas at older levels). Default: all. */
  migrations?: readonly PostgresMigration[]
}

type PgModule = typeof import('pg')

/** First key of pg_advisory_xact_lock for migrations ('dblk'); the second is the schema's hash. */
const MIGRATION_LOCK = 0x64626c6b
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,49}$/
const LISTEN_RETRY_MIN = 50
const LISTEN_RETRY_MAX = 2000

export function quote (identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`
}

/** `pg` is optional: hosts that never use PostgreSQL need not install it. */
function loadPg (): PgModule {
  try {
    return require('pg') as PgModule
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'MODULE_NOT_FOUND' && /'pg'/.test(err.message)) {
      throw new InvalidOptionError('the PostgreSQL lock store needs the "pg" package: run npm install pg')
    }
    throw err
  }
}

/** Where the store lives, for messages: never the password. */
function describe (url: string, schema: string): string {
  try {
    const parsed = new URL(url)
    return `PostgreSQL ${parsed.host}${parsed.pathname} (schema "${schema}")`
  } catch {
    return `PostgreSQL (schema "${schema}")`
  }
}

/** A PostgresLockStore option that must be a positive number. */
export function positiveOption (name: string, value: number | undefined, fallback: number): number {
  return positive(name, value, fallback, 'PostgresLockStore ')
}

/** The store's tables, schema-qualified and quoted. */
export interface PostgresTables { locks: string, state: string, changes: string, processes: string, draining: string, events: string }

export class PostgresConnection {
  readonly schema: string
  /** Where the store lives, for messages: never the password. */
  readonly label: string
  /** The NOTIFY channel that announces new versions. */
  readonly channel: string
  readonly t: PostgresTables
  readonly pool: Pool
  private readonly pg: PgModule
  private readonly clientConfig: PoolConfig
  private readonly migrations: readonly PostgresMigration[]
  private initializing: Promise<void> | null = null
  private closing: Promise<void> | null = null
  private listener: Client | null = null
  private listenTimer: NodeJS.Timeout | null = null
  private listenDelay = LISTEN_RETRY_MIN

  /**
   * `onVersion` hears each version a notification announces, and NaN when notifications may
   * have been missed (the LISTEN connection was down).
   */
  constructor (options: PostgresLockStoreOptions, private readonly onVersion: (version: number) => void) {
    if (typeof options.url !== 'string' || !/^postgres(ql)?:\/\//.test(options.url)) {
      throw new InvalidOptionError('PostgresLockStore option "url" must be a postgres:// or postgresql:// connection string')
    }
    const schema = options.schema ?? 'public'
    if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
      throw new InvalidOptionError(`PostgresLockStore option "schema" must be 1-50 characters of a-z, 0-9 and _, not starting with a digit, got ${String(schema)}`)
    }
    this.schema = schema
    this.migrations = options.migrations ?? POSTGRES_MIGRATIONS
    this.label = describe(options.url, schema)
    this.channel = `dblock_${schema}`
    const queryTimeout = positiveOption('queryTimeout', options.queryTimeout, 5000)
    const s = quote(schema)
    this.t = {
      locks: `${s}.dblock_locks`,
      state: `${s}.dblock_state`,
      changes: `${s}.dblock_changes`,
      processes: `${s}.dblock_processes`,
      draining: `${s}.dblock_draining`,
      events: `${s}.dblock_events`
    }
    this.clientConfig = {
      connectionString: options.url,
      connectionTimeoutMillis: positiveOption('connectTimeout', options.connectTimeout, 2000),
      query_timeout: queryTimeout,
      // The server gives up too, so a statement the client abandoned does not keep holding locks.
      statement_timeout: queryTimeout,
      // A process that dies mid-transaction must not hold the writers' row lock for long.
      idle_in_transaction_session_timeout: 10_000,
      application_name: options.applicationName ?? 'fastify-database-lock',
      // A prepared statement is planned once per connection. Left to choose, PostgreSQL plans the
      // frequent ones again on every call (0.3 ms each), as their custom plans look cheaper.
      // Statements planned for their values (pages of large tables) run in transaction().
      options: '-c plan_cache_mode=force_generic_plan',
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000
    }
    this.pg = loadPg()
    this.pool = new this.pg.Pool({
      ...this.clientConfig,
      max: positiveOption('poolSize', options.poolSize, 4),
      idleTimeoutMillis: 10_000,
      allowExitOnIdle: true
    })
    // An idle connection that dies (server restart, pg_terminate_backend) is dropped by the pool; the next call reconnects.
    this.pool.on('error', () => {})
  }

  /** Connects, migrates and starts listening; the first call of any method does this too. */
  connect (): Promise<void> {
    if (this.closing !== null) return Promise.reject(new LockStoreError('LOCK_STORE_CLOSED', 'the PostgreSQL lock store is closed'))
    if (this.initializing === null) {
      this.initializing = this.initialize().catch((err: unknown) => {
        // A newer schema stays refused; anything else (server down) is tried again on the next call.
        if (!(err instanceof StoreTooNewError)) this.initializing = null
        throw err
      })
    }
    return this.initializing
  }

  /** Whether the LISTEN connection is up; while it is down, hasChanged polls on every call. */
  get listening (): boolean {
    return this.listener !== null
  }

  private async initialize (): Promise<void> {
    await this.migrate()
    await this.listen()
  }

  /** Applies missing migrations under an advisory lock; refuses, untouched, a schema newer than this code. */
  private async migrate (): Promise<void> {
    const migrations = this.migrations
    const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1].version
    const s = quote(this.schema)
    const versionTable = `${s}.${VERSION_TABLE}`
    await this.transaction(async (client) => {
      // Transaction-scoped: ten processes starting at once queue here, and the first one migrates.
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MIGRATION_LOCK, this.schema])
      const table = await client.query<{ found: string | null }>('SELECT to_regclass($1)::text AS found', [versionTable])
      let current = 0
      if (table.rows[0].found !== null) {
        const found = await client.query<{ version: number }>(`SELECT coalesce(max(version), 0)::int AS version FROM ${versionTable}`)
        current = found.rows[0].version
      }
      if (current > latest) throw new StoreTooNewError(this.label, current, latest)
      if (current < latest) {
        const schema = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.schema])
        // Only when missing: CREATE SCHEMA IF NOT EXISTS would still need the CREATE privilege on the database.
        if (schema.rowCount === 0) await client.query(`CREATE SCHEMA ${s}`)
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${versionTable} (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`
        )
        for (const migration of migrations) {
          if (migration.version <= current) continue
          await client.query(migration.sql(s))
          await client.query(`INSERT INTO ${versionTable} (version, description) VALUES ($1, $2)`, [migration.version, migration.description])
        }
      }
    })
  }

  /** Opens the LISTEN connection; on failure or loss it retries with backoff while polling covers the gap. */
  private async listen (): Promise<void> {
    const client = new this.pg.Client(this.clientConfig)
    let lost = false
    const onLost = (): void => {
      if (lost) return
      lost = true
      if (this.listener === client) this.listener = null
      client.end().catch(() => {})
      this.scheduleListen()
    }
    client.on('error', onLost)
    client.on('end', onLost)
    client.on('notification', (message: Notification) => {
      if (message.channel === this.channel) this.onVersion(Number(message.payload))
    })
    try {
      await client.connect()
      await client.query(`LISTEN ${quote(this.channel)}`)
    } catch {
      onLost()
      return
    }
    if (this.closing !== null || lost) {
      client.end().catch(() => {})
      return
    }
    this.listener = client
    this.listenDelay = LISTEN_RETRY_MIN
    // Notifications sent while nobody listened are gone: make the next reader look.
    this.onVersion(Number.NaN)
  }

  private scheduleListen (): void {
    if (this.closing !== null || this.listenTimer !== null) return
    const delay = this.listenDelay
    this.listenDelay = Math.min(delay * 2, LISTEN_RETRY_MAX)
    this.listenTimer = setTimeout(() => {
      this.listenTimer = null
      this.listen().catch(() => {})
    }, delay)
    this.listenTimer.unref()
  }

  /** One statement planned for its values (an occasional read whose best plan depends on them). */
  async query<R extends object> (sql: string, params: unknown[] = []): Promise<R[]> {
    await this.connect()
    if (params.length === 0) return (await this.pool.query<R>(sql)).rows
    return this.transaction(async (client) => (await client.query<R>(sql, params)).rows)
  }

  /** One autocommit statement, prepared once per connection under `name` (then only bound and run). */
  async prepared<R extends object> (name: string, text: string, values: unknown[]): Promise<R[]> {
    await this.connect()
    return (await this.pool.query<R>({ name, text, values })).rows
  }

  /**
   * BEGIN … COMMIT on one pooled connection, its statements planned for their values; a
   * connection that failed is destroyed, not reused.
   */
  async transaction<T> (work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect()
    // A checked-out client that loses its connection emits 'error'; unheard, that would crash the process.
    let broken = false
    const onError = (): void => { broken = true }
    client.on('error', onError)
    try {
      await client.query('BEGIN; SET LOCAL plan_cache_mode = auto')
      const result = await work(client)
      await client.query('COMMIT')
      return result
    } catch (err) {
      if (!broken) await client.query('ROLLBACK').catch(() => {})
      // After a failure (a timeout may leave a statement running) the connection is not trusted again.
      broken = true
      throw err
    } finally {
      client.removeListener('error', onError)
      client.release(broken)
    }
  }

  close (): Promise<void> {
    if (this.closing === null) {
      if (this.listenTimer !== null) clearTimeout(this.listenTimer)
      this.listenTimer = null
      const listener = this.listener
      this.listener = null
      const initializing = this.initializing
      this.closing = (async () => {
        // Let a start-up in progress finish, so no connection opens after the pool has ended.
        await initializing?.catch(() => {})
        await Promise.all([
          listener?.end().catch(() => {}),
          this.listener?.end().catch(() => {}),
          this.pool.end()
        ])
        this.listener = null
      })()
    }
    return this.closing
  }
}
