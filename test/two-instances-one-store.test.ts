// Two plugin instances on one SQLite file, in one process: each is another process to the
// other (its own view, id, reports and heartbeat), so the protocol that keeps processes in
// step is tested here without child processes: what a process reports, when, and what a
// lock taken elsewhere waits for.
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import { SqliteLockStore } from '../lib/store/sqlite/sqlite-store.js'
import type { DatabaseLockOptions, StoreChanges } from '../types/index.js'
import { tempDir, type TapLike } from './helpers/app.js'
import { databaseLock, hostOptions, newHost } from './helpers/host.js'
import { countingStore } from './helpers/store.js'
import { until } from './helpers/wait.js'

const OWNER = { 'x-user': 'alice' }

async function instance (t: TapLike, options: Partial<DatabaseLockOptions>, routes: (app: FastifyInstance) => void = () => {}, app = newHost(t)): Promise<FastifyInstance> {
  await app.register(databaseLock, hostOptions(t, options))
  routes(app)
  await app.ready()
  return app
}

/** Handlers that wait, per database, until the test releases them. */
function gatedHandlers () {
  const gates = new Map<string, () => void>()
  const handler = async (request: { params: unknown }) => {
    const { name } = request.params as { name: string }
    await new Promise<void>((resolve) => { gates.set(name, resolve) })
    return { done: name }
  }
  return { gates, handler }
}

t.test('a lock waits for the blocked operations in flight in the other process, database by database', async (t) => {
  const path = `${tempDir(t)}/locks.db`
  // Short heartbeat and processTimeout: the other process must keep proving it is alive while it waits.
  const timing = { heartbeatInterval: 50, processTimeout: 200, maxStaleness: 100, pollInterval: 10 }
  const { gates, handler } = gatedHandlers()
  const a = await instance(t, { path, ...timing }, (app) => { app.delete('/db/:name', handler); app.post('/db/:name', handler) })
  const b = await instance(t, { path, ...timing, drainTimeout: 600 })

  const deletes = ['prod', 'stage'].map((name) => a.inject({ method: 'DELETE', url: `/db/${name}`, headers: OWNER }))
  const write = a.inject({ method: 'POST', url: '/db/other', headers: OWNER })
  await until(() => gates.size === 3, 'two DELETEs and a write in flight in A')

  // 600 ms of waiting, three times processTimeout: A stays alive, and reports both databases draining.
  await Promise.all([
    t.rejects(b.databaseLock.lock('prod'), { code: 'LOCK_CONFLICT' }, 'prod: A still deletes it'),
    t.rejects(b.databaseLock.lock('stage'), { code: 'LOCK_CONFLICT' }, 'stage: A still deletes it')
  ])
  t.match(await b.databaseLock.lock('other'), { locked: true }, 'a delete lock does not wait for a write')
  await t.rejects(b.databaseLock.lock('other', { mode: 'write' }), { code: 'LOCK_CONFLICT' }, 'a write lock does')

  gates.get('prod')?.()
  t.equal((await deletes[0]).statusCode, 200)
  t.match(await b.databaseLock.lock('prod'), { locked: true }, 'once A has finished, the lock is taken')
  await t.rejects(b.databaseLock.lock('stage'), { code: 'LOCK_CONFLICT' }, 'stage is still being deleted')
  gates.get('stage')?.()
  gates.get('other')?.()
  t.equal((await deletes[1]).statusCode, 200)
  t.equal((await write).statusCode, 200)
  t.match(await b.databaseLock.lock('stage'), { locked: true })
})

t.test('a lock waits until the other process has applied it, and then it refuses there', async (t) => {
  const path = `${tempDir(t)}/locks.db`
  // A polls every 300 ms and its heartbeat is 2 s: it must announce the version it applied when it applies it.
  let deleted = false
  const a = await instance(t, { path, pollInterval: 300, heartbeatInterval: 2000 }, (app) => {
    app.delete('/db/:name', async () => { deleted = true; return { deleted: true } })
  })
  const b = await instance(t, { path, drainTimeout: 1000 })
  t.match(await b.databaseLock.lock('prod'), { locked: true }, 'the lock is taken within drainTimeout')
  const res = await a.inject({ method: 'DELETE', url: '/db/prod', headers: OWNER })
  t.equal(res.statusCode, 403, 'A refuses at once: it applied the lock before B answered')
  t.equal(deleted, false)
})

t.test('a commit in the other process wakes the view: lock and unlock reach it long before its next poll', async (t) => {
  const path = `${tempDir(t)}/locks.db`
  // B polls once a minute and its heartbeat is as rare: only the store's watch can tell it of A's changes in time.
  const timing = { pollInterval: 60_000, heartbeatInterval: 60_000, processTimeout: 200_000, maxStaleness: 150_000 }
  let deleted = 0
  const a = await instance(t, { path, ...timing, drainTimeout: 5000 })
  const b = await instance(t, { path, ...timing }, (app) => {
    app.delete('/db/:name', async () => { deleted++; return { deleted: true } })
  })
  t.match(await a.databaseLock.lock('prod'), { locked: true }, 'acknowledged within drainTimeout: B applied the lock and said so')
  t.equal((await b.inject({ method: 'DELETE', url: '/db/prod', headers: OWNER })).statusCode, 403, 'B refuses')
  t.equal(deleted, 0)
  await a.databaseLock.unlock('prod')
  await until(async () => (await b.inject({ method: 'DELETE', url: '/db/prod', headers: OWNER })).statusCode === 200,
    'B to let the DELETE through after the unlock', 5000)
  t.equal(deleted, 1)
})

t.test('idle processes read and write the store only as often as they must', async (t) => {
  const path = `${tempDir(t)}/locks.db`
  const timing = { pollInterval: 10, heartbeatInterval: 60_000, processTimeout: 130_000 }
  const countedA = countingStore(new SqliteLockStore({ path }))
  const countedB = countingStore(new SqliteLockStore({ path }))
  t.teardown(async () => { await countedA.store.close(); await countedB.store.close() })
  const a = await instance(t, { store: countedA.store, ...timing })
  const b = await instance(t, { store: countedB.store, ...timing })
  const counts = () => ['A', 'B'].map((name) => {
    const { count } = name === 'A' ? countedA : countedB
    return { polls: count('hasChanged'), reports: count('report'), reads: count('changesSince'), reloads: count('visitLive') + count('snapshot') }
  })
  /** Counts over the next `polls` polls of both. */
  async function over (polls: number): Promise<Array<{ reports: number, reads: number, reloads: number }>> {
    const before = counts()
    await until(() => counts().every((now, i) => now.polls - before[i].polls >= polls), `${polls} polls of each`)
    return counts().map((now, i) => ({ reports: now.reports - before[i].reports, reads: now.reads - before[i].reads, reloads: now.reloads - before[i].reloads }))
  }

  // A first lock, so that both have a version to read changes from; then both settle.
  await a.databaseLock.lock('stage')
  await over(10)
  const quiet = [{ reports: 0, reads: 0, reloads: 0 }, { reports: 0, reads: 0, reloads: 0 }]
  t.same(await over(30), quiet, 'nothing changed: neither reads changes nor writes a report')

  const before = counts()
  await a.databaseLock.lock('prod')
  // B applies A's lock from the journal, not by reloading everything; each announces the new version once.
  await until(() => counts()[1].reads > before[1].reads, 'B to read the change')
  await over(10)
  const after = counts()
  t.same(after.map((now, i) => now.reloads - before[i].reloads), [0, 0], 'applied from the journal, not by reloading everything')
  t.same(after.map((now, i) => now.reports - before[i].reports), [1, 1], 'each announced the new version once')
  t.same(await over(30), quiet, 'then quiet again: the processes do not answer each other\'s reports')
  t.equal((await b.inject({ method: 'DELETE', url: '/db/prod' })).statusCode, 404, 'B knows the lock (no route here: the guard is not asked)')
  t.equal((await b.databaseLock.status('prod')).locked, true)
})

/** A store whose next read of changes is held after it was read, until released. */
class HeldReadStore extends SqliteLockStore {
  hold: Promise<void> | null = null
  override async changesSince (version: number, now: number): Promise<StoreChanges | null> {
    const changes = await super.changesSince(version, now)
    const hold = this.hold
    this.hold = null
    if (hold !== null) await hold
    return changes
  }
}

t.test('a lock asked for while the view is refreshing waits for a refresh that sees it', async (t) => {
  const store = new HeldReadStore({ path: `${tempDir(t)}/locks.db` })
  t.teardown(() => store.close())
  let deleted = false
  const app = await instance(t, { store }, (app) => { app.delete('/db/:name', async () => { deleted = true; return { deleted: true } }) })
  // A first lock gives the view a version: later changes are read from the journal.
  await app.databaseLock.lock('other')
  let release = (): void => {}
  store.hold = new Promise<void>((resolve) => { release = resolve })
  // prod's refresh reads the journal, then is held; stage is committed during that refresh.
  const prod = app.databaseLock.lock('prod')
  await until(() => store.hold === null, "prod's refresh to have read the journal")
  const stage = app.databaseLock.lock('stage')
  await until(async () => (await store.locksOf('stage', Date.now())).length > 0, "stage's row")
  release()
  await Promise.all([prod, stage])
  const res = await app.inject({ method: 'DELETE', url: '/db/stage', headers: OWNER })
  t.equal(res.statusCode, 403, 'stage is refused as soon as its lock answered')
  t.equal(deleted, false)
})

/** A store whose reads of changes can be made to fail. */
class FlakyStore extends SqliteLockStore {
  failReads = 0
  failing = false
  override async hasChanged (): Promise<boolean> {
    if (this.failing) throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' })
    return super.hasChanged()
  }

  override async changesSince (version: number, now: number): Promise<StoreChanges | null> {
    if (this.failReads > 0) {
      this.failReads--
      throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' })
    }
    return super.changesSince(version, now)
  }
}

t.test('a change whose read failed is read again at the next poll', async (t) => {
  const path = `${tempDir(t)}/locks.db`
  const store = new FlakyStore({ path })
  t.teardown(() => store.close())
  let deleted = false
  const a = await instance(t, { store, pollInterval: 10 }, (app) => { app.delete('/db/:name', async () => { deleted = true; return { deleted: true } }) })
  // B does not poll: no later commit of B's tells A again that something changed.
  const b = await instance(t, { path, drainTimeout: 1000, pollInterval: 600_000 })
  // A first lock gives A's view a version (later changes are read from the journal); then the
  // poll that learns of B's lock fails to read it, and the store will not report that change again.
  await b.databaseLock.lock('other')
  store.failReads = 1
  t.match(await b.databaseLock.lock('prod'), { locked: true }, 'A read it again and applied it')
  t.equal(store.failReads, 0, 'the read did fail once')
  t.equal((await a.inject({ method: 'DELETE', url: '/db/prod', headers: OWNER })).statusCode, 403)
  t.equal(deleted, false)
})

t.test('an outage of the view is logged once, its end once, and the next outage again', async (t) => {
  const lines: Array<{ level: number, msg: string, err?: { message: string } }> = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    }
  })
  const store = new FlakyStore({ path: `${tempDir(t)}/locks.db` })
  t.teardown(() => store.close())
  const counted = countingStore(store)
  const app = Fastify({ logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  // maxStaleness 40: the safety-net poll, all there is while the store's watch is healthy, every 10 ms.
  await instance(t, { store: counted.store, pollInterval: 10, maxStaleness: 40 }, () => {}, app)
  const failed = () => lines.filter((line) => line.level === 50 && /refreshing the lock view failed/.test(line.msg))
  const recovered = () => lines.filter((line) => line.level === 30 && line.msg === 'database-lock: the lock view is refreshing again')
  const polls = async (n: number) => { const from = counted.count('hasChanged'); await until(() => counted.count('hasChanged') >= from + n, `${n} polls`) }

  store.failing = true
  await polls(20)
  t.equal(failed().length, 1, 'one error line for 20 failed polls')
  t.match(failed()[0], { err: { message: 'disk I/O error' } }, 'with its cause')
  store.failing = false
  await until(() => recovered().length > 0, 'the recovery line')
  await polls(20)
  t.equal(recovered().length, 1, 'one line when it works again')
  store.failing = true
  await until(() => failed().length === 2, 'the second outage to be logged')
  t.pass('the next outage is logged again')
})

t.test('once closed, the plugin no longer polls the store it was given', async (t) => {
  const store = new SqliteLockStore({ path: `${tempDir(t)}/locks.db` })
  t.teardown(() => store.close())
  const counted = countingStore(store)
  const app = newHost(t)
  // maxStaleness 40: the safety-net poll, all there is while the store's watch is healthy, every 10 ms.
  await instance(t, { store: counted.store, pollInterval: 10, maxStaleness: 40 }, () => {}, app)
  await until(() => counted.count('hasChanged') >= 3, 'a few polls')
  await app.close()
  const after = counted.count('hasChanged')
  // Nothing to wait for: the absence of polls is checked over 20 poll intervals.
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(counted.count('hasChanged'), after, 'no poll after close')
})
