// Refusals are expected answers: logged at info, so a restore's stream of refused writes does
// not flood the error log. Real store failures stay at error level.
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import t from 'tap'
import { SqliteLockStore } from '../lib/store/sqlite/sqlite-store.js'
import { tempDir } from './helpers/app.js'
import { databaseLock, hostOptions } from './helpers/host.js'
import { until } from './helpers/wait.js'

interface Line { level: number, msg: string, code?: string }

async function loggedHost (t: Parameters<typeof tempDir>[0]) {
  const lines: Line[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    }
  })
  const store = new SqliteLockStore({ path: `${tempDir(t)}/locks.db` })
  t.teardown(() => store.close())
  const app = Fastify({ logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  await app.register(databaseLock, hostOptions(t, { store, maxStaleness: 50, pollInterval: 10 }))
  app.post('/db/:name', async () => ({ written: true }))
  app.delete('/db/:name', async () => ({ deleted: true }))
  await app.ready()
  return { app, lines, store }
}

t.test('write-locked 503s and delete-locked 403s are logged at info, not error', async (t) => {
  const { app, lines } = await loggedHost(t)
  await app.databaseLock.lock('prod', { mode: 'write', reason: 'restore', ttl: 600 })
  await app.databaseLock.lock('stage')
  for (let i = 0; i < 5; i++) {
    const write = await app.inject({ method: 'POST', url: '/db/prod', headers: { 'x-user': 'alice' } })
    t.equal(write.statusCode, 503)
    t.equal(write.headers['retry-after'], '300')
    t.match(write.json(), { code: 'DATABASE_WRITE_LOCKED', reason: 'restore', retryAfter: 300 })
  }
  t.equal((await app.inject({ method: 'DELETE', url: '/db/stage', headers: { 'x-user': 'bob' } })).statusCode, 403)
  t.same(lines.filter((line) => line.level >= 50), [], 'no error-level line for a refusal')
  t.equal(lines.filter((line) => line.level === 30 && /write refused/.test(line.msg)).length, 5, 'each refused write: one info line')
})

t.test('a store that cannot answer is still logged at error level', async (t) => {
  const { app, lines, store } = await loggedHost(t)
  store.db.close()
  // The first poll that fails stops the view being trusted, and says so.
  await until(() => lines.some((line) => line.level >= 50 && /refreshing the lock view failed/.test(line.msg)), 'the failed poll')
  t.equal((await app.inject({ method: 'POST', url: '/db/prod', headers: { 'x-user': 'alice' } })).statusCode, 503)
  t.ok(lines.some((line) => line.level >= 50 && /lock store unavailable/.test(line.msg)), 'the failure is an error')
})
