// Refusals are expected answers: logged at info, so a restore's stream of refused writes does
// not flood the error log. Real store failures stay at error level.
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import t from 'tap'
import { SqliteLockStore } from '../lib/store/sqlite/sqlite-store.js'
import { tempDir } from './helpers/app.js'
import { databaseLock, hostOptions } from './helpers/host.js'
import { until } from './helpers/wait.js'

interface Line { level: number, msg: string, code?: string, database?: string, operation?: string, err?: { message: string } }

async function loggedHost (t: Parameters<typeof tempDir>[0], failOpen = false) {
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
  await app.register(databaseLock, hostOptions(t, { store, maxStaleness: 50, pollInterval: 10, failOpen }))
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
  const refusals = lines.filter((line) => line.level === 30 && /write refused/.test(line.msg))
  t.equal(refusals.length, 5, 'each refused write: one info line')
  t.match(refusals[0], { code: 'DATABASE_WRITE_LOCKED', database: 'prod', operation: 'write' }, 'saying which database and operation')
})

t.test('a store that cannot answer is still logged at error level', async (t) => {
  const { app, lines, store } = await loggedHost(t)
  store.db.close()
  // The first poll that fails stops the view being trusted, and says so.
  await until(() => lines.some((line) => line.level >= 50 && /refreshing the lock view failed/.test(line.msg)), 'the failed poll')
  t.equal((await app.inject({ method: 'POST', url: '/db/prod', headers: { 'x-user': 'alice' } })).statusCode, 503)
  const failure = lines.find((line) => /lock store unavailable/.test(line.msg))
  t.match(failure, { level: 50, database: 'prod', err: { message: /database connection is not open/ } }, 'the failure is an error, with its database and cause')
})

t.test('failOpen: a write let through is logged as a warning', async (t) => {
  const { app, lines, store } = await loggedHost(t, true)
  store.db.close()
  await until(() => lines.some((line) => line.level >= 50 && /refreshing the lock view failed/.test(line.msg)), 'the failed poll')
  t.equal((await app.inject({ method: 'POST', url: '/db/prod', headers: { 'x-user': 'alice' } })).statusCode, 200)
  const warning = lines.find((line) => /write let through/.test(line.msg))
  t.match(warning, { level: 40, msg: 'database-lock: lock store unavailable; write let through (failOpen)', database: 'prod', err: { message: /database connection is not open/ } })
})
