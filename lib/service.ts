// Lock, unlock, status and list: the operations behind both the routes and the decorator.
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type {
  AuditStamp, LockEventPage, LockEventType, LockList, LockMode, LockRecord, LockStatus, LockStore, ResolvedDatabase, UnlockAnswer, UnlockPolicy
} from '../types/index.js'
import {
  DatabaseNotFoundError, InvalidDatabaseNameError, InvalidRequestError, LockConflictError, LockStoreUnavailableError, UnlockForbiddenError,
  UnlockPolicyConflictError, isDatabaseLockError
} from './errors.js'
import { ancestorsOf, displayName } from './names.js'
import type { AuditLog, EventOrigin } from './audit.js'
import type { ResolvedOptions } from './options.js'
import type { LockView } from './view.js'

export interface LockInput {
  mode: LockMode
  reason?: string
  ttl?: number
  by: string
  holder: string
  /** true: also every name below; false: this name only; undefined: as the holder's lock already is. */
  children?: boolean
  /** The lock's unlock policy; undefined: as it is (a new delete lock gets `defaultUnlock`). */
  unlock?: UnlockPolicy
}

/** What an unlock answers: 200 when nothing of the asked locks is left in force, 202 while a policy keeps it. */
export interface UnlockResult {
  statusCode: 200 | 202
  body: UnlockAnswer
}

function iso (ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString()
}

/** The namespaced name inheritance follows: the host's `name`, else the id. */
export function nameOf (target: ResolvedDatabase): string {
  return target.name ?? target.id
}

/** A lock as the API shows it on `database`: inherited locks name the namespace they come from. */
export function toInfo (record: LockRecord, database: string): LockStatus['locks'][number] {
  return {
    mode: record.mode,
    holder: record.holder,
    reason: record.reason,
    lockedBy: record.lockedBy,
    lockedAt: new Date(record.lockedAt).toISOString(),
    expiresAt: iso(record.expiresAt),
    unlock: record.unlock,
    unlockAt: iso(record.unlockAt),
    approvals: record.approvals,
    children: record.namespace !== null,
    inheritedFrom: record.database === database ? null : record.namespace
  }
}

/** A database's status from its locks as `locksOf` lists them. */
function statusOf (target: ResolvedDatabase, rows: LockRecord[]): LockStatus {
  return { database: target.id, locked: rows.length > 0, locks: rows.map((row) => toInfo(row, target.id)) }
}

function encodeCursor (record: LockRecord): string {
  return Buffer.from(JSON.stringify([record.database, record.mode, record.holder])).toString('base64url')
}

function decodeCursor (cursor: string): { database: string, mode: LockMode, holder: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(value) && value.length === 3 && typeof value[0] === 'string' && (value[1] === 'delete' || value[1] === 'write') && typeof value[2] === 'string') {
      return { database: value[0], mode: value[1], holder: value[2] }
    }
  } catch {}
  throw new InvalidRequestError('The cursor is not valid: pass the nextCursor of the previous page unchanged, or leave it out to start over')
}

function decodeEventCursor (cursor: string): { at: number, id: number } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split(':').map(Number)
  if (!Number.isSafeInteger(at) || !Number.isSafeInteger(id) || id < 1) {
    throw new InvalidRequestError('The cursor is not valid: pass the nextCursor of the previous page unchanged, or leave it out to start over')
  }
  return { at, id }
}

export class LockService {
  constructor (
    private readonly options: ResolvedOptions,
    private readonly store: LockStore,
    private readonly view: LockView,
    private readonly log: FastifyBaseLogger,
    private readonly audit: AuditLog
  ) {}

  /** Runs a store operation; failures become 503 LOCK_STORE_UNAVAILABLE with the cause only in the log. */
  private async usingStore<T> (what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (err) {
      // Errors this plugin made on purpose go to the client; anything else is a store failure.
      if (isDatabaseLockError(err)) throw err
      this.log.error({ err }, `database-lock: the lock store failed while trying to ${what}`)
      throw new LockStoreUnavailableError()
    }
  }

  /** Checks the name and asks the host which database it is; throws 400 or 404. */
  async resolve (name: string, request?: FastifyRequest): Promise<ResolvedDatabase> {
    const problem = this.options.validateName(name)
    if (problem !== null) throw new InvalidDatabaseNameError(displayName(String(name)), problem)
    const target = await this.options.resolveDatabase(name, request)
    if (target === null || target === undefined) throw new DatabaseNotFoundError(displayName(name))
    return target
  }

  async lock (target: ResolvedDatabase, input: LockInput, origin: EventOrigin): Promise<LockStatus> {
    const database = target.id
    const name = nameOf(target)
    const now = this.options.now()
    const ttlSeconds = input.ttl ?? (input.mode === 'write' ? this.options.writeLockTtl : undefined)
    if (input.unlock === 'never' && ttlSeconds === undefined) {
      throw new InvalidRequestError('A lock that can never be unlocked needs a ttl: it lifts only at its expiry. Add "ttl" (seconds)')
    }
    // The `locked` event is written with the row; a withdrawn lock adds `unlocked` (and `conflict`).
    const stamp = this.audit.stampFor(origin)
    const result = await this.usingStore('take a lock', () => this.store.acquire({
      database,
      mode: input.mode,
      holder: input.holder,
      namespace: input.children === true ? name : null,
      reason: input.reason ?? null,
      lockedBy: input.by,
      now,
      expiresAt: ttlSeconds === undefined ? null : now + ttlSeconds * 1000,
      refreshReason: input.reason !== undefined,
      refreshExpiry: input.ttl !== undefined,
      refreshNamespace: input.children !== undefined,
      unlock: input.unlock ?? (input.mode === 'delete' ? this.options.defaultUnlock : null),
      refreshUnlock: input.unlock !== undefined,
      audit: stamp
    }))
    if (result.conflict !== undefined) {
      throw new UnlockPolicyConflictError(displayName(name), result.conflict === 'expiry'
        ? 'the ttl would end it earlier than its current expiry'
        : 'the unlock policy would be weaker than its current one (a shorter delay, fewer approvals, or no "never")')
    }
    let keep = false
    let conflict = false
    let status: LockStatus
    try {
      await this.usingStore('apply a new lock', () => this.view.applyLocal(result.change))
      // A namespace lock waits for blocked operations on every name below it too.
      const drainTarget = { name, subtree: result.record.namespace !== null }
      // The store may read the status along with the last drain check: the call's answer.
      const drained = await this.usingStore('wait for in-flight operations', () =>
        this.view.waitForDrain(drainTarget, result.version, this.options.drainTimeout, { database, ancestors: ancestorsOf(name) }))
      if (drained === null) {
        conflict = true
        throw new LockConflictError(displayName(database), this.options.drainTimeout)
      }
      // An operation that finished while we waited may have deleted the database.
      const still = await this.options.resolveDatabase(database)
      if (still === null || still === undefined || still.id !== database) throw new DatabaseNotFoundError(displayName(database))
      // A concurrent request that created the row may have withdrawn it while we waited
      // (its wait timed out): without a live row there is nothing to acknowledge. The status
      // that answers the call shows it, so one read does both.
      status = drained.locks === undefined ? await this.status(target) : statusOf(target, drained.locks)
      if (!status.locks.some((lock) => lock.inheritedFrom === null && lock.mode === input.mode && lock.holder === input.holder)) {
        conflict = true
        throw new LockConflictError(displayName(database), this.options.drainTimeout)
      }
      keep = true
    } finally {
      if (!keep && result.created) await this.rollback(database, input.mode, input.holder, result.rowId, stamp)
      if (conflict) await this.audit.record('conflict', database, input.mode, input.holder, input.reason ?? null, origin)
    }
    this.audit.logChange(result.created ? 'locked' : 'relocked', database, input.mode, input.holder, result.record.reason, stamp)
    if (result.cancelled === true) this.audit.logChange('unlock-cancelled', database, input.mode, input.holder, result.record.reason, stamp, 'locked again')
    return status
  }

  /** Withdraws a lock that was not granted; its `locked` event gets a matching `unlocked`. */
  private async rollback (database: string, mode: LockMode, holder: string, rowId: number, stamp: AuditStamp | undefined): Promise<void> {
    try {
      await this.store.release(database, mode, holder, rowId, stamp === undefined ? undefined : { ...stamp, at: this.options.now() })
      await this.view.applyLocal()
    } catch (err) {
      // The lock stays until unlocked or expired: it over-blocks, never under-blocks.
      this.log.error({ err, database, mode }, 'database-lock: could not roll back a lock that was not granted')
    }
  }

  /**
   * Asks to lift `holder`'s lock of `mode` (null: every holder's), each under its own unlock
   * policy and audited on its own. `approver` is who asks, as approvals count it (`admin` for
   * the admin key). The holder `*` never bypasses a policy.
   */
  async unlock (target: ResolvedDatabase, mode: LockMode, holder: string | null, origin: EventOrigin, approver: string): Promise<UnlockResult> {
    const stamp = this.audit.stampFor(origin)
    const now = this.options.now()
    const statusRequest = { database: target.id, now, ancestors: ancestorsOf(nameOf(target)) }
    const outcome = await this.usingStore('remove a lock', () => this.store.requestUnlock(target.id, mode, holder, approver, now, stamp, statusRequest))
    for (const event of outcome.events) this.audit.logChange(event.type, target.id, mode, event.holder, null, stamp, event.detail)
    if (outcome.released.length > 0 || outcome.scheduled.length > 0) {
      try {
        await this.view.applyLocal(outcome.change)
      } catch (err) {
        // The change is committed; a stale local view only over-blocks until the next refresh.
        this.log.warn({ err }, 'database-lock: unlocked, but refreshing the local view failed')
      }
    }
    // The status that answers: read along with the write when the store could, else now.
    const status = outcome.locks === undefined ? await this.status(target) : statusOf(target, outcome.locks)
    const shown = displayName(nameOf(target))
    if (outcome.awaiting.length > 0) {
      const { holder: waiting, approvals, needed } = outcome.awaiting[0]
      return {
        statusCode: 202,
        body: {
          ...status,
          code: 'UNLOCK_APPROVAL_RECORDED',
          message: `Approval ${approvals.length} of ${needed} recorded for the ${mode} lock held by ${waiting} on "${shown}"; ` +
            `it stays in force until ${needed} different principals allowed to unlock it have asked (so far: ${approvals.join(', ')})`
        }
      }
    }
    if (outcome.scheduled.length > 0) {
      const at = Math.min(...outcome.scheduled.map((entry) => entry.unlockAt))
      return {
        statusCode: 202,
        body: {
          ...status,
          code: 'UNLOCK_SCHEDULED',
          message: `The ${mode} lock on "${shown}" lifts at ${new Date(at).toISOString()}; until then it is fully in force. Locking again cancels the unlock`
        }
      }
    }
    if (outcome.forbidden.length > 0) {
      const locked = status.locks.find((lock) => lock.mode === mode && lock.inheritedFrom === null && outcome.forbidden.includes(lock.holder))
      throw new UnlockForbiddenError(shown, locked?.expiresAt ?? 'its ttl')
    }
    return { statusCode: 200, body: status }
  }

  /** Its own locks, then those it inherits from the namespaces above its name. */
  async status (target: ResolvedDatabase): Promise<LockStatus> {
    const rows = await this.usingStore('read locks', () => this.store.locksOf(target.id, this.options.now(), ancestorsOf(nameOf(target))))
    return statusOf(target, rows)
  }

  /** One page of the trail; with `owner`, only the events from while that principal owned the database. */
  async events (target: ResolvedDatabase, type: LockEventType | null, limit: number, cursor: string | undefined, owner: string | null): Promise<LockEventPage> {
    const trail = this.audit.events
    if (trail === null) return { events: [], nextCursor: null }
    const before = cursor === undefined ? null : decodeEventCursor(cursor)
    const rows = await this.usingStore('read audit events', () => trail.list({ database: target.id, type, before, limit: limit + 1, owner }))
    const page = rows.slice(0, limit)
    return {
      events: page.map((row) => ({ ...row, at: new Date(row.at).toISOString() })),
      nextCursor: rows.length > limit ? Buffer.from(`${page[page.length - 1].at}:${page[page.length - 1].id}`).toString('base64url') : null
    }
  }

  async list (limit: number, cursor: string | undefined): Promise<LockList> {
    const after = cursor === undefined ? null : decodeCursor(cursor)
    const rows = await this.usingStore('list locks', () => this.store.list({ limit: limit + 1, after, now: this.options.now() }))
    const page = rows.slice(0, limit)
    return {
      locks: page.map((row) => ({ database: row.database, ...toInfo(row, row.database) })),
      nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]) : null
    }
  }
}
