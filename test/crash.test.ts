// A process killed with SIGKILL while a request is in flight: once its heartbeat
// lapses, locks through the survivor work again.
import t from 'tap'
import { tempDir } from './helpers/app.js'
import { call, startServerProcess } from './helpers/processes.js'
import { until } from './helpers/wait.js'

t.test('a SIGKILLed process stops holding up locks after processTimeout', async (t) => {
  const env = { DATA_DIR: tempDir(t) }
  const lockOptions = { heartbeatInterval: 200, processTimeout: 1000, maxStaleness: 500 }
  const a = await startServerProcess(t, env, { lockOptions })
  const b = await startServerProcess(t, env, { lockOptions, deleteDelay: 60_000, announceDeletes: true })
  await call(`${a.url}/v1/database/prod`, 'POST', { user: 'alice' })
  const inFlight = call(`${b.url}/v1/database/prod`, 'DELETE', { user: 'alice' }).catch(() => 'connection lost')
  await until(() => b.output().includes('delete started prod'), 'the DELETE to be in flight in B')
  await b.stop('SIGKILL')
  t.equal(await inFlight, 'connection lost')

  const started = Date.now()
  const lock = await call(`${a.url}/v1/database/prod/lock`, 'POST', { user: 'alice' })
  const took = Date.now() - started
  t.equal(lock.status, 200, 'the survivor takes the lock')
  t.ok(took <= 1000 + 500, `within the heartbeat bound (${took} ms)`)
  t.comment(`lock after SIGKILL of the other process took ${took} ms`)
  t.equal((await call(`${a.url}/v1/database/prod`, 'DELETE', { user: 'alice' })).status, 403)
  t.equal((await call(`${a.url}/v1/database/prod`, 'GET', { user: 'alice' })).status, 200, 'the killed delete never ran')
})
