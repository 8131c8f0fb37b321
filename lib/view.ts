// This process's in-memory view of live locks, the guarded operations it has in
// flight, and the protocol that keeps both in step with every other process.
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger } from 'fastify'
import type { DrainState, DrainTarget, LockMode, LockStore, OwnChange, StatusRequest, StoreChanges, StoreWatch } from '../types/index.js'
import { ancestorsOf, isWithin } from './names.js'
import { liftsAt } from './store/rows.js'
import { NameSet } from './name-set.js'
import type { VisitLive, WatchChanges } from './store/capabilities.js'

/** What a guarded route does to a database: destroy it (delete, reset) or change it. */
export type OperationKind = 'destructive' | 'write'

/** A write lock, kept in the view as the refusal it causes: the check hands it out as it is. */
export interface WriteLockRefusal {
  readonly lock: 'write'
  /** ms; Infinity: never expires. */
  readonly until: number
  readonly reason: string | null
}

/** Why an operation is refused: a delete lock (403) or a write lock (503). */
export type Refusal = { readonly lock: 'delete' } | WriteLockRefusal

const DELETE_REFUSAL: Refusal = Object.freeze({ lock: 'delete' })

/** One destructive operation in an in-flight count; writes count 1 each below it. */
const DESTRUCTIVE = 2 ** 26

/**
 * The poll slows to this (ms) once no lock has changed for QUIET_AFTER ms: every wake-up of an
 * idle process costs CPU (most of it the wake-up itself), and an unlock elsewhere still reaches
 * this process within half the 100 ms bound. A slower pollInterval is kept as it is; a short
 * maxStaleness shortens it, so that polls alone keep the view fresh.
 */
const QUIET_POLL_INTERVAL = 50
const QUIET_AFTER = 1000
/**
 * A poll that fires this much later than due (ms) means a busy machine, whose scheduling delays
 * add to the interval: the poll stays at pollInterval for QUIET_AFTER ms, so that the interval and
 * the delays together stay within the 100 ms bound.
 */
const LATE_POLL = 10

export interface LockViewOptions {
  store: LockStore
  /** The store's streaming load, if it has one (a million locks without a million records). */
  visitLive: VisitLive | null
  /** The store's watch for other connections' commits, if it has one. */
  watchChanges: WatchChanges | null
  now: () => number
  log: FastifyBaseLogger
  pollInterval: number
  heartbeatInterval: number
  processTimeout: number
  maxStaleness: number
}

/**
 * What the locks on one key amount to, whoever holds them: the latest expiry of its delete
 * locks, and of its write locks (with that lock's reason, for the 503).
 */
class LockTable {
  // Two flat maps rather than one object per key: a million delete locks cost a string and a
  // number each. Write locks are few and carry their reason for the 503 body.
  /** Expiry of each key's delete locks, ms (Infinity: never). */
  readonly deleteUntil = new Map<string, number>()
  readonly writeLocks = new Map<string, WriteLockRefusal>()

  apply (key: string, mode: LockMode, expiresAt: number | null, reason: string | null): void {
    const until = expiresAt ?? Infinity
    if (mode === 'delete') {
      // Several holders: the operation is refused until the last of them lifts.
      const known = this.deleteUntil.get(key)
      if (known === undefined || until > known) this.deleteUntil.set(key, until)
    } else {
      const known = this.writeLocks.get(key)
      if (known === undefined || until > known.until) this.writeLocks.set(key, { lock: 'write', until, reason })
    }
  }

  forget (key: string): void {
    this.deleteUntil.delete(key)
    this.writeLocks.delete(key)
  }
}

/**
 * A lock on one database id: a delete lock that never lifts goes to `permanentDeletes` (the
 * bulk of a large store, kept without a string per name), any other to `exact`.
 */
function applyExact (
  permanentDeletes: NameSet, exact: LockTable, database: string, mode: LockMode, expiresAt: number | null, reason: string | null
): void {
  if (mode === 'delete' && expiresAt === null) permanentDeletes.add(database)
  else exact.apply(database, mode, expiresAt, reason)
}

/** A `children` lock as the view keeps it until the namespace table is rebuilt. */
interface NamespaceLock {
  namespace: string
  mode: LockMode
  expiresAt: number | null
  reason: string | null
}

function addNamespaceLock (locks: Map<string, NamespaceLock[]>, database: string, lock: NamespaceLock): void {
  const known = locks.get(database)
  if (known === undefined) locks.set(database, [lock])
  else known.push(lock)
}

/** What the `children` locks on one namespace amount to: one lookup per segment of a name finds both modes. */
interface InheritedLocks {
  deleteUntil: number | undefined
  write: WriteLockRefusal | undefined
}

/** The later of two expiries of delete locks (the first on a tie). */
function laterDelete (known: number | undefined, other: number | undefined): number | undefined {
  return other !== undefined && (known === undefined || other > known) ? other : known
}

/** The write lock that lifts later (the first on a tie). */
function laterWrite (known: WriteLockRefusal | undefined, other: WriteLockRefusal | undefined): WriteLockRefusal | undefined {
  return other !== undefined && (known === undefined || other.until > known.until) ? other : known
}

/** What the `children` locks above `name` amount to (null: none), one lookup per name above it. */
function inheritedBy (namespaces: Map<string, InheritedLocks>, name: string): InheritedLocks | null {
  let merged: InheritedLocks | null = null
  for (const ancestor of ancestorsOf(name)) {
    const inherited = namespaces.get(ancestor)
    if (inherited === undefined) continue
    // Two namespaces above the name lock it: the later expiry of each mode counts.
    merged = merged === null
      ? inherited
      : { deleteUntil: laterDelete(merged.deleteUntil, inherited.deleteUntil), write: laterWrite(merged.write, inherited.write) }
  }
  return merged
}

/**
 * Names whose inherited locks the view remembers between two changes of the namespace locks;
 * past this, it forgets them all and starts again (a name costs its lookups once more).
 */
const INHERITED_CACHE_SIZE = 4096

/** In-flight operations on one database, and the functions that end one of them. */
interface InFlight {
  /** Destructive operations in the high part (DESTRUCTIVE each), writes in the low part. */
  count: number
  /** The namespaced name of the database. */
  name: string
  readonly leaveDestructive: () => void
  readonly leaveWrite: () => void
}

function namespaceTable (locks: Map<string, NamespaceLock[]>): Map<string, InheritedLocks> {
  const table = new LockTable()
  for (const list of locks.values()) {
    for (const lock of list) table.apply(lock.namespace, lock.mode, lock.expiresAt, lock.reason)
  }
  const namespaces = new Map<string, InheritedLocks>()
  for (const namespace of new Set([...table.deleteUntil.keys(), ...table.writeLocks.keys()])) {
    namespaces.set(namespace, { deleteUntil: table.deleteUntil.get(namespace), write: table.writeLocks.get(namespace) })
  }
  return namespaces
}

export class LockView {
  readonly processId = randomBytes(8).toString('hex')
  // Replaced whole (never cleared and refilled) by a full reload, so a reload that fails half
  // way leaves the previous complete view in place.
  /** Every live lock by database id, but for the delete locks that never lift: */
  private exact = new LockTable()
  /** ... the databases that have one. */
  private permanentDeletes = new NameSet()
  /** `children` locks, by the namespace they cover: empty (and free to check) while there are none. */
  private namespaces = new Map<string, InheritedLocks>()
  /** What `namespaces` amounts to for each name checked lately (null: nothing above it); emptied when `namespaces` is replaced. */
  private inheritedByName = new Map<string, InheritedLocks | null>()
  /** The `children` locks of each database id, to rebuild `namespaces` when one of them changes. */
  private namespaceLocks = new Map<string, NamespaceLock[]>()
  private readonly inFlight = new Map<string, InFlight>()
  private appliedVersion = 0
  /** performance.now() at the start of the last refresh that fully succeeded. */
  private freshAt = -Infinity
  private lastReportAt = -Infinity
  private reportedDraining = ''
  private reportedVersion = -1
  private reportWanted = false
  private running: Promise<void> | null = null
  private timer: NodeJS.Timeout | null = null
  private timerDelay = 0
  /** performance.now() when the scheduled poll is due. */
  private pollDueAt = 0
  /** performance.now() when this view last applied a change to the locks (its own or another process's). */
  private changedAt = -Infinity
  /** performance.now() when a poll last fired LATE_POLL ms or more after it was due. */
  private lateAt = -Infinity
  private stopped = false
  /** Wakes the view when another process commits; while it is healthy, the poll is only a safety net. */
  private watch: StoreWatch | null = null
  /** A wake-up came while a refresh ran: refresh once more after it. */
  private wakePending = false
  /** Pauses of lockers that end early when another process commits (its report, say). */
  private readonly wakeWaiters = new Set<() => void>()
  private failing = false
  /** The last read of the store failed: read it again, whatever hasChanged says. */
  private readFailed = false

  constructor (private readonly options: LockViewOptions) {}

  /** Loads every live lock and announces this process; call before serving. */
  async start (): Promise<void> {
    // Twice: the first run registers this process; a lock committed before that registration
    // was not waited for by its locker, so the second run reads it before we serve.
    await this.refresh(true)
    // Watching from before the second read: a commit after that read wakes the view.
    this.watch = this.options.watchChanges?.(() => { this.wake() }) ?? null
    try {
      await this.refresh(true)
    } catch (err) {
      // Not started: nothing may wake it (and heartbeat for it) later.
      this.watch?.close()
      this.watch = null
      throw err
    }
    this.schedulePoll()
  }

  /** Another process committed: read it now rather than at the next poll. */
  private wake (): void {
    for (const waiter of this.wakeWaiters) waiter()
    this.wakeWaiters.clear()
    if (this.running !== null) this.wakePending = true
    else this.tick()
  }

  /**
   * The poll while the store's watch is healthy: only a safety net against a missed wake-up,
   * often enough to keep the view fresh (maxStaleness) and the heartbeat on time.
   */
  private watchedPollInterval (): number {
    const { pollInterval, maxStaleness, heartbeatInterval } = this.options
    return Math.max(pollInterval, Math.min(maxStaleness / 4, heartbeatInterval))
  }

  /**
   * The next poll: while the store's watch is healthy, at the safety-net interval; otherwise at
   * pollInterval while locks change or polls fire late, at the quiet interval after a second of neither.
   */
  private schedulePoll (): void {
    if (this.stopped) return
    const { pollInterval, maxStaleness } = this.options
    const now = performance.now()
    const quiet = now - this.changedAt > QUIET_AFTER && now - this.lateAt > QUIET_AFTER
    const delay = this.watch !== null && this.watch.healthy()
      ? this.watchedPollInterval()
      : quiet ? Math.max(pollInterval, Math.min(QUIET_POLL_INTERVAL, maxStaleness / 4)) : pollInterval
    this.pollDueAt = now + delay
    if (this.timer !== null && delay === this.timerDelay) {
      this.timer.refresh()
      return
    }
    if (this.timer !== null) clearTimeout(this.timer)
    this.timerDelay = delay
    this.timer = setTimeout(() => { this.onPoll() }, delay)
    this.timer.unref()
  }

  private onPoll (): void {
    const now = performance.now()
    if (now - this.pollDueAt >= LATE_POLL) this.lateAt = now
    this.tick()
    this.schedulePoll()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.watch?.close()
    this.watch = null
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    if (this.running !== null) await this.running.catch(() => {})
  }

  /** True when the view was refreshed recently enough to be trusted without I/O. */
  isFresh (): boolean {
    return performance.now() - this.freshAt <= this.options.maxStaleness
  }

  /**
   * Why an operation of `kind` on `database` (namespaced name `name`) is refused now, or null.
   * No I/O: this is the request path. Two Map lookups; while any `children` lock exists, one
   * more for what the name inherits (looked up per segment once, until those locks change).
   */
  check (database: string, kind: OperationKind, name: string = database): Refusal | null {
    let deleteUntil = this.permanentDeletes.has(database) ? Infinity : this.exact.deleteUntil.get(database)
    let writeLock = this.exact.writeLocks.get(database)
    const inherited = this.namespaces.size === 0 ? null : this.inheritedOf(name)
    if (inherited !== null) {
      deleteUntil = laterDelete(deleteUntil, inherited.deleteUntil)
      writeLock = laterWrite(writeLock, inherited.write)
    }
    if (deleteUntil === undefined && writeLock === undefined) return null
    const now = this.options.now()
    // A destructive operation blocked by both locks gets the delete lock's 403.
    if (kind === 'destructive' && deleteUntil !== undefined && deleteUntil > now) return DELETE_REFUSAL
    return writeLock !== undefined && writeLock.until > now ? writeLock : null
  }

  /** The inherited locks of `name`, remembered until the namespace locks change. */
  private inheritedOf (name: string): InheritedLocks | null {
    const known = this.inheritedByName.get(name)
    if (known !== undefined) return known
    const inherited = inheritedBy(this.namespaces, name)
    if (this.inheritedByName.size >= INHERITED_CACHE_SIZE) this.inheritedByName.clear()
    this.inheritedByName.set(name, inherited)
    return inherited
  }

  /** Replaces the namespace table, and forgets what the previous one said of each name. */
  private setNamespaces (namespaces: Map<string, InheritedLocks>): void {
    this.namespaces = namespaces
    this.inheritedByName = new Map()
  }

  /**
   * Counts an operation of `kind` on `database` as in flight; returns the function that ends it
   * (call it once). A database's count and its two functions are made once and stay in the map
   * at zero until the next poll sweeps them: per request, one lookup and no allocation.
   */
  enter (database: string, kind: OperationKind, name: string = database): () => void {
    let entry = this.inFlight.get(database)
    if (entry === undefined) {
      entry = this.inFlightEntry(name)
      this.inFlight.set(database, entry)
    } else {
      // The host may have moved the database since: the latest name counts.
      entry.name = name
    }
    if (kind === 'destructive') {
      entry.count += DESTRUCTIVE
      return entry.leaveDestructive
    }
    entry.count += 1
    return entry.leaveWrite
  }

  private inFlightEntry (name: string): InFlight {
    const entry: InFlight = {
      count: 0,
      name,
      leaveDestructive: () => { this.leave(entry, DESTRUCTIVE) },
      leaveWrite: () => { this.leave(entry, 1) }
    }
    return entry
  }

  private leave (entry: InFlight, amount: number): void {
    entry.count -= amount
    // Someone may be waiting for this database to drain: tell the store soon.
    if (this.reportedDraining !== '' && !this.reportWanted) {
      this.reportWanted = true
      setImmediate(() => { this.tick() })
    }
  }

  /** Whether this process runs an operation on `database` that a current lock blocks. */
  isDraining (database: string): boolean {
    const entry = this.inFlight.get(database)
    return entry !== undefined && this.blocksInFlight(database, entry)
  }

  private blocksInFlight (database: string, { count, name }: InFlight): boolean {
    if (count === 0) return false
    if (count >= DESTRUCTIVE && this.check(database, 'destructive', name) !== null) return true
    return this.check(database, 'write', name) !== null
  }

  /** Whether this process runs an operation blocked now on `name`, or (`subtree`) on any name below it. */
  private isDrainingWithin (name: string, subtree: boolean): boolean {
    for (const [database, entry] of this.inFlight) {
      if ((subtree ? isWithin(entry.name, name) : entry.name === name) && this.blocksInFlight(database, entry)) return true
    }
    return false
  }

  /** Names (not ids) go to the store: a namespace lock waits for every name below it. */
  private drainingList (): string[] {
    const list: string[] = []
    for (const [database, entry] of this.inFlight) {
      if (entry.count === 0) {
        this.inFlight.delete(database)
      } else if (this.blocksInFlight(database, entry)) {
        list.push(entry.name)
      }
    }
    return list.sort()
  }

  private tick (): void {
    if (this.running !== null || this.stopped) return
    this.refresh(false).then(() => {
      if (this.failing) this.options.log.info('database-lock: the lock view is refreshing again')
      this.failing = false
    }, (err: unknown) => {
      // Once per outage, not once per poll.
      if (!this.failing) this.options.log.error({ err }, 'database-lock: refreshing the lock view failed; guarded requests fail closed until it recovers')
      this.failing = true
    })
  }

  /**
   * Brings the view up to date with the store and reports this process's state.
   * Concurrent callers share one run; `force` reads the store even if nothing seems changed.
   */
  refresh (force: boolean, reportVersion = true): Promise<void> {
    if (this.running !== null) {
      // Whoever asks during a run needs what was committed before asking: run once more after.
      const again = (): Promise<void> => this.refresh(force, reportVersion)
      return this.running.then(again, again)
    }
    const run = this.refreshOnce(force, reportVersion).finally(() => {
      this.running = null
      if (this.wakePending) {
        this.wakePending = false
        setImmediate(() => { this.tick() })
      }
    })
    this.running = run
    return run
  }

  /**
   * Applies this process's own write at once. Announcing the new version to the others waits
   * for the next poll (≤ pollInterval): only their lockers wait for it, and it saves a commit
   * (an fsync) per lock and unlock. `change`, when the store returned one, is applied without a
   * read if this view stands exactly at its `from`; otherwise the store is read.
   */
  async applyLocal (change?: OwnChange): Promise<void> {
    if (change !== undefined && this.running === null && !this.readFailed && change.from === this.appliedVersion) {
      // Everything up to `from` is applied, and nothing but this write came after it. Freshness is
      // not renewed: changes after `version` are the polls' to find.
      this.applyChanges(change)
      // Nobody waits for this process to apply its own write (a locker leaves itself out of the
      // drain): when all before it was reported, there is nothing new to report.
      if (this.reportedVersion === change.from) this.reportedVersion = change.version
      return
    }
    return this.refresh(true, false)
  }

  /** Applies changesSince's answer: each changed database's rows replace what the view had of it. */
  private applyChanges (changes: StoreChanges): void {
    if (changes.version === this.appliedVersion) return
    let namespacesChanged = false
    for (const database of changes.databases) {
      this.exact.forget(database)
      this.permanentDeletes.delete(database)
      if (this.namespaceLocks.delete(database)) namespacesChanged = true
    }
    for (const row of changes.rows) {
      applyExact(this.permanentDeletes, this.exact, row.database, row.mode, liftsAt(row), row.reason)
      if (row.namespace !== null) {
        addNamespaceLock(this.namespaceLocks, row.database, { namespace: row.namespace, mode: row.mode, expiresAt: liftsAt(row), reason: row.reason })
        namespacesChanged = true
      }
    }
    // Namespace locks are few: rebuilt whole, so several databases may share a namespace.
    if (namespacesChanged) this.setNamespaces(namespaceTable(this.namespaceLocks))
    this.appliedVersion = changes.version
    this.changedAt = performance.now()
  }

  private async refreshOnce (force: boolean, reportVersion: boolean): Promise<void> {
    try {
      await this.refreshSteps(force, reportVersion)
    } catch (err) {
      // Untrusted at once: the guard refreshes before every check, and fails closed while that fails.
      this.freshAt = -Infinity
      throw err
    }
  }

  private async refreshSteps (force: boolean, reportVersion: boolean): Promise<void> {
    const startedAt = performance.now()
    const { store } = this.options
    // hasChanged consumes the change it reports: after a failed read, read again regardless.
    const changed = await store.hasChanged(this.appliedVersion)
    if (force || changed || this.readFailed) {
      this.readFailed = true
      // A process that has applied nothing yet loads every live lock at once.
      const changes = this.appliedVersion === 0 ? null : await store.changesSince(this.appliedVersion, this.options.now())
      if (changes === null) {
        this.appliedVersion = await this.loadEverything()
        this.changedAt = performance.now()
      } else {
        this.applyChanges(changes)
      }
      this.readFailed = false
    }
    const draining = this.drainingList().join('\n')
    const heartbeatDue = startedAt - this.lastReportAt >= this.options.heartbeatInterval
    // Report only what others wait for: a new version, a change in draining, or a due heartbeat.
    // (Reporting on every change seen would make processes answer each other's reports forever.)
    const versionNews = reportVersion && this.appliedVersion !== this.reportedVersion
    if ((force && reportVersion) || heartbeatDue || this.reportWanted || draining !== this.reportedDraining || versionNews) {
      this.reportWanted = false
      await store.report({
        processId: this.processId,
        pid: process.pid,
        appliedVersion: this.appliedVersion,
        draining: draining === '' ? [] : draining.split('\n'),
        heartbeatAt: Date.now()
      })
      this.reportedDraining = draining
      this.reportedVersion = this.appliedVersion
      this.lastReportAt = startedAt
    }
    this.freshAt = startedAt
  }

  /**
   * Replaces the whole view with the store's live locks; returns the version read. The new
   * maps are built aside and swapped in only when the read is complete.
   */
  private async loadEverything (): Promise<number> {
    const { store } = this.options
    const exact = new LockTable()
    const permanentDeletes = new NameSet()
    const namespaceLocks = new Map<string, NamespaceLock[]>()
    const apply = (database: string, mode: LockMode, expiresAt: number | null, reason: string | null, namespace: string | null): void => {
      applyExact(permanentDeletes, exact, database, mode, expiresAt, reason)
      if (namespace !== null) addNamespaceLock(namespaceLocks, database, { namespace, mode, expiresAt, reason })
    }
    let version: number
    if (this.options.visitLive !== null) {
      const chunks: Uint8Array[] = []
      version = await this.options.visitLive(this.options.now(), { row: apply, permanentDeletes: (names) => { chunks.push(names) } })
      permanentDeletes.addChunks(chunks)
    } else {
      const snapshot = await store.snapshot(this.options.now())
      for (const row of snapshot.rows) apply(row.database, row.mode, liftsAt(row), row.reason, row.namespace)
      version = snapshot.version
    }
    this.exact = exact
    this.permanentDeletes = permanentDeletes
    this.namespaceLocks = namespaceLocks
    this.setNamespaces(namespaceTable(namespaceLocks))
    return version
  }

  /**
   * Waits until every live process has applied `version` and none (this one included) still
   * runs an operation that the locks block on the target name (or, for a subtree, below it).
   * Resolves with the last drain state (with the status of `statusOf` when the store read it
   * along), or null when `timeout` ms pass first.
   */
  async waitForDrain (
    target: DrainTarget, version: number, timeout: number, statusOf?: Omit<StatusRequest, 'now'>
  ): Promise<DrainState | null> {
    const deadline = performance.now() + timeout
    const { store, processTimeout } = this.options
    for (let pause = 1; ; pause = Math.min(pause * 2, 10)) {
      if (!this.isDrainingWithin(target.name, target.subtree)) {
        const request = statusOf === undefined ? undefined : { ...statusOf, now: this.options.now() }
        const state = await store.drainState(target, version, Date.now() - processTimeout, this.processId, request)
        if (state.lagging === 0 && state.draining === 0) return state
      }
      if (performance.now() >= deadline) return null
      await this.pauseUnlessWoken(pause)
    }
  }

  /** Waits `ms`, or less when another process commits meanwhile (the store's watch says so). */
  private pauseUnlessWoken (ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        this.wakeWaiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.wakeWaiters.add(done)
    })
  }
}
