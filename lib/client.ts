// A typed HTTP client for the lock routes, on Node's built-in fetch. It needs nothing
// from the plugin at run time, so scripts and the `dblock` command load it alone.
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type {
  ListOptions, LockEventPage, LockEventType, LockList, LockMode, LockOptions, LockStatus, UnlockAnswer, UnlockOptions
} from '../types/index.js'
import { LOCK_EVENT_TYPES } from './limits.js'

export interface LockClientOptions {
  /** Base URL of the service, e.g. `https://db.example.com`; a path in it is kept. */
  server: string
  /** Sent as `Authorization: Bearer <token>`: the database owner's credential. */
  token?: string
  /** Sent as `X-Admin-Key`: the service credential (needed by `list`). */
  adminKey?: string
  /** The plugin's `prefix` option. Default `/v1/database`. */
  prefix?: string
  /** The plugin's `listPath` option. Default `/v1/locks`. */
  listPath?: string
  /** Milliseconds to wait for each answer. Default 60000 (a lock may wait for in-flight operations). */
  timeout?: number
}

/** What `lock` sends; without `holder`, the server makes the caller the holder. */
export type ClientLockOptions = Pick<LockOptions, 'mode' | 'reason' | 'ttl' | 'holder' | 'children' | 'unlock'>

/** What `unlock` sends; without `holder`, the caller's own lock is lifted (`'*'`: every holder's). */
export type ClientUnlockOptions = Pick<UnlockOptions, 'mode' | 'holder'>

/** A holder no other run can name: `exec:<host>:<pid>:<random>`. */
export function uniqueHolder (kind = 'exec'): string {
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 24) || 'host'
  return `${kind}:${host}:${process.pid}:${randomBytes(4).toString('hex')}`
}

/** What `events` asks for: one page of a database's audit trail, newest first. */
export interface EventsOptions {
  /** Only events of this type. */
  type?: LockEventType
  /** Events per page, 1 to 500. The server's default is 50. */
  limit?: number
  /** The `nextCursor` of the previous page. */
  cursor?: string
}

/** The audit event types the events route knows, in the order the docs list them. */
export const LockEventTypes: readonly LockEventType[] = LOCK_EVENT_TYPES

/** `{ statusCode, code, error, message }`, plus whatever else the server sent. */
export interface LockErrorBody {
  statusCode: number
  /** Absent from errors Fastify makes itself (a crash's 500, an unknown route's 404). */
  code?: string
  error?: string
  message: string
  [key: string]: unknown
}

export type WithLockPhase = 'keepalive' | 'release'

export interface WithLockOptions extends ClientLockOptions {
  /**
   * Problems that cannot be thrown: a keep-alive re-lock that failed (retried at the next
   * beat), and a release that failed after `fn` threw (the error of `fn` is what is thrown).
   */
  onError?: (error: LockClientError, phase: WithLockPhase) => void
}

export interface LockClient {
  lock (database: string, options?: ClientLockOptions): Promise<LockStatus>
  /** Lifts the lock, or records the request under its policy: then `code` is `UNLOCK_SCHEDULED` or `UNLOCK_APPROVAL_RECORDED`. */
  unlock (database: string, options?: ClientUnlockOptions): Promise<UnlockAnswer>
  status (database: string): Promise<LockStatus>
  /** One page of every live lock (admin key only); follow `nextCursor` for the next. */
  list (options?: ListOptions): Promise<LockList>
  /**
   * One page of a database's audit trail, newest first (owner or admin key; after the database
   * was deleted, the admin key only); follow `nextCursor` for the next.
   */
  events (database: string, options?: EventsOptions): Promise<LockEventPage>
  /**
   * Takes the lock under a holder unique to this run (unless `holder` is given), runs `fn`, and
   * releases exactly that lock however `fn` ends: a lock somebody else holds on the same
   * database is never lifted, so none needs to be absent first. A lock with an expiry (a
   * `ttl`, or a `write` lock's default) is re-locked before it runs out.
   */
  withLock<T> (database: string, options: WithLockOptions, fn: (status: LockStatus) => T | Promise<T>): Promise<T>
}

/** Codes the client makes itself; every other code is the server's. */
export const ClientErrorCodes = {
  /** No answer: connection refused, DNS failure, reset before a response. */
  SERVER_UNREACHABLE: 'SERVER_UNREACHABLE',
  /** Connected, but no answer within `timeout`; the request may or may not have taken effect. */
  SERVER_TIMEOUT: 'SERVER_TIMEOUT',
  /** An answer that is not this API's JSON (a proxy's error page, say). */
  UNEXPECTED_RESPONSE: 'UNEXPECTED_RESPONSE',
  /** Reported to `onError`: a keep-alive found the lock gone (expired or unlocked) and took it again. */
  LOCK_LAPSED: 'LOCK_LAPSED',
  /** `lock` was answered 200 without the lock asked for: it is not held, whatever the status says. */
  LOCK_NOT_HELD: 'LOCK_NOT_HELD',
  /** A bad `createLockClient` option. */
  INVALID_OPTION: 'INVALID_OPTION'
} as const

export class LockClientError extends Error {
  override name = 'LockClientError'
  /** The server's error code (`DATABASE_NOT_FOUND`, …) or one of `ClientErrorCodes`. */
  readonly code: string
  /** The HTTP status, or null when the server gave no usable answer. */
  readonly statusCode: number | null
  /** The server's error body, when there was one. */
  readonly body: LockErrorBody | null

  constructor (code: string, message: string, statusCode: number | null = null, body: LockErrorBody | null = null, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.code = code
    this.statusCode = statusCode
    this.body = body
  }

  /** True when the server never answered, so retrying later may help. */
  get unreachable (): boolean {
    return this.code === ClientErrorCodes.SERVER_UNREACHABLE || this.code === ClientErrorCodes.SERVER_TIMEOUT
  }
}

const DEFAULT_TIMEOUT = 60_000
/** Pauses between release attempts: a restore that just finished should not leave its lock behind over a blip. */
const RELEASE_RETRY_DELAYS = [250, 1000, 2000]

/** A field of a JSON value, if it is an object (no cast: unknown all the way). */
function field (value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? Reflect.get(value, name) : undefined
}

function isErrorBody (value: unknown): value is LockErrorBody {
  const code = field(value, 'code')
  return typeof field(value, 'message') === 'string' && typeof field(value, 'statusCode') === 'number' &&
    (code === undefined || typeof code === 'string')
}

/** What `onError` receives: the client's errors as they are, anything else wrapped. */
function asClientError (err: unknown): LockClientError {
  if (err instanceof LockClientError) return err
  return new LockClientError(ClientErrorCodes.UNEXPECTED_RESPONSE, err instanceof Error ? err.message : String(err), null, null, err)
}

function trimSlash (path: string): string {
  return path.endsWith('/') ? path.slice(0, -1) : path
}

function describeCause (err: unknown): string {
  const cause = field(err, 'cause')
  const code = field(cause, 'code')
  if (typeof code === 'string') return code
  const message = field(cause, 'message')
  if (typeof message === 'string') return message
  return err instanceof Error ? err.message : String(err)
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export function createLockClient (options: LockClientOptions): LockClient {
  let base: URL
  try {
    base = new URL(options.server)
  } catch {
    throw new LockClientError(ClientErrorCodes.INVALID_OPTION, `server must be a URL such as http://127.0.0.1:3000, got ${JSON.stringify(options.server)}`)
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new LockClientError(ClientErrorCodes.INVALID_OPTION, `server must be an http:// or https:// URL, got ${JSON.stringify(options.server)}`)
  }
  const root = trimSlash(base.origin + base.pathname)
  const prefix = trimSlash(options.prefix ?? '/v1/database')
  const listPath = options.listPath ?? '/v1/locks'
  const timeout = options.timeout ?? DEFAULT_TIMEOUT

  const headers: Record<string, string> = { accept: 'application/json' }
  if (options.token !== undefined && options.token !== '') headers.authorization = `Bearer ${options.token}`
  if (options.adminKey !== undefined && options.adminKey !== '') headers['x-admin-key'] = options.adminKey

  async function request<T> (method: 'GET' | 'POST', path: string, body?: object): Promise<T> {
    const url = root + path
    let res: Response
    let text: string
    try {
      res = await fetch(url, {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeout)
      })
      text = await res.text()
    } catch (err) {
      if (err instanceof Error && err.name === 'TimeoutError') {
        throw new LockClientError(ClientErrorCodes.SERVER_TIMEOUT,
          `${root} did not answer ${method} ${path} within ${timeout} ms; the request may or may not have taken effect, check with status`, null, null, err)
      }
      throw new LockClientError(ClientErrorCodes.SERVER_UNREACHABLE, `cannot reach ${root}: ${describeCause(err)}`, null, null, err)
    }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    if (res.ok && json !== undefined) return json as T
    if (!res.ok && isErrorBody(json)) throw new LockClientError(json.code ?? `HTTP_${res.status}`, json.message, res.status, json)
    const excerpt = text.length > 200 ? `${text.slice(0, 200)}…` : text
    throw new LockClientError(ClientErrorCodes.UNEXPECTED_RESPONSE,
      `${method} ${url} answered HTTP ${res.status} with something other than this API's JSON: ${JSON.stringify(excerpt)}; is the server URL right?`,
      res.status)
  }

  const lockPath = (database: string, action: 'lock' | 'unlock' | 'lock/events') => `${prefix}/${encodeURIComponent(database)}/${action}`
  const withQuery = (path: string, query: URLSearchParams) => {
    const search = query.toString()
    return search === '' ? path : `${path}?${search}`
  }

  const client: LockClient = {
    async lock (database, lockOptions = {}) {
      const { mode, reason, ttl, holder, children, unlock } = lockOptions
      const status = await request<LockStatus>('POST', lockPath(database, 'lock'), { mode, reason, ttl, holder, children, unlock })
      // A 200 is the promise that the lock is in force; a status without it is no such promise.
      const wanted = mode ?? 'delete'
      if (!status.locked || !status.locks.some((lock) => lock.mode === wanted && lock.inheritedFrom === null && (holder === undefined || lock.holder === holder))) {
        throw new LockClientError(ClientErrorCodes.LOCK_NOT_HELD,
          `the server answered the lock of ${database} without holding a ${wanted} lock; it is not locked. Retry the lock`, 200)
      }
      return status
    },
    // A 202 (the lock stays in force under its unlock policy) is data: `code` says which step.
    unlock (database, unlockOptions = {}) {
      return request<UnlockAnswer>('POST', lockPath(database, 'unlock'), { mode: unlockOptions.mode, holder: unlockOptions.holder })
    },
    status (database) {
      return request<LockStatus>('GET', lockPath(database, 'lock'))
    },
    list (listOptions = {}) {
      const query = new URLSearchParams()
      if (listOptions.limit !== undefined) query.set('limit', String(listOptions.limit))
      if (listOptions.cursor !== undefined) query.set('cursor', listOptions.cursor)
      return request<LockList>('GET', withQuery(listPath, query))
    },
    events (database, eventsOptions = {}) {
      const query = new URLSearchParams()
      if (eventsOptions.limit !== undefined) query.set('limit', String(eventsOptions.limit))
      if (eventsOptions.type !== undefined) query.set('type', eventsOptions.type)
      if (eventsOptions.cursor !== undefined) query.set('cursor', eventsOptions.cursor)
      return request<LockEventPage>('GET', withQuery(lockPath(database, 'lock/events'), query))
    },
    async withLock<T> (database: string, withOptions: WithLockOptions, fn: (status: LockStatus) => T | Promise<T>): Promise<T> {
      const { onError, ...lockOptions } = withOptions
      const mode: LockMode = lockOptions.mode ?? 'delete'
      const holder = lockOptions.holder ?? uniqueHolder()
      const status = await client.lock(database, { ...lockOptions, mode, holder })
      const keepAlive = startKeepAlive(client, database, mode, holder, lockOptions.ttl, status, onError)
      let result: T
      try {
        result = await fn(status)
      } catch (err) {
        await keepAlive.stop()
        try {
          await release(client, database, mode, holder)
        } catch (releaseError) {
          onError?.(asClientError(releaseError), 'release')
        }
        throw err
      }
      await keepAlive.stop()
      await release(client, database, mode, holder)
      return result
    }
  }
  return client
}

function retriable (err: unknown): boolean {
  return err instanceof LockClientError && (err.unreachable || (err.statusCode !== null && err.statusCode >= 500))
}

async function release (client: LockClient, database: string, mode: LockMode, holder: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await client.unlock(database, { mode, holder })
      return
    } catch (err) {
      if (attempt >= RELEASE_RETRY_DELAYS.length || !retriable(err)) throw err
      await sleep(RELEASE_RETRY_DELAYS[attempt])
    }
  }
}

/**
 * Re-locks with the ttl a third of the way through it, so one failed beat still leaves
 * time for another. A lock without `ttl` that expires anyway (a `write` lock's default)
 * is refreshed with the lifetime the server gave it.
 */
function startKeepAlive (
  client: LockClient, database: string, mode: LockMode, holder: string, ttl: number | undefined, status: LockStatus,
  onError: WithLockOptions['onError']
): { stop (): Promise<void> } {
  const mine = (candidate: LockStatus['locks'][number]): boolean => candidate.mode === mode && candidate.holder === holder && candidate.inheritedFrom === null
  const lock = status.locks.find(mine)
  const lifetime = ttl ?? (lock?.expiresAt == null ? undefined : Math.max(1, Math.round((Date.parse(lock.expiresAt) - Date.parse(lock.lockedAt)) / 1000)))
  if (lock === undefined || lifetime === undefined) return { stop: async () => {} }
  const lockedAt = lock.lockedAt
  const interval = Math.max(100, Math.floor(lifetime * 1000 / 3))
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let beat: Promise<void> = Promise.resolve()

  const schedule = () => {
    timer = setTimeout(() => {
      beat = client.lock(database, { mode, ttl: lifetime, holder }).then((next) => {
        const now = next.locks.find(mine)
        if (now !== undefined && now.lockedAt !== lockedAt) {
          onError?.(new LockClientError(ClientErrorCodes.LOCK_LAPSED,
            `the ${mode} lock on ${next.database} had lapsed or been removed and was taken again at ${now.lockedAt}`), 'keepalive')
        }
      }, (err: unknown) => {
        onError?.(asClientError(err), 'keepalive')
      }).finally(() => {
        if (!stopped) schedule()
      })
    }, interval)
  }
  schedule()
  return {
    // Waits for a re-lock in flight: one landing after the release would lock the database again.
    async stop () {
      stopped = true
      clearTimeout(timer)
      await beat
    }
  }
}
