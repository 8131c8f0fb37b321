// The lock-against-delete race shared by the SQLite and PostgreSQL process tests.
import type { Test } from 'tap'
import { call, type ServerProcess } from './processes.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Each round: a fresh database, then a lock through A and a delete through B, the delete
 * started 0 to `stagger - 1` ms later so that both orders occur. Invariant: a 200 lock
 * means the database still exists. Reports the count of each outcome.
 */
export async function lockDeleteRace (t: Test, a: ServerProcess, b: ServerProcess, rounds: number, stagger: number): Promise<void> {
  const outcomes = new Map<string, number>()
  let violations = 0
  for (let round = 0; round < rounds; round++) {
    const name = `race-${round}`
    const created = await call(`${a.url}/v1/database/${name}`, 'POST', { user: 'alice' })
    if (created.status !== 201) throw new Error(`create failed: ${created.text}`)
    const [lock, del] = await Promise.all([
      call(`${a.url}/v1/database/${name}/lock`, 'POST', { user: 'alice' }),
      sleep(round % stagger).then(() => call(`${b.url}/v1/database/${name}`, 'DELETE', { user: 'alice' }))
    ])
    const exists = (await call(`${a.url}/v1/database/${name}`, 'GET', { user: 'alice' })).status === 200
    const key = `lock ${lock.status} / delete ${del.status} / ${exists ? 'exists' : 'gone'}`
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1)
    if (lock.status === 200 && !exists) violations++
  }
  const report = [...outcomes].sort((x, y) => y[1] - x[1]).map(([key, count]) => `${count} × ${key}`).join('; ')
  t.comment(`outcomes over ${rounds} rounds: ${report}`)
  t.equal(violations, 0, 'no round acknowledged a lock on a deleted database')
  // A race that only ever ran one way proves nothing about the other.
  t.ok(rounds >= 50, `enough rounds to mean something (${rounds})`)
  const lockFirst = outcomes.get('lock 200 / delete 403 / exists') ?? 0
  const deleteFirst = (outcomes.get('lock 404 / delete 200 / gone') ?? 0) + (outcomes.get('lock 409 / delete 200 / gone') ?? 0)
  t.ok(lockFirst > 0 && deleteFirst > 0, `both orders occurred (lock first ${lockFirst}, delete first ${deleteFirst})`)
  for (const key of outcomes.keys()) {
    t.match(key, /^(lock 200 \/ delete 403 \/ exists|lock 404 \/ delete 200 \/ gone|lock 409 \/ delete 200 \/ gone)$/, `possible outcome: ${key}`)
  }
}
