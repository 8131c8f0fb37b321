// Race: lock through one process and delete through another, fired together,
// 500 times. Invariant every round: a 200 lock means the database still exists.
import t from 'tap'
import { tempDir } from './helpers/app.js'
import { call, startServerProcess } from './helpers/processes.js'

const ROUNDS = Number(process.env.RACE_ROUNDS ?? 500)

t.test(`${ROUNDS} rounds of lock (A) against delete (B)`, async (t) => {
  const env = { DATA_DIR: tempDir(t) }
  // The delete handler waits 1 ms (setTimeout) before deleting: it yields to the event loop.
  const fixture = { deleteDelay: 1 }
  const [a, b] = await Promise.all([startServerProcess(t, env, fixture), startServerProcess(t, env, fixture)])
  const outcomes = new Map<string, number>()
  let violations = 0
  for (let round = 0; round < ROUNDS; round++) {
    const name = `race-${round}`
    const created = await call(`${a.url}/v1/database/${name}`, 'POST', { user: 'alice' })
    if (created.status !== 201) throw new Error(`create failed: ${created.text}`)
    const [lock, del] = await Promise.all([
      call(`${a.url}/v1/database/${name}/lock`, 'POST', { user: 'alice' }),
      call(`${b.url}/v1/database/${name}`, 'DELETE', { user: 'alice' })
    ])
    const exists = (await call(`${a.url}/v1/database/${name}`, 'GET', { user: 'alice' })).status === 200
    const key = `lock ${lock.status} / delete ${del.status} / ${exists ? 'exists' : 'gone'}`
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1)
    if (lock.status === 200 && !exists) violations++
  }
  const report = [...outcomes].sort((x, y) => y[1] - x[1]).map(([key, count]) => `${count} × ${key}`).join('; ')
  t.comment(`outcomes over ${ROUNDS} rounds: ${report}`)
  t.equal(violations, 0, 'no round acknowledged a lock on a deleted database')
  for (const key of outcomes.keys()) {
    t.match(key, /^(lock 200 \/ delete 403 \/ exists|lock 404 \/ delete 200 \/ gone|lock 409 \/ delete 200 \/ gone)$/, `possible outcome: ${key}`)
  }
})
