// Another connection holding the SQLite write lock (a backup tool, the sqlite3 shell in
// BEGIN IMMEDIATE) once froze the whole service: better-sqlite3 is synchronous, and the
// poll's heartbeat waited out busy_timeout (5 s) on the event loop, so an unrelated GET
// took 5–8 s. Store calls now never wait on the event loop: the view goes stale and guarded
// requests fail closed (503) while lock requests wait, bounded, asynchronously.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import Database from 'better-sqlite3'
import t from 'tap'
import { tempDir } from '../helpers/app.js'
import { databaseLock, hostOptions, newHost } from '../helpers/host.js'
import { until } from '../helpers/wait.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('a 3-second BEGIN IMMEDIATE elsewhere: the event loop keeps turning, guarded writes fail closed', async (t) => {
  const path = `${tempDir(t)}/locks.db`
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, { path, heartbeatInterval: 200 }))
  app.get('/health', async () => ({ ok: true }))
  app.post('/db/:name', async () => ({ written: true }))
  await app.ready()
  await app.databaseLock.lock('prod')
  const url = await app.listen({ host: '127.0.0.1', port: 0 })

  const holder = new Database(path)
  t.teardown(() => { if (holder.open) holder.close() })
  const delay = monitorEventLoopDelay({ resolution: 10 })
  holder.exec('BEGIN IMMEDIATE')
  const heldAt = Date.now()
  delay.enable()
  let worstGet = 0
  const guarded = new Map<number, number>()
  // A lock request during the hold: it may wait, but not forever and not on the event loop.
  const locking = fetch(`${url}/v1/database/stage/lock`, { method: 'POST', headers: { 'x-user': 'alice' } })
    .then((res) => ({ status: res.status, at: Date.now() - heldAt }))
  while (Date.now() - heldAt < 3000) {
    const started = Date.now()
    const res = await fetch(`${url}/health`)
    t.equal(res.status, 200)
    worstGet = Math.max(worstGet, Date.now() - started)
    const write = await fetch(`${url}/db/stage`, { method: 'POST' })
    guarded.set(write.status, (guarded.get(write.status) ?? 0) + 1)
    // A sample every 50 ms while the lock is held (a measurement, not a wait).
    await sleep(50)
  }
  holder.exec('ROLLBACK')
  delay.disable()
  const lock = await locking
  const p99 = delay.percentile(99) / 1e6
  const max = delay.max / 1e6
  t.comment(`held 3 s: event-loop delay p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms; slowest GET ${worstGet} ms; ` +
    `guarded POSTs ${JSON.stringify([...guarded])}; lock answered ${lock.status} after ${lock.at} ms`)
  t.ok(worstGet < 500, `an unrelated GET never waits for the store (slowest ${worstGet} ms)`)
  t.ok(p99 < 200, `event-loop delay p99 ${p99.toFixed(1)} ms`)
  t.ok(guarded.has(503), 'guarded writes failed closed while the view could not be kept fresh')
  t.ok(lock.status === 200 || lock.status === 503, `the lock request ended (${lock.status})`)
  t.ok(lock.at < 8000, 'within its bound')

  // Released: everything works again.
  const writePasses = async () => (await fetch(`${url}/db/stage`, { method: 'POST' })).status === 200
  await until(writePasses, 'guarded writes to pass again')
  t.ok(await writePasses(), 'guarded writes pass again once the other connection lets go')
  const status = await app.databaseLock.status('prod')
  t.equal(status.locked, true, 'the lock is still there')
})
