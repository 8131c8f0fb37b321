// Unlock through one process is seen by the other within 100 ms, for 99 % of unlocks.
import t from 'tap'
import { ADMIN_KEY, tempDir } from './helpers/app.js'
import { call, startServerProcess } from './helpers/processes.js'

t.test('unlock propagation over 100 rounds', async (t) => {
  const env = { DATA_DIR: tempDir(t), ADMIN_KEY }
  const [a, b] = await Promise.all([startServerProcess(t, env), startServerProcess(t, env)])
  await call(`${a.url}/v1/database/prod`, 'POST', { user: 'alice' })
  const delays: number[] = []
  for (let round = 0; round < 100; round++) {
    const lock = await call(`${a.url}/v1/database/prod/lock`, 'POST', { adminKey: ADMIN_KEY, body: { mode: 'write' } })
    if (lock.status !== 200) throw new Error(lock.text)
    // Acknowledged means enforced everywhere: B must refuse at once.
    if ((await call(`${b.url}/v1/database/prod/rows`, 'POST', { user: 'alice', body: {} })).status !== 503) t.fail(`round ${round}: B accepted a write after the lock was acknowledged`)
    await call(`${a.url}/v1/database/prod/unlock`, 'POST', { adminKey: ADMIN_KEY, body: { mode: 'write' } })
    const unlockedAt = performance.now()
    let status = 503
    while (status === 503 && performance.now() - unlockedAt < 2000) {
      status = (await call(`${b.url}/v1/database/prod/rows`, 'POST', { user: 'alice', body: {} })).status
    }
    t.equal(status, 201, `round ${round}: B accepts writes again`)
    delays.push(performance.now() - unlockedAt)
  }
  delays.sort((x, y) => x - y)
  const [median, p99, worst] = [delays[50], delays[98], delays[delays.length - 1]]
  t.comment(`unlock seen by the other process: median ${median.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, worst ${worst.toFixed(1)} ms`)
  // Propagation takes up to one poll interval (20 ms) plus scheduling. On a loaded 2-core machine
  // a single round can lose its time slice (the worst of 100 reached ~100 ms at load average 12),
  // so the documented bound is the 99th percentile (docs/consistency.md), asserted as such; the
  // worst case is reported, with a sanity ceiling.
  t.ok(median <= 50, `median ${median.toFixed(1)} ms`)
  t.ok(p99 <= 100, `p99 ${p99.toFixed(1)} ms is within 100 ms`)
  t.ok(worst <= 500, `worst ${worst.toFixed(1)} ms`)
})

// A process that has seen no lock change for a second polls more slowly (it wakes up less
// when idle). The bound must hold from there too: the unlock lands on a quiet process.
t.test('unlock propagation to a process that has been quiet for a second', async (t) => {
  const env = { DATA_DIR: tempDir(t), ADMIN_KEY }
  const [a, b] = await Promise.all([startServerProcess(t, env), startServerProcess(t, env)])
  await call(`${a.url}/v1/database/prod`, 'POST', { user: 'alice' })
  const delays: number[] = []
  const acks: number[] = []
  for (let round = 0; round < 15; round++) {
    // The scenario itself, not a wait for a condition: nothing changes for over a second.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const lockStarted = performance.now()
    const lock = await call(`${a.url}/v1/database/prod/lock`, 'POST', { adminKey: ADMIN_KEY, body: { mode: 'write' } })
    if (lock.status !== 200) throw new Error(lock.text)
    acks.push(performance.now() - lockStarted)
    if ((await call(`${b.url}/v1/database/prod/rows`, 'POST', { user: 'alice', body: {} })).status !== 503) t.fail(`round ${round}: B accepted a write after the lock was acknowledged`)
    await new Promise((resolve) => setTimeout(resolve, 1100))
    await call(`${a.url}/v1/database/prod/unlock`, 'POST', { adminKey: ADMIN_KEY, body: { mode: 'write' } })
    const unlockedAt = performance.now()
    let status = 503
    while (status === 503 && performance.now() - unlockedAt < 2000) {
      status = (await call(`${b.url}/v1/database/prod/rows`, 'POST', { user: 'alice', body: {} })).status
    }
    t.equal(status, 201, `round ${round}: B accepts writes again`)
    delays.push(performance.now() - unlockedAt)
  }
  delays.sort((x, y) => x - y)
  acks.sort((x, y) => x - y)
  const [median, p90, worst] = [delays[7], delays[13], delays[14]]
  t.comment(`unlock seen by a quiet process: median ${median.toFixed(1)} ms, p90 ${p90.toFixed(1)} ms, worst ${worst.toFixed(1)} ms; ` +
    `lock acknowledged with the other process quiet: median ${acks[7].toFixed(1)} ms, worst ${acks[14].toFixed(1)} ms`)
  // A quiet process polls every 50 ms: half that on average, plus scheduling on a busy machine.
  t.ok(median <= 75, `median ${median.toFixed(1)} ms`)
  t.ok(p90 <= 100, `p90 ${p90.toFixed(1)} ms is within 100 ms`)
  t.ok(worst <= 500, `worst ${worst.toFixed(1)} ms`)
})
