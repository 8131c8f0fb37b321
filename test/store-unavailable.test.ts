// When the store cannot answer: fail closed (503), except write checks under failOpen.
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { SqliteLockStore } from '../lib/store/sqlite/sqlite-store.js'
import { databaseLock, hostOptions, newHost } from './helpers/host.js'
import { tempDir, type TapLike } from './helpers/app.js'
import { until } from './helpers/wait.js'

const ok = async () => ({ ok: true })

async function hostWithClosableStore (t: TapLike, failOpen: boolean) {
  const store = new SqliteLockStore({ path: `${tempDir(t)}/locks.db` })
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, { store, failOpen, maxStaleness: 50, pollInterval: 10 }))
  app.delete('/db/:name', ok)
  app.post('/db/:name/reset', { config: { databaseLock: 'reset' } }, ok)
  app.post('/db/:name', ok)
  app.get('/db/:name', ok)
  await app.ready()
  t.teardown(() => store.close())
  return { app, store }
}

/** Closes the store under the running app and waits until its view is no longer trusted. */
async function breakStore (app: FastifyInstance, store: SqliteLockStore): Promise<void> {
  store.db.close()
  // The first failed poll, or maxStaleness (50 ms) at the latest, ends the trust in the view; then
  // every check must reach the store. Until then a delete of the unlocked database passes.
  await until(async () => (await app.inject({ method: 'DELETE', url: '/db/prod' })).statusCode === 503, 'the view to be distrusted')
}

t.test('fail closed: delete, reset and write all answer 503 LOCK_STORE_UNAVAILABLE', async (t) => {
  const { app, store } = await hostWithClosableStore(t, false)
  t.equal((await app.inject({ method: 'POST', url: '/db/prod' })).statusCode, 200, 'works while the store works')
  await breakStore(app, store)
  for (const [method, url] of [['DELETE', '/db/prod'], ['POST', '/db/prod/reset'], ['POST', '/db/prod']] as const) {
    const res = await app.inject({ method, url })
    t.equal(res.statusCode, 503, `${method} ${url}`)
    t.equal(res.json().code, 'LOCK_STORE_UNAVAILABLE')
    t.notMatch(res.body, /database connection|SQLITE|sqlite|\.ts:|at /, 'no internals')
  }
  t.equal((await app.inject({ method: 'GET', url: '/db/prod' })).statusCode, 200, 'reads are not checked')
  const lock = await app.inject({ method: 'POST', url: '/v1/database/prod/lock', headers: { 'x-user': 'alice' } })
  t.equal(lock.statusCode, 503)
  t.same(Object.keys(lock.json()).sort(), ['code', 'error', 'message', 'statusCode'])
})

t.test('failOpen lets write checks through; delete and reset still fail closed', async (t) => {
  const { app, store } = await hostWithClosableStore(t, true)
  await breakStore(app, store)
  t.equal((await app.inject({ method: 'POST', url: '/db/prod' })).statusCode, 200, 'write allowed')
  t.equal((await app.inject({ method: 'DELETE', url: '/db/prod' })).statusCode, 503, 'delete refused')
  t.equal((await app.inject({ method: 'POST', url: '/db/prod/reset' })).statusCode, 503, 'reset refused')
})
