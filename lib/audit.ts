// The audit trail: lock events written to the store and logged as one structured
// line each. Refusals are folded per database, principal and route per second and
// written off the request path, so a flood of refused deletes stays a few rows.
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { AuditStamp, LockEvent, LockEventType, LockMode, LockRecord } from '../types/index.js'
import type { EventsCapability } from './store/capabilities.js'
import { NO_ORIGIN, expiredEvent } from './store/rows.js'

/**
 * Who did it, through which request (null fields for programs and timers), and who owned the
 * database then: only that owner (and the admin key) may read the event later.
 */
export interface EventOrigin {
  principal: string | null
  requestId: string | null
  client: string | null
  route: string | null
  owner: string | null
}

export const PROGRAM_ORIGIN: EventOrigin = NO_ORIGIN

export function originOf (request: FastifyRequest, principal: string | null, owner: string | null): EventOrigin {
  return {
    principal,
    requestId: String(request.id),
    client: request.ip ?? null,
    route: `${request.method} ${request.routeOptions.url ?? request.url}`,
    owner
  }
}

const FLUSH_INTERVAL = 250
const BLOCKED_WINDOW = 1000
/** Distinct refusal keys held at once; past it, refusals are only counted in the log. */
const MAX_PENDING_KEYS = 10_000

interface PendingBlocked {
  event: LockEvent
  windowEnds: number
}

export class AuditLog {
  private readonly pending = new Map<string, PendingBlocked>()
  private dropped = 0
  private timer: NodeJS.Timeout | null = null
  private stopped = false
  private flushing: Promise<void> = Promise.resolve()

  constructor (
    /** The store's audit trail, if it keeps one. */
    readonly events: EventsCapability | null,
    private readonly log: FastifyBaseLogger,
    private readonly now: () => number,
    private readonly wanted: boolean,
    private readonly onEvent: ((event: LockEvent) => void | Promise<void>) | null = null
  ) {}

  /** Events are written when wanted and the store keeps them; they are logged whenever wanted. */
  get enabled (): boolean {
    return this.wanted && this.events !== null
  }

  /** Flushes every FLUSH_INTERVAL while refusals are pending, and only then: an idle process has no audit timer to wake it. */
  private scheduleFlush (): void {
    if (this.timer !== null || this.stopped) return
    this.timer = setTimeout(() => {
      this.flush(false).catch(() => {}).finally(() => {
        this.timer = null
        if (this.pending.size > 0) this.scheduleFlush()
      })
    }, FLUSH_INTERVAL)
    this.timer.unref()
  }

  private logEvent (event: LockEvent): void {
    this.log.info({
      event: event.type,
      database: event.database,
      mode: event.mode,
      holder: event.holder,
      detail: event.detail ?? undefined,
      principal: event.principal,
      reason: event.reason,
      requestId: event.requestId,
      client: event.client,
      route: event.route,
      count: event.count
    }, `database-lock: ${event.type} ${event.database}`)
    if (this.onEvent !== null) this.tell(this.onEvent, event)
  }

  /** The host's onLockEvent: its failures are logged, never passed on, and it is not awaited. */
  private tell (onEvent: (event: LockEvent) => void | Promise<void>, event: LockEvent): void {
    const failed = (err: unknown): void => { this.log.warn({ err, event: event.type }, 'database-lock: onLockEvent failed') }
    try {
      const result = onEvent({ ...event })
      if (result !== undefined) result.catch(failed)
    } catch (err) {
      failed(err)
    }
  }

  /** What a store needs to write a change's event in the change's own transaction; undefined when off. */
  stampFor (origin: EventOrigin): AuditStamp | undefined {
    return this.wanted ? { ...origin, at: this.now() } : undefined
  }

  /** Logs a change whose event the store wrote with the change itself. */
  logChange (type: LockEventType, database: string, mode: LockMode, holder: string, reason: string | null, stamp: AuditStamp | undefined, detail: string | null = null): void {
    if (stamp !== undefined) this.logEvent({ type, database, mode, holder, reason, detail, ...stamp, count: 1 })
  }

  /** An event outside any change (a conflict): written before the caller answers. */
  async record (type: 'conflict', database: string, mode: LockMode, holder: string, reason: string | null, origin: EventOrigin): Promise<void> {
    if (!this.wanted) return
    const event: LockEvent = { type, database, mode, holder, reason, ...origin, at: this.now(), count: 1 }
    this.logEvent(event)
    if (!this.enabled) return
    try {
      await this.events?.append([event])
    } catch (err) {
      // The lock itself is done; a lost audit row must not turn it into an error.
      this.log.error({ err, event: type, database }, 'database-lock: could not write an audit event')
    }
  }

  /** A refused request: O(1) on the request path, no I/O. */
  blocked (database: string, mode: LockMode, reason: string | null, origin: EventOrigin): void {
    if (!this.enabled) return
    const key = `${database}\u0000${origin.principal ?? ''}\u0000${origin.route ?? ''}`
    const existing = this.pending.get(key)
    if (existing !== undefined) {
      existing.event.count++
      return
    }
    if (this.pending.size >= MAX_PENDING_KEYS) {
      this.dropped++
      return
    }
    const at = this.now()
    this.pending.set(key, { event: { type: 'blocked', database, mode, holder: null, reason, ...origin, at, count: 1 }, windowEnds: Date.now() + BLOCKED_WINDOW })
    this.scheduleFlush()
  }

  /** Writes refusal windows that have closed (all of them when `everything`). */
  flush (everything: boolean): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const due: LockEvent[] = []
      const now = Date.now()
      for (const [key, entry] of this.pending) {
        if (everything || entry.windowEnds <= now) {
          due.push(entry.event)
          this.pending.delete(key)
        }
      }
      if (this.dropped > 0) {
        this.log.warn({ dropped: this.dropped }, 'database-lock: too many distinct refusals at once; some were only counted here')
        this.dropped = 0
      }
      if (due.length === 0) return
      for (const event of due) this.logEvent(event)
      try {
        await this.events?.append(due)
      } catch (err) {
        this.log.error({ err, events: due.length }, 'database-lock: could not write audit events')
      }
    })
    return this.flushing
  }

  /** The store wrote the `expired` rows itself when it purged them; they are logged here. */
  logExpired (expired: LockRecord[]): void {
    if (!this.wanted) return
    for (const lock of expired) {
      this.logEvent(expiredEvent(lock, this.now()))
    }
  }

  async prune (retentionDays: number): Promise<number> {
    if (!this.enabled) return 0
    if (this.events === null) return 0
    return this.events.prune(this.now() - retentionDays * 24 * 3600_000)
  }

  async stop (): Promise<void> {
    this.stopped = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    await this.flush(true)
  }
}
