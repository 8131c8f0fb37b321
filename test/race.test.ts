// Race: lock through one process and delete through another, fired together,
// 500 times. Invariant every round: a 200 lock means the database still exists.
import t from 'tap'
import { tempDir } from './helpers/app.js'
import { startServerProcess } from './helpers/processes.js'
import { lockDeleteRace } from './helpers/race.js'

const ROUNDS = Number(process.env.RACE_ROUNDS ?? 500)

t.test(`${ROUNDS} rounds of lock (A) against delete (B)`, async (t) => {
  const env = { DATA_DIR: tempDir(t) }
  // The delete handler waits 1 ms (setTimeout) before deleting: it yields to the event loop.
  const fixture = { deleteDelay: 1 }
  const [a, b] = await Promise.all([startServerProcess(t, env, fixture), startServerProcess(t, env, fixture)])
  // The delete starts 0–7 ms after the lock, so that both orders occur.
  await lockDeleteRace(t, a, b, ROUNDS, 8)
})
