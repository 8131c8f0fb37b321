// v2 inherited locks across processes: a namespace lock and a delete below it in another process.
// Separate from namespaces.test.ts, whose in-process cases also run under Stryker (no dist there).
import t from 'tap'
import { ADMIN_KEY, tempDir } from './helpers/app.js'
import { call, startServerProcess } from './helpers/processes.js'

t.test('across processes: a namespace lock waits for a delete in flight below it, and its unlock reaches the other process', async (t) => {
  const env = { DATA_DIR: tempDir(t), ADMIN_KEY }
  const a = await startServerProcess(t, env)
  const b = await startServerProcess(t, env, { deleteDelay: 600 })
  for (const name of ['acme', 'acme%2Fprod', 'acme%2Fstage']) await call(`${a.url}/v1/database/${name}`, 'POST', { user: 'alice' })

  const started = performance.now()
  const deleting = call(`${b.url}/v1/database/acme%2Fprod`, 'DELETE', { user: 'alice' }).then((res) => ({ status: res.status, at: performance.now() }))
  // The slow delete is in flight in B when A takes the namespace lock.
  await new Promise((resolve) => setTimeout(resolve, 150))
  const lock = await call(`${a.url}/v1/database/acme/lock`, 'POST', { user: 'alice', body: { children: true } })
  const lockedAt = performance.now()
  const deleted = await deleting
  t.equal(lock.status, 200)
  t.equal(deleted.status, 200, 'the delete that started first finished')
  t.ok(deleted.at <= lockedAt, `the lock was acknowledged after the delete below it ended (delete ${(deleted.at - started).toFixed(0)} ms, lock ${(lockedAt - started).toFixed(0)} ms)`)
  t.equal((await call(`${b.url}/v1/database/acme%2Fstage`, 'DELETE', { user: 'alice' })).status, 403, 'B refuses at once after the 200')

  const delays: number[] = []
  for (let round = 0; round < 30; round++) {
    const locked = await call(`${a.url}/v1/database/acme/lock`, 'POST', { adminKey: ADMIN_KEY, body: { mode: 'write', children: true } })
    if (locked.status !== 200) throw new Error(locked.text)
    if ((await call(`${b.url}/v1/database/acme%2Fstage/rows`, 'POST', { user: 'alice', body: {} })).status !== 503) t.fail(`round ${round}: B accepted a write below a frozen namespace`)
    await call(`${a.url}/v1/database/acme/unlock`, 'POST', { adminKey: ADMIN_KEY, body: { mode: 'write' } })
    const unlockedAt = performance.now()
    let status = 503
    while (status === 503 && performance.now() - unlockedAt < 2000) {
      status = (await call(`${b.url}/v1/database/acme%2Fstage/rows`, 'POST', { user: 'alice', body: {} })).status
    }
    t.equal(status, 201, `round ${round}: B accepts writes below acme again`)
    delays.push(performance.now() - unlockedAt)
  }
  delays.sort((x, y) => x - y)
  const [median, worst] = [delays[15], delays[delays.length - 1]]
  t.comment(`namespace unlock seen by the other process: median ${median.toFixed(1)} ms, worst ${worst.toFixed(1)} ms over 30 rounds`)
  // The 100 ms bound itself is asserted over 100 rounds in propagation.test.ts; here, that a
  // namespace's unlock travels the same way: a typical round well inside it, none lost.
  t.ok(median <= 50, `median ${median.toFixed(1)} ms`)
  t.ok(worst <= 500, `worst ${worst.toFixed(1)} ms`)
})

t.test('across processes: a namespace lock answers 409 when a delete below it outlasts drainTimeout, and takes nothing', async (t) => {
  const env = { DATA_DIR: tempDir(t), ADMIN_KEY }
  const a = await startServerProcess(t, env, { lockOptions: { drainTimeout: 200 } })
  const b = await startServerProcess(t, env, { deleteDelay: 1500 })
  for (const name of ['acme', 'acme.prod']) await call(`${a.url}/v1/database/${name}`, 'POST', { user: 'alice' })
  const deleting = call(`${b.url}/v1/database/acme.prod`, 'DELETE', { user: 'alice' })
  await new Promise((resolve) => setTimeout(resolve, 150))
  const lock = await call(`${a.url}/v1/database/acme/lock`, 'POST', { user: 'alice', body: { children: true } })
  t.equal(lock.status, 409)
  t.match(lock.json, { code: 'LOCK_CONFLICT' })
  t.equal((await deleting).status, 200)
  const status = await call(`${a.url}/v1/database/acme/lock`, 'GET', { user: 'alice' })
  t.same(status.json, { database: 'acme', locked: false, locks: [] }, 'the lock was not taken')
})
