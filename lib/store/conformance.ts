// The LockStore contract, one suite for every engine, shipped as
// `fastify-database-lock/testing` so that a third-party store can prove itself too. Each
// store's test runs it with a fixture that opens stores on fresh, shared storage (a file,
// a schema). It needs only the few assertions below: tap's `t` has them as it is, and
// ../testing.ts adapts node:test.
import type { AcquireInput, LockMode, LockRecord, LockStore } from '../../types/index.js'

/** An assertion's optional message, as a rest tuple so that tap's own signatures fit. */
type Message = [] | [message: string]

/** One test of the suite: the assertions it uses and a teardown. */
export interface ConformanceTest {
  /** Strictly equal. */
  equal (found: unknown, wanted: unknown, ...message: Message): unknown
  /** Not strictly equal. */
  not (found: unknown, notWanted: unknown, ...message: Message): unknown
  ok (value: unknown, ...message: Message): unknown
  /** Deeply equal. */
  same (found: unknown, wanted: unknown, ...message: Message): unknown
  /** `found` has at least the fields of `pattern`, with those values; an array pattern matches element by element. */
  match (found: unknown, pattern: object, ...message: Message): unknown
  rejects (promise: Promise<unknown>, ...message: Message): Promise<unknown>
  pass (...message: Message): unknown
  fail (...message: Message): unknown
  teardown (fn: () => unknown): void
}

/** Where the suite registers its tests: tap's `t`, or `nodeTestSuite()` for node:test. */
export interface ConformanceSuite {
  test (name: string, fn: (t: ConformanceTest) => Promise<void>): unknown
}

export interface StoreFixture {
  /** A store on this test's storage; every call shares the same data, as processes do. Closed after the test. */
  open (options?: { journalRetention?: number }): Promise<LockStore>
}

export type FixtureFactory = (t: ConformanceTest) => Promise<StoreFixture>

const T0 = Date.parse('2026-11-23T10:00:00.000Z')
const NO_UNLOCK = { unlock: null, unlockAt: null, approvals: [] }

function input (database: string, extra: Partial<AcquireInput> = {}): AcquireInput {
  return {
    database,
    mode: 'delete',
    holder: 'h1',
    namespace: null,
    reason: null,
    lockedBy: 'alice',
    now: T0,
    expiresAt: null,
    refreshReason: false,
    refreshExpiry: false,
    refreshNamespace: false,
    unlock: null,
    refreshUnlock: false,
    ...extra
  }
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function keys (rows: LockRecord[]): string[] {
  return rows.map((row) => `${row.database}:${row.mode}`)
}

/** Calls hasChanged until it answers `wanted`, for at most `timeout` ms; returns whether it did. */
async function until (store: LockStore, wanted: boolean, timeout = 1000): Promise<boolean> {
  const deadline = Date.now() + timeout
  for (;;) {
    if (await store.hasChanged() === wanted) return true
    if (Date.now() >= deadline) return false
    await sleep(5)
  }
}

export function storeConformance (t: ConformanceSuite, fixture: FixtureFactory): void {
  t.test('acquire creates a lock under a new version', async (t) => {
    const store = await (await fixture(t)).open()
    const before = await store.snapshot(T0)
    t.same(before.rows, [])
    const result = await store.acquire(input('prod', { reason: 'production', expiresAt: T0 + 60_000 }))
    const record = { database: 'prod', mode: 'delete', holder: 'h1', namespace: null, reason: 'production', lockedBy: 'alice', lockedAt: T0, expiresAt: T0 + 60_000, ...NO_UNLOCK }
    t.same(result.record, record)
    t.equal(result.created, true)
    t.ok(result.version > before.version, 'the version grew')
    t.equal(typeof result.rowId, 'number')
    t.same(await store.locksOf('prod', T0 + 1), [record])
    t.same(await store.locksOf('other', T0 + 1), [])
  })

  t.test('acquiring a live lock again keeps lockedAt and lockedBy; a new reason or expiry refreshes it', async (t) => {
    const store = await (await fixture(t)).open()
    const first = await store.acquire(input('prod', { reason: 'first' }))
    const again = await store.acquire(input('prod', { reason: 'other', lockedBy: 'bob', now: T0 + 1000 }))
    t.equal(again.created, false)
    t.same(again.record, first.record, 'nothing refreshed unless asked')
    t.equal(again.version, first.version, 'no change, no new version')
    t.equal(again.rowId, first.rowId)
    const renamed = await store.acquire(input('prod', { reason: 'second', refreshReason: true, lockedBy: 'bob', now: T0 + 2000 }))
    t.match(renamed.record, { reason: 'second', lockedBy: 'alice', lockedAt: T0, expiresAt: null })
    t.ok(renamed.version > first.version, 'a refresh is a change')
    const shortened = await store.acquire(input('prod', { expiresAt: T0 + 9000, refreshExpiry: true, now: T0 + 3000 }))
    t.equal(shortened.conflict, 'expiry', 'a permanent lock is never turned into an expiring one')
    t.same(await store.locksOf('prod', T0 + 3000), [renamed.record], 'nothing changed')
    const expiring = await store.acquire(input('other', { expiresAt: T0 + 9000 }))
    const extended = await store.acquire(input('other', { expiresAt: T0 + 19_000, refreshExpiry: true, now: T0 + 3000 }))
    t.match(extended.record, { expiresAt: T0 + 19_000, lockedAt: T0 })
    t.ok(extended.version > expiring.version, 'a later expiry is a change')
    t.equal((await store.acquire(input('other', { expiresAt: T0 + 10_000, refreshExpiry: true }))).conflict, 'expiry', 'an earlier one is refused')
  })

  t.test('an expired lock is replaced, not refreshed', async (t) => {
    const store = await (await fixture(t)).open()
    const old = await store.acquire(input('prod', { lockedBy: 'alice', expiresAt: T0 + 500 }))
    t.same(await store.locksOf('prod', T0 + 500), [], 'expired at its expiry instant')
    const fresh = await store.acquire(input('prod', { lockedBy: 'bob', now: T0 + 1000 }))
    t.equal(fresh.created, true)
    t.match(fresh.record, { lockedBy: 'bob', lockedAt: T0 + 1000, expiresAt: null })
    t.ok(fresh.version > old.version)
  })

  t.test('a rollback by an old row id never removes a newer lock', async (t) => {
    // Lock A is pending (draining), someone unlocks and locks again, then A times out and rolls back by its row id.
    const store = await (await fixture(t)).open()
    const pending = await store.acquire(input('prod', { lockedBy: 'alice', expiresAt: T0 + 500 }))
    await store.release('prod', 'delete', null)
    const granted = await store.acquire(input('prod', { lockedBy: 'bob' }))
    t.not(granted.rowId, pending.rowId, 'row ids are never reused')
    t.equal((await store.release('prod', 'delete', null, pending.rowId)).released, false)
    t.same(keys(await store.locksOf('prod', T0)), ['prod:delete'], 'the newer lock stays')
    // The same when the pending lock expired and was replaced.
    const expiring = await store.acquire(input('other', { expiresAt: T0 + 500 }))
    const replacing = await store.acquire(input('other', { now: T0 + 1000 }))
    t.not(replacing.rowId, expiring.rowId)
    t.equal((await store.release('other', 'delete', null, expiring.rowId)).released, false)
  })

  t.test('the two modes are separate locks', async (t) => {
    const store = await (await fixture(t)).open()
    await store.acquire(input('prod', { mode: 'write', expiresAt: T0 + 60_000 }))
    await store.acquire(input('prod', { mode: 'delete' }))
    t.same(keys(await store.locksOf('prod', T0)), ['prod:delete', 'prod:write'], 'ordered by mode')
    t.equal((await store.release('prod', 'delete', null)).released, true)
    t.same(keys(await store.locksOf('prod', T0)), ['prod:write'])
  })

  t.test('release removes a lock, or only the very row it names', async (t) => {
    const store = await (await fixture(t)).open()
    const start = (await store.snapshot(T0)).version
    t.same(await store.release('prod', 'delete', null), { released: false, holders: [], version: start }, 'nothing to release, no new version')
    const taken = await store.acquire(input('prod'))
    t.same(await store.release('prod', 'delete', null, taken.rowId + 1000), { released: false, holders: [], version: taken.version }, 'another row id is left alone')
    t.equal((await store.locksOf('prod', T0)).length, 1)
    const released = await store.release('prod', 'delete', null, taken.rowId)
    t.equal(released.released, true)
    t.ok(released.version > taken.version)
    t.same(await store.locksOf('prod', T0), [])
    await store.acquire(input('prod'))
    t.equal((await store.release('prod', 'delete', null)).released, true, 'without a row id, whichever row is there')
  })

  t.test('list pages through live locks by database then mode, names compared as bytes', async (t) => {
    const store = await (await fixture(t)).open()
    for (const database of ['c', 'a/b', 'b', 'a.b', 'a-b', 'a']) await store.acquire(input(database))
    await store.acquire(input('a', { mode: 'write', expiresAt: T0 + 60_000 }))
    await store.acquire(input('gone', { expiresAt: T0 + 10 }))
    const expected = ['a:delete', 'a:write', 'a-b:delete', 'a.b:delete', 'a/b:delete', 'b:delete', 'c:delete']
    t.same(keys(await store.list({ limit: 100, after: null, now: T0 + 10 })), expected)
    const pages: string[][] = []
    let after: { database: string, mode: LockMode, holder: string } | null = null
    for (;;) {
      const page: LockRecord[] = await store.list({ limit: 3, after, now: T0 + 10 })
      if (page.length === 0) break
      pages.push(keys(page))
      after = { database: page[page.length - 1].database, mode: page[page.length - 1].mode, holder: page[page.length - 1].holder }
    }
    t.same(pages, [expected.slice(0, 3), expected.slice(3, 6), expected.slice(6)])
    t.same(keys(await store.list({ limit: 100, after: null, now: T0 })), [...expected, 'gone:delete'], 'live before its expiry')
  })

  t.test('purgeExpired removes expired rows and records them as changes', async (t) => {
    const store = await (await fixture(t)).open()
    await store.acquire(input('short', { expiresAt: T0 + 500 }))
    await store.acquire(input('short', { mode: 'write', expiresAt: T0 + 600 }))
    await store.acquire(input('long', { expiresAt: T0 + 60_000 }))
    await store.acquire(input('forever'))
    const { version } = await store.snapshot(T0)
    t.same(await store.purgeExpired(T0 + 100), [], 'nothing expired yet')
    t.equal((await store.snapshot(T0)).version, version, 'no change, no new version')
    t.same(keys(await store.purgeExpired(T0 + 1000)).sort(), ['short:delete', 'short:write'], 'the removed locks')
    const changes = await store.changesSince(version, T0 + 1000)
    t.same(changes?.databases, ['short'])
    t.same(changes?.rows, [])
    t.ok((changes?.version ?? 0) > version)
    t.same(keys((await store.snapshot(T0 + 1000)).rows).sort(), ['forever:delete', 'long:delete'])
    t.same(await store.purgeExpired(T0 + 1000), [])
  })

  t.test('snapshot gives the current version and every live lock', async (t) => {
    const store = await (await fixture(t)).open()
    await store.acquire(input('a'))
    await store.acquire(input('b', { expiresAt: T0 + 10 }))
    const last = await store.acquire(input('c', { mode: 'write', reason: 'restore', expiresAt: T0 + 60_000 }))
    const snapshot = await store.snapshot(T0 + 10)
    t.equal(snapshot.version, last.version)
    t.same(snapshot.rows.sort((x, y) => x.database.localeCompare(y.database)), [
      { database: 'a', mode: 'delete', holder: 'h1', namespace: null, reason: null, lockedBy: 'alice', lockedAt: T0, expiresAt: null, ...NO_UNLOCK },
      { database: 'c', mode: 'write', holder: 'h1', namespace: null, reason: 'restore', lockedBy: 'alice', lockedAt: T0, expiresAt: T0 + 60_000, ...NO_UNLOCK }
    ])
  })

  t.test('changesSince gives the live rows of each database changed after a version', async (t) => {
    const store = await (await fixture(t)).open()
    const start = (await store.snapshot(T0)).version
    t.same(await store.changesSince(start, T0), { version: start, databases: [], rows: [] }, 'nothing changed')
    await store.acquire(input('a'))
    await store.acquire(input('a', { mode: 'write', expiresAt: T0 + 60_000 }))
    const b = await store.acquire(input('b'))
    const changes = await store.changesSince(start, T0)
    t.equal(changes?.version, b.version)
    t.same(changes?.databases.slice().sort(), ['a', 'b'])
    t.same(keys(changes?.rows ?? []).sort(), ['a:delete', 'a:write', 'b:delete'], 'current rows, not the history')
    const released = await store.release('a', 'delete', null)
    const after = await store.changesSince(b.version, T0)
    t.same(after, { version: released.version, databases: ['a'], rows: [(await store.locksOf('a', T0))[0]] })
    const expired = await store.changesSince(start, T0 + 60_000)
    t.same(keys(expired?.rows ?? []).sort(), ['b:delete'], 'expired rows are left out')
  })

  t.test('an unlock\'s status, when the store reads it along (statusOf), is what locksOf answers after it', async (t) => {
    const store = await (await fixture(t)).open()
    await store.acquire(input('acme', { holder: 'legal', namespace: 'acme', expiresAt: T0 + 60_000 }))
    await store.acquire(input('acme', { holder: 'gone', namespace: 'acme', expiresAt: T0 - 1 }))
    await store.acquire(input('acme/prod', { holder: 'ops' }))
    await store.acquire(input('acme/prod', { holder: 'backup' }))
    await store.acquire(input('acme/prod', { holder: 'restore', mode: 'write', expiresAt: T0 + 60_000 }))
    const statusOf = { database: 'acme/prod', now: T0, ancestors: ['acme'] }
    const outcome = await store.requestUnlock('acme/prod', 'delete', 'ops', 'alice', T0, undefined, statusOf)
    t.same(outcome.released, ['ops'])
    const after = await store.locksOf('acme/prod', T0, ['acme'])
    t.same(after.map((row) => `${row.database} ${row.mode} ${row.holder}`), ['acme/prod delete backup', 'acme/prod write restore', 'acme delete legal'])
    if (outcome.locks === undefined) {
      t.pass('this store leaves the status to locksOf (allowed)')
    } else {
      t.same(outcome.locks, after, 'its own locks, then those it inherits, in locksOf\'s order')
    }
    const none = await store.requestUnlock('acme/prod', 'delete', 'nobody', 'alice', T0, undefined, statusOf)
    t.same(none.released, [])
    if (none.locks !== undefined) t.same(none.locks, after, 'also when nothing was released')
  })

  t.test('a write\'s own change, when the store returns one, is what changesSince answers after it', async (t) => {
    const store = await (await fixture(t)).open()
    /** Rows in one order, whatever order the store gave them in. */
    const sorted = (rows: LockRecord[] = []): LockRecord[] => rows.slice().sort((a, b) => `${a.mode} ${a.holder}`.localeCompare(`${b.mode} ${b.holder}`))
    await store.acquire(input('acme', { holder: 'legal', namespace: 'acme', mode: 'write', expiresAt: T0 + 60_000 }))
    await store.acquire(input('acme', { holder: 'old', expiresAt: T0 - 1 }))
    const writes = [
      async () => (await store.acquire(input('acme', { holder: 'backup' }))).change,
      async () => (await store.acquire(input('acme', { holder: 'old' }))).change,
      async () => (await store.requestUnlock('acme', 'delete', 'backup', 'alice', T0)).change,
      async () => (await store.requestUnlock('acme', 'delete', null, 'alice', T0)).change
    ]
    let returned = 0
    for (const write of writes) {
      const change = await write()
      if (change === undefined) continue
      returned++
      const answer = await store.changesSince(change.from, T0)
      t.same([change.version, change.databases, sorted(change.rows)], [answer?.version, answer?.databases, sorted(answer?.rows)])
    }
    t.pass(`${returned} of ${writes.length} writes returned their change (returning none is allowed)`)
  })

  t.test('changesSince answers null once the journal no longer reaches back', async (t) => {
    const store = await (await fixture(t)).open({ journalRetention: 1 })
    await store.acquire(input('a'))
    const taken = await store.acquire(input('b', { expiresAt: T0 + 10 }))
    await sleep(20)
    t.equal((await store.purgeExpired(T0 + 10)).length, 1)
    t.equal(await store.changesSince(0, T0 + 10), null, 'older changes were pruned: take a snapshot')
    const recent = await store.changesSince(taken.version, T0 + 10)
    t.same(recent?.databases, ['b'], 'changes after the pruned part are still there')
    const snapshot = await store.snapshot(T0 + 10)
    t.same(keys(snapshot.rows), ['a:delete'])
    t.same(await store.changesSince(snapshot.version, T0 + 10), { version: snapshot.version, databases: [], rows: [] })
  })

  t.test('stores on the same storage share locks', async (t) => {
    const storage = await fixture(t)
    const [one, two] = [await storage.open(), await storage.open()]
    const taken = await one.acquire(input('prod', { reason: 'shared' }))
    t.same(await two.locksOf('prod', T0), [taken.record])
    t.equal((await two.snapshot(T0)).version, taken.version)
    const again = await two.acquire(input('prod'))
    t.equal(again.created, false)
    t.equal(again.rowId, taken.rowId)
    t.equal((await two.release('prod', 'delete', null, taken.rowId)).released, true)
    t.same(await one.locksOf('prod', T0), [])
  })

  t.test('concurrent acquires of one lock through several stores create it once', async (t) => {
    const storage = await fixture(t)
    const stores = [await storage.open(), await storage.open(), await storage.open()]
    const results = await Promise.all(stores.flatMap((store) =>
      Array.from({ length: 8 }, (_, i) => store.acquire(input('prod', { lockedBy: `user${i}` })))))
    t.equal(results.filter((result) => result.created).length, 1)
    t.equal(new Set(results.map((result) => result.rowId)).size, 1, 'every caller got the same row')
    t.equal((await stores[0].locksOf('prod', T0)).length, 1)
  })

  t.test('versions commit in order: a reader following the journal misses no change', async (t) => {
    const storage = await fixture(t)
    const writers = [await storage.open(), await storage.open(), await storage.open()]
    const reader = await storage.open()
    const seen = new Set<string>()
    let applied = (await reader.snapshot(T0)).version
    let done = false
    let backwards = 0
    const follow = (async () => {
      for (;;) {
        if (done) return
        const changes = await reader.changesSince(applied, T0)
        if (changes === null) throw new Error('journal pruned during the test')
        if (changes.version < applied) backwards++
        for (const row of changes.rows) seen.add(row.database)
        applied = changes.version
        await sleep(0)
      }
    })()
    const names = Array.from({ length: 60 }, (_, i) => `db${i}`)
    await Promise.all(names.map((name, i) => writers[i % writers.length].acquire(input(name))))
    done = true
    await follow
    const last = await reader.changesSince(applied, T0)
    for (const row of last?.rows ?? []) seen.add(row.database)
    t.equal(backwards, 0, 'the version never went back')
    t.same([...seen].sort(), names.slice().sort(), 'every lock reached the reader')
  })

  t.test('hasChanged sees writes made through another store', async (t) => {
    const storage = await fixture(t)
    const [watcher, writer] = [await storage.open(), await storage.open()]
    t.equal(await watcher.hasChanged(), true, 'a first call always says changed')
    t.ok(await until(watcher, false), 'then quiet')
    await writer.acquire(input('prod'))
    t.ok(await until(watcher, true), 'a lock through another store is noticed')
    t.ok(await until(watcher, false), 'once')
    const quiet: boolean[] = []
    for (let i = 0; i < 5; i++) {
      await sleep(50)
      quiet.push(await watcher.hasChanged())
    }
    t.same(quiet, [false, false, false, false, false], 'stays quiet while nothing is written')
    await writer.release('prod', 'delete', null)
    t.ok(await until(watcher, true), 'an unlock is noticed')
  })

  t.test('drainState counts live processes that lag behind a version or still drain the database', async (t) => {
    const store = await (await fixture(t)).open()
    const now = Date.now()
    const live = now - 5000
    await store.report({ processId: 'p1', pid: 1, appliedVersion: 5, draining: [], heartbeatAt: now })
    await store.report({ processId: 'p2', pid: 2, appliedVersion: 3, draining: ['prod'], heartbeatAt: now })
    await store.report({ processId: 'p3', pid: 3, appliedVersion: 1, draining: ['prod'], heartbeatAt: now - 60_000 })
    t.same(await store.drainState({ name: 'prod', subtree: false }, 5, live), { lagging: 1, draining: 1 }, 'p3 is gone: not counted')
    t.same(await store.drainState({ name: 'prod', subtree: false }, 5, live, 'p2'), { lagging: 0, draining: 0 }, 'the caller itself is left out')
    t.same(await store.drainState({ name: 'prod', subtree: false }, 6, live), { lagging: 2, draining: 1 })
    t.same(await store.drainState({ name: 'other', subtree: false }, 5, live), { lagging: 1, draining: 0 })
    t.same(await store.drainState({ name: 'prod', subtree: false }, 5, now - 120_000), { lagging: 2, draining: 2 }, 'a longer bound counts p3')

    await store.report({ processId: 'p2', pid: 2, appliedVersion: 5, draining: [], heartbeatAt: Date.now() })
    t.same(await store.drainState({ name: 'prod', subtree: false }, 5, live), { lagging: 0, draining: 0 }, 'a report replaces the draining list')
    await store.report({ processId: 'p2', pid: 2, appliedVersion: 5, draining: ['a', 'b'], heartbeatAt: Date.now() })
    await store.report({ processId: 'p2', pid: 2, appliedVersion: 5, draining: ['b', 'c'], heartbeatAt: Date.now() })
    t.same([
      (await store.drainState({ name: 'a', subtree: false }, 5, live)).draining,
      (await store.drainState({ name: 'b', subtree: false }, 5, live)).draining,
      (await store.drainState({ name: 'c', subtree: false }, 5, live)).draining
    ], [0, 1, 1])
  })

  t.test('drainState may read the status asked along: then it is what locksOf answers', async (t) => {
    const store = await (await fixture(t)).open()
    await store.acquire(input('acme', { holder: 'legal', namespace: 'acme', expiresAt: T0 + 60_000 }))
    await store.acquire(input('acme/prod', { holder: 'backup', mode: 'write' }))
    await store.acquire(input('acme/prod', { holder: 'ops' }))
    await store.acquire(input('acme/prod', { holder: 'gone', expiresAt: T0 - 1 }))
    await store.acquire(input('acme/test'))
    const statusOf = { database: 'acme/prod', now: T0, ancestors: ['acme'] }
    const state = await store.drainState({ name: 'acme/prod', subtree: false }, 0, T0 - 5000, '', statusOf)
    t.same([state.lagging, state.draining], [0, 0])
    if (state.locks === undefined) t.pass('this store reads no status along (allowed)')
    else t.same(state.locks, await store.locksOf('acme/prod', T0, ['acme']), 'the same rows, in the same order')
  })

  t.test('drainState sees processes that report through other stores', async (t) => {
    const storage = await fixture(t)
    const [one, two] = [await storage.open(), await storage.open()]
    await one.report({ processId: 'p1', pid: 1, appliedVersion: 1, draining: ['prod'], heartbeatAt: Date.now() })
    t.same(await two.drainState({ name: 'prod', subtree: false }, 2, Date.now() - 5000, 'p2'), { lagging: 1, draining: 1 })
    await one.forgetProcess('p1')
    t.same(await two.drainState({ name: 'prod', subtree: false }, 2, Date.now() - 5000, 'p2'), { lagging: 0, draining: 0 })
  })

  t.test('forgetProcess removes a process and what it drained', async (t) => {
    const store = await (await fixture(t)).open()
    const now = Date.now()
    await store.report({ processId: 'p1', pid: 1, appliedVersion: 0, draining: ['prod'], heartbeatAt: now })
    await store.report({ processId: 'p2', pid: 2, appliedVersion: 0, draining: ['prod'], heartbeatAt: now })
    await store.forgetProcess('p1')
    t.same(await store.drainState({ name: 'prod', subtree: false }, 1, now - 5000), { lagging: 1, draining: 1 })
    await store.forgetProcess('p1')
    await store.forgetProcess('never-seen')
    t.pass('forgetting twice or forgetting a stranger is fine')
  })

  t.test('reapProcesses removes processes whose heartbeat is older than the bound', async (t) => {
    const store = await (await fixture(t)).open()
    const now = Date.now()
    await store.report({ processId: 'fresh', pid: 1, appliedVersion: 0, draining: [], heartbeatAt: now })
    await store.report({ processId: 'stale', pid: 2, appliedVersion: 0, draining: ['prod'], heartbeatAt: now - 60_000 })
    t.equal(await store.reapProcesses(now - 5000), 1)
    t.same(await store.drainState({ name: 'prod', subtree: false }, 1, now - 120_000), { lagging: 1, draining: 0 }, 'its draining rows went with it')
    t.equal(await store.reapProcesses(now - 5000), 0)
  })

  t.test('audit events: appended in batches, listed newest first by database and type, page by page', async (t) => {
    const store = await (await fixture(t)).open()
    if (store.appendEvents === undefined || store.listEvents === undefined || store.pruneEvents === undefined) {
      t.fail('the store keeps no audit events')
      return
    }
    const origin = { principal: 'alice', requestId: 'req-1', client: '127.0.0.1', route: 'POST /v1/database/:name/lock', owner: 'alice', holder: 'alice' }
    await store.appendEvents([
      { ...origin, type: 'locked', database: 'prod', mode: 'delete', reason: 'r', at: T0, count: 1 },
      { ...origin, type: 'blocked', database: 'prod', mode: 'delete', reason: 'r', at: T0 + 2000, count: 7 },
      { ...origin, type: 'locked', database: 'other', mode: 'write', reason: null, at: T0 + 1000, count: 1 }
    ])
    await store.appendEvents([{ ...origin, type: 'unlocked', database: 'prod', mode: 'delete', reason: null, at: T0 + 1000, count: 1 }])
    await store.appendEvents([])
    const all = await store.listEvents({ database: 'prod', type: null, before: null, limit: 10, owner: null })
    t.same(all.map((event) => [event.type, event.at]), [['blocked', T0 + 2000], ['unlocked', T0 + 1000], ['locked', T0]], 'newest first, by time')
    t.match(all[0], { ...origin, database: 'prod', mode: 'delete', reason: 'r', count: 7 })
    t.equal(typeof all[0].id, 'number')
    t.same((await store.listEvents({ database: 'prod', type: 'locked', before: null, limit: 10, owner: null })).map((event) => event.type), ['locked'])
    const first = await store.listEvents({ database: 'prod', type: null, before: null, limit: 2, owner: null })
    const last = first[first.length - 1]
    const rest = await store.listEvents({ database: 'prod', type: null, before: { at: last.at, id: last.id }, limit: 2, owner: null })
    t.same([...first, ...rest].map((event) => event.id), all.map((event) => event.id), 'pages join up')
    t.equal(await store.pruneEvents(T0 + 1000), 1, 'events older than the bound go')
    t.same((await store.listEvents({ database: 'prod', type: null, before: null, limit: 10, owner: null })).map((event) => event.type), ['blocked', 'unlocked'])
  })

  t.test('purgeExpired writes an expired event dated when each lock lifted', async (t) => {
    const store = await (await fixture(t)).open()
    await store.acquire(input('prod', { mode: 'write', reason: 'restore', expiresAt: T0 + 500 }))
    t.equal((await store.purgeExpired(T0 + 1000)).length, 1)
    const events = await store.listEvents?.({ database: 'prod', type: 'expired', before: null, limit: 10, owner: null })
    t.match(events, [{ type: 'expired', database: 'prod', mode: 'write', reason: 'restore', principal: null, at: T0 + 500, count: 1 }])
  })

  t.test('events carry the owner of their time; a reader given an owner sees only those', async (t) => {
    const store = await (await fixture(t)).open()
    if (store.appendEvents === undefined || store.listEvents === undefined) {
      t.fail('the store keeps no audit events')
      return
    }
    const stamp = (owner: string) => ({ principal: owner, requestId: null, client: null, route: null, owner, at: T0 })
    // alice's database, locked with an expiry and deleted; then bob re-creates the name.
    await store.acquire(input('shared', { lockedBy: 'alice', expiresAt: T0 + 500, audit: stamp('alice') }))
    await store.purgeExpired(T0 + 1000)
    await store.appendEvents([{ ...stamp('bob'), type: 'blocked', database: 'shared', mode: 'delete', holder: null, reason: null, at: T0 + 2000, count: 1 }])
    const list = (owner: string | null) => store.listEvents?.({ database: 'shared', type: null, before: null, limit: 10, owner })
    t.same((await list('alice'))?.map((event) => event.type), ['expired', 'locked'], 'alice sees her time, the expiry included')
    t.same((await list('bob'))?.map((event) => event.type), ['blocked'], 'bob sees only his')
    t.same((await list(null))?.map((event) => event.type), ['blocked', 'expired', 'locked'], 'no owner given: everything')
    t.same(await list('mallory'), [], 'a stranger sees nothing')
  })

  t.test('holders: one lock per (database, mode, holder); each released alone, or every holder at once', async (t) => {
    const store = await (await fixture(t)).open()
    const stamp = { principal: 'alice', requestId: null, client: null, route: null, owner: 'alice', at: T0 }
    const backup = await store.acquire(input('prod', { holder: 'backup', lockedBy: 'svc', audit: stamp }))
    const legal = await store.acquire(input('prod', { holder: 'legal-hold', lockedBy: 'carol', reason: 'case 42', audit: stamp }))
    const mine = await store.acquire(input('prod', { holder: 'alice', audit: stamp }))
    t.same([backup.created, legal.created, mine.created], [true, true, true], 'three holders, three locks')
    t.equal((await store.acquire(input('prod', { holder: 'backup', lockedBy: 'other' }))).created, false, 'idempotent per holder')
    await store.acquire(input('prod', { mode: 'write', holder: 'backup', expiresAt: T0 + 60_000 }))
    t.same((await store.locksOf('prod', T0)).map((lock) => `${lock.mode}:${lock.holder}`),
      ['delete:alice', 'delete:backup', 'delete:legal-hold', 'write:backup'], 'ordered by mode, then holder')
    t.same(keys(await store.list({ limit: 100, after: null, now: T0 })), ['prod:delete', 'prod:delete', 'prod:delete', 'prod:write'], 'listed per holder')
    const page = await store.list({ limit: 100, after: { database: 'prod', mode: 'delete', holder: 'alice' }, now: T0 })
    t.same(page.map((lock) => lock.holder), ['backup', 'legal-hold', 'backup'], 'pages by holder too')

    const one = await store.release('prod', 'delete', 'backup', undefined, { ...stamp, at: T0 + 1 })
    t.same([one.released, one.holders], [true, ['backup']])
    t.same((await store.locksOf('prod', T0)).map((lock) => `${lock.mode}:${lock.holder}`), ['delete:alice', 'delete:legal-hold', 'write:backup'],
      'the others stay, the write lock of the same holder too')
    t.same((await store.release('prod', 'delete', 'backup')).holders, [], 'releasing again: nothing')
    const all = await store.release('prod', 'delete', null, undefined, { ...stamp, at: T0 + 2 })
    t.same(all.holders, ['alice', 'legal-hold'], 'null: every holder of the mode')
    t.same(keys(await store.locksOf('prod', T0)), ['prod:write'])
    const events = await store.listEvents?.({ database: 'prod', type: 'unlocked', before: null, limit: 10, owner: null })
    t.same(events?.map((event) => event.holder).sort(), ['alice', 'backup', 'legal-hold'], 'one unlocked event per holder, naming it')
    const locked = await store.listEvents?.({ database: 'prod', type: 'locked', before: null, limit: 10, owner: null })
    t.same(locked?.map((event) => event.holder).sort(), ['alice', 'backup', 'legal-hold'])
  })

  t.test('namespace locks: kept with their namespace, inherited exactly per segment, refreshed only when asked', async (t) => {
    const store = await (await fixture(t)).open()
    const taken = await store.acquire(input('acme', { namespace: 'acme', holder: 'ops', reason: 'org migration' }))
    t.same(taken.record.namespace, 'acme')
    await store.acquire(input('acme/prod', { holder: 'alice' }))
    const own = await store.locksOf('acme', T0)
    t.same(own.map((lock) => [lock.database, lock.holder, lock.namespace]), [['acme', 'ops', 'acme']])
    const child = await store.locksOf('acme/prod', T0, ['acme'])
    t.same(child.map((lock) => [lock.database, lock.holder, lock.namespace]), [['acme/prod', 'alice', null], ['acme', 'ops', 'acme']],
      'its own locks first, then the inherited one')
    t.same(await store.locksOf('acme2', T0, []), [], 'a name that only starts alike has no ancestors, and inherits nothing')
    t.same((await store.locksOf('acme/prod/eu', T0, ['acme', 'acme/prod'])).map((lock) => lock.database), ['acme'],
      'a plain lock on acme/prod is not inherited; the namespace lock on acme is')
    t.same((await store.snapshot(T0)).rows.filter((row) => row.namespace !== null).map((row) => row.database), ['acme'])
    const visited: Array<string | null> = []
    if (store.visitLive !== undefined) {
      await store.visitLive(T0, (database, _mode, _expiresAt, _reason, namespace) => { visited.push(`${database}:${String(namespace)}`) })
      t.same(visited.sort(), ['acme/prod:null', 'acme:acme'], 'visitLive hands out the namespace')
    }
    const kept = await store.acquire(input('acme', { holder: 'ops' }))
    t.same([kept.created, kept.record.namespace], [false, 'acme'], 'locking again without asking keeps the namespace')
    const narrowed = await store.acquire(input('acme', { holder: 'ops', refreshNamespace: true }))
    t.equal(narrowed.record.namespace, null)
    t.ok(narrowed.version > kept.version, 'a change of what it covers is a change')
    t.same(await store.locksOf('acme/prod', T0, ['acme']).then((rows) => rows.map((row) => row.database)), ['acme/prod'])
  })

  t.test('drainState of a subtree counts operations on the name and every name below it, exactly per segment', async (t) => {
    const store = await (await fixture(t)).open()
    const now = Date.now()
    const live = now - 5000
    await store.report({ processId: 'p1', pid: 1, appliedVersion: 5, draining: ['acme/prod/eu'], heartbeatAt: now })
    await store.report({ processId: 'p2', pid: 2, appliedVersion: 5, draining: ['acme2', 'acmeprod'], heartbeatAt: now })
    await store.report({ processId: 'p3', pid: 3, appliedVersion: 5, draining: ['acme.x'], heartbeatAt: now })
    await store.report({ processId: 'p4', pid: 4, appliedVersion: 5, draining: ['acme'], heartbeatAt: now })
    t.same(await store.drainState({ name: 'acme', subtree: true }, 5, live), { lagging: 0, draining: 3 }, 'acme, acme.x, acme/prod/eu; not acme2 or acmeprod')
    t.same(await store.drainState({ name: 'acme', subtree: false }, 5, live), { lagging: 0, draining: 1 }, 'without the subtree: acme only')
    t.same(await store.drainState({ name: 'acme/prod', subtree: true }, 5, live), { lagging: 0, draining: 1 })
    t.same(await store.drainState({ name: 'acme_', subtree: true }, 5, live), { lagging: 0, draining: 0 }, 'no wildcard characters in names')
  })

  t.test('requestUnlock: no policy lifts at once; never stays; approvals count distinct principals; a delay schedules', async (t) => {
    const store = await (await fixture(t)).open()
    const stamp = { principal: 'alice', requestId: null, client: null, route: null, owner: 'alice', at: T0 }
    await store.acquire(input('prod', { holder: 'plain' }))
    await store.acquire(input('prod', { holder: 'frozen', unlock: 'never', expiresAt: T0 + 3_600_000 }))
    await store.acquire(input('prod', { holder: 'two', unlock: { approvals: 2 } }))
    await store.acquire(input('prod', { holder: 'later', unlock: { delay: 60 } }))
    await store.acquire(input('prod', { holder: 'both', unlock: { approvals: 2, delay: 30 } }))

    const plain = await store.requestUnlock('prod', 'delete', 'plain', 'alice', T0, stamp)
    t.same([plain.released, plain.events], [['plain'], [{ type: 'unlocked', holder: 'plain', detail: null }]])
    const frozen = await store.requestUnlock('prod', 'delete', 'frozen', 'admin', T0, stamp)
    t.same([frozen.forbidden, frozen.released, frozen.events], [['frozen'], [], []], 'never: nothing changes, for the admin key too')

    const first = await store.requestUnlock('prod', 'delete', 'two', 'alice', T0, stamp)
    t.same(first.awaiting, [{ holder: 'two', approvals: ['alice'], needed: 2 }])
    const again = await store.requestUnlock('prod', 'delete', 'two', 'alice', T0 + 1, stamp)
    t.same([again.awaiting, again.events], [[{ holder: 'two', approvals: ['alice'], needed: 2 }], []], 'the same principal twice counts once')
    t.match(await store.locksOf('prod', T0), [{ holder: 'both' }, { holder: 'frozen' }, { holder: 'later' }, { holder: 'two', approvals: ['alice'], unlockAt: null }])
    const second = await store.requestUnlock('prod', 'delete', 'two', 'admin', T0 + 2, stamp)
    t.same(second.released, ['two'], 'the second distinct principal lifts it')

    const later = await store.requestUnlock('prod', 'delete', 'later', 'alice', T0, stamp)
    t.same(later.scheduled, [{ holder: 'later', unlockAt: T0 + 60_000 }])
    t.ok(later.version > second.version, 'a scheduled unlock is a change every process must see')
    const laterAgain = await store.requestUnlock('prod', 'delete', 'later', 'bob', T0 + 5000, stamp)
    t.same(laterAgain.scheduled, [{ holder: 'later', unlockAt: T0 + 60_000 }], 'asking again keeps the first time')
    t.match(await store.locksOf('prod', T0 + 59_999), [{ holder: 'both' }, { holder: 'frozen' }, { holder: 'later', unlockAt: T0 + 60_000 }], 'in force until then')
    t.same((await store.locksOf('prod', T0 + 60_000)).map((lock) => lock.holder), ['both', 'frozen'], 'gone at unlockAt')
    const visited: Array<[string, number | null]> = []
    await store.visitLive?.(T0, (database, mode, expiresAt) => { if (database === 'prod') visited.push([mode, expiresAt]) })
    if (store.visitLive !== undefined) t.ok(visited.some(([, end]) => end === T0 + 60_000), 'visitLive hands out the scheduled unlock as the end')

    await store.requestUnlock('prod', 'delete', 'both', 'alice', T0, stamp)
    const both = await store.requestUnlock('prod', 'delete', 'both', 'bob', T0 + 1000, stamp)
    t.same(both.scheduled, [{ holder: 'both', unlockAt: T0 + 31_000 }], 'approvals, then the delay')
    t.same(both.events.map((event) => event.type), ['unlock-approved', 'unlock-requested'])

    const purged = await store.purgeExpired(T0 + 61_000)
    t.same(purged.map((lock) => lock.holder).sort(), ['both', 'later'])
    const events = await store.listEvents?.({ database: 'prod', type: 'unlocked', before: null, limit: 10, owner: null })
    t.match(events?.filter((event) => event.detail === 'scheduled unlock').map((event) => [event.holder, event.at]).sort(), [['both', T0 + 31_000], ['later', T0 + 60_000]],
      'a scheduled unlock is recorded as unlocked, dated when it lifted')
  })

  t.test('acquire: a policy and an expiry are only strengthened; locking again cancels a pending unlock', async (t) => {
    const store = await (await fixture(t)).open()
    const stamp = { principal: 'alice', requestId: null, client: null, route: null, owner: 'alice', at: T0 }
    await store.acquire(input('prod', { unlock: { delay: 60, approvals: 2 } }))
    // No policy, a shorter delay, fewer approvals, more approvals without the delay: each weaker somewhere.
    for (const weaker of [null, { delay: 30, approvals: 2 }, { delay: 60 }, { approvals: 3 }]) {
      const result = await store.acquire(input('prod', { unlock: weaker, refreshUnlock: true }))
      t.equal(result.conflict, 'unlock', `${JSON.stringify(weaker)} is weaker`)
    }
    const stronger = await store.acquire(input('prod', { unlock: { delay: 120, approvals: 3 }, refreshUnlock: true }))
    t.same([stronger.conflict, stronger.record.unlock], [undefined, { delay: 120, approvals: 3 }])
    await store.acquire(input('acme', { namespace: 'acme', unlock: { delay: 60 } }))
    t.equal((await store.acquire(input('acme', { namespace: null, refreshNamespace: true }))).conflict, 'unlock', 'narrowing a guarded namespace lock is a weakening')
    t.equal((await store.locksOf('acme', T0))[0].namespace, 'acme', 'it still covers the names below')
    await store.acquire(input('forever', { unlock: 'never', expiresAt: T0 + 60_000 }))
    t.equal((await store.acquire(input('forever', { unlock: { delay: 2_592_000 }, refreshUnlock: true }))).conflict, 'unlock', 'never is the strongest')

    await store.requestUnlock('prod', 'delete', 'h1', 'alice', T0, stamp)
    t.same((await store.locksOf('prod', T0))[0].approvals, ['alice'])
    const relocked = await store.acquire(input('prod', { audit: stamp }))
    t.same([relocked.cancelled, relocked.record.approvals, relocked.record.unlockAt], [true, [], null], 'locking again withdraws the pending request')
    t.same((await store.locksOf('prod', T0))[0].approvals, [])
    const cancelled = await store.listEvents?.({ database: 'prod', type: 'unlock-cancelled', before: null, limit: 10, owner: null })
    t.equal(cancelled?.length, 1)
  })

  t.test('a closed store refuses calls; closing twice is fine', async (t) => {
    const store = await (await fixture(t)).open()
    await store.acquire(input('prod'))
    await store.close()
    await t.rejects(store.locksOf('prod', T0))
    await t.rejects(store.acquire(input('other')))
    await store.close()
  })
}
