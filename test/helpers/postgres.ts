// A real PostgreSQL for the tests: DATABASE_URL when set, else one server per test file
// from ./postgres-server.js (the starter the bench shares). If it cannot start, the test
// fails: nothing is skipped.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { TapLike } from './app.js'
import { startPostgresServer } from './postgres-server.js'

export interface PostgresServer {
  /** True for the embedded server, which the tests may stop and start again. */
  embedded: boolean
  /** Connection string of the server's main database (`postgres`, or DATABASE_URL's). */
  url: string
  /** Milliseconds the server took to start (0 with DATABASE_URL). */
  startupMs: number
  /** The same server, another database. */
  urlOf (database: string): string
  /** Runs one statement as the admin role, on the main database or `database`. */
  query<R extends object = Record<string, unknown>> (sql: string, params?: unknown[], database?: string): Promise<R[]>
  /** A database of its own for one test, dropped after it. */
  createDatabase (t: TapLike): Promise<{ name: string, url: string }>
  /** A schema name of its own for one test in the main database, dropped after it (the store creates it). */
  createSchema (t: TapLike): string
  /** Embedded only: stops the server (every connection is cut) and starts it again on the same port. */
  stop (): Promise<void>
  start (): Promise<void>
}

function uniqueName (prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`
}

function withDatabase (url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

/** Starts (or connects to) the file's PostgreSQL and stops it when `t` ends. */
export async function startPostgres (t: TapLike): Promise<PostgresServer> {
  const external = process.env.DATABASE_URL
  let url: string
  let embedded: { stop: () => Promise<void>, start: () => Promise<void> } | null = null
  let startupMs = 0

  if (external !== undefined && external !== '') {
    url = external
  } else {
    // Test data need no crash safety (fsync off); many processes and pools share one server.
    const server = await startPostgresServer({ fsync: false, maxConnections: 200 })
    t.teardown(() => server.destroy())
    startupMs = server.startupMs
    url = server.url
    embedded = { stop: server.stop, start: server.start }
  }

  async function query<R extends object> (sql: string, params: unknown[] = [], database?: string): Promise<R[]> {
    const client = new pg.Client({ connectionString: database === undefined ? url : withDatabase(url, database) })
    await client.connect()
    try {
      return (await client.query<R>(sql, params)).rows
    } finally {
      await client.end()
    }
  }

  return {
    embedded: embedded !== null,
    url,
    startupMs,
    urlOf: (database) => withDatabase(url, database),
    query,
    async createDatabase (t) {
      const name = uniqueName('dblock_test')
      await query(`CREATE DATABASE ${name}`)
      t.teardown(() => query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
      return { name, url: withDatabase(url, name) }
    },
    createSchema (t) {
      const name = uniqueName('t')
      t.teardown(() => query(`DROP SCHEMA IF EXISTS ${name} CASCADE`))
      return name
    },
    async stop () {
      if (embedded === null) throw new Error('only the embedded PostgreSQL can be stopped by the tests')
      await embedded.stop()
    },
    async start () {
      if (embedded === null) throw new Error('only the embedded PostgreSQL can be started by the tests')
      await embedded.start()
    }
  }
}
