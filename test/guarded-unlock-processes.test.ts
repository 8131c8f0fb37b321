// v2 guarded unlock across processes: a pending unlock survives SIGKILL and lifts everywhere at unlockAt.
// Separate from guarded-unlock.test.ts, whose in-process cases also run under Stryker (no dist there).
import t from 'tap'
import { ADMIN_KEY, tempDir } from './helpers/app.js'
import { call, startServerProcess } from './helpers/processes.js'

t.test('across processes: a scheduled unlock survives SIGKILL and lifts in every process at unlockAt', async (t) => {
  const env = { DATA_DIR: tempDir(t), ADMIN_KEY }
  const a = await startServerProcess(t, env)
  const b = await startServerProcess(t, env)
  await call(`${a.url}/v1/database/prod`, 'POST', { user: 'alice' })
  await call(`${a.url}/v1/database/prod/lock`, 'POST', { user: 'alice', body: { unlock: { delay: 2, approvals: 2 } } })
  t.equal((await call(`${a.url}/v1/database/prod/unlock`, 'POST', { user: 'alice' })).status, 202)
  await a.stop('SIGKILL')
  const c = await startServerProcess(t, env)
  const pending = await call(`${c.url}/v1/database/prod/lock`, 'GET', { user: 'alice' })
  t.match(pending.json, { locks: [{ approvals: ['alice'], unlockAt: null }] }, 'the approval survived the kill')
  const scheduled = await call(`${c.url}/v1/database/prod/unlock`, 'POST', { adminKey: ADMIN_KEY, body: { holder: 'alice' } })
  t.equal(scheduled.status, 202)
  const unlockAt = Date.parse((scheduled.json as { locks: Array<{ unlockAt: string }> }).locks[0].unlockAt)
  for (const server of [b, c]) {
    t.equal((await call(`${server.url}/v1/database/prod/reset`, 'POST', { user: 'alice' })).status, 403, 'in force before unlockAt')
  }
  // Each process lifts it by its own clock, with no I/O: poll both until each lets a reset
  // through. A refused request was checked before the lift, so it started before it: the
  // latest start of a refused request bounds the lift from above, whatever the machine's load.
  const liftedAfter: number[] = []
  for (const server of [b, c]) {
    let status = 403
    let lastRefusedStart = -Infinity
    while (status === 403 && Date.now() < unlockAt + 2000) {
      const started = Date.now()
      status = (await call(`${server.url}/v1/database/prod/reset`, 'POST', { user: 'alice' })).status
      if (status === 403) lastRefusedStart = started
    }
    t.equal(status, 200, 'lifted')
    t.ok(Date.now() >= unlockAt, 'not before unlockAt')
    liftedAfter.push(lastRefusedStart - unlockAt)
  }
  t.comment(`the last refused reset started ${liftedAfter.map((ms) => Number.isFinite(ms) ? `${ms} ms` : '(none refused)').join(' and ')} after unlockAt`)
  t.ok(liftedAfter.every((ms) => ms <= 100), 'no reset that started 100 ms after unlockAt was refused, in either process')
})
