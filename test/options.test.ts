// Plugin options that change behaviour, each shown doing what its documentation says.
import type { FastifyReply, FastifyRequest } from 'fastify'
import t from 'tap'
import { databaseLock, hostOptions, newHost } from './helpers/host.js'
import { fakeClock } from './helpers/app.js'

t.test('authStrategies: a host strategy may lock and unlock beside owner and admin key', async (t) => {
  const app = newHost(t)
  // The host's own credential: a deploy bot with a header of its own.
  const deployBot = async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (request.headers['x-deploy-bot'] !== 'yes') throw new Error('not the deploy bot')
  }
  await app.register(databaseLock, hostOptions(t, { authStrategies: [deployBot] }))
  await app.ready()
  const bot = await app.inject({ method: 'POST', url: '/v1/database/prod/lock', headers: { 'x-deploy-bot': 'yes' } })
  t.equal(bot.statusCode, 200, 'the host strategy lets the bot lock')
  t.equal(bot.json().locked, true)
  const stranger = await app.inject({ method: 'POST', url: '/v1/database/prod/unlock', headers: { 'x-user': 'bob' } })
  t.equal(stranger.statusCode, 403, 'others are still refused')
  t.equal((await app.databaseLock.status('prod')).locked, true)
})

t.test('listPath: moves the list route, or false leaves it out', async (t) => {
  const moved = newHost(t)
  await moved.register(databaseLock, hostOptions(t, { listPath: '/admin/locks', adminKey: 'admin-key-0123456789' }))
  await moved.ready()
  t.equal((await moved.inject({ method: 'GET', url: '/admin/locks', headers: { 'x-admin-key': 'admin-key-0123456789' } })).statusCode, 200)
  t.equal((await moved.inject({ method: 'GET', url: '/v1/locks', headers: { 'x-admin-key': 'admin-key-0123456789' } })).statusCode, 404)
  const none = newHost(t)
  await none.register(databaseLock, hostOptions(t, { listPath: false, adminKey: 'admin-key-0123456789' }))
  await none.ready()
  t.equal((await none.inject({ method: 'GET', url: '/v1/locks', headers: { 'x-admin-key': 'admin-key-0123456789' } })).statusCode, 404)
})

t.test('validateName: the host\'s own name rules, on routes and guarded requests alike', async (t) => {
  const app = newHost(t)
  const validateName = (name: string): string | null => /^[A-Z][A-Za-z]*$/.test(name) ? null : 'names here are CamelCase'
  await app.register(databaseLock, hostOptions(t, {
    validateName,
    resolveDatabase: (name) => ({ id: name, owner: 'alice' })
  }))
  app.delete('/db/:name', async () => ({ deleted: true }))
  await app.ready()
  const bad = await app.inject({ method: 'POST', url: '/v1/database/prod/lock', headers: { 'x-user': 'alice' } })
  t.equal(bad.statusCode, 400)
  t.match(bad.json(), { code: 'INVALID_DATABASE_NAME', message: /CamelCase/ })
  t.equal((await app.inject({ method: 'POST', url: '/v1/database/Prod/lock', headers: { 'x-user': 'alice' } })).statusCode, 200, 'the default rules would refuse "Prod"')
  t.equal((await app.inject({ method: 'DELETE', url: '/db/prod', headers: { 'x-user': 'alice' } })).statusCode, 400, 'guarded routes use the same rules')
  t.equal((await app.inject({ method: 'DELETE', url: '/db/Prod', headers: { 'x-user': 'alice' } })).statusCode, 403, 'and refuse the locked one')
})

t.test('audit: false keeps no trail', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, { audit: false }))
  await app.ready()
  await app.databaseLock.lock('prod')
  await app.databaseLock.unlock('prod')
  t.same((await app.databaseLock.events('prod')).events, [], 'no events were written')
})

t.test('writeLockTtl: the default lifetime of a write lock', async (t) => {
  const clock = fakeClock()
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, { writeLockTtl: 60, now: clock.now }))
  await app.ready()
  const status = await app.databaseLock.lock('prod', { mode: 'write' })
  t.equal(status.locks[0].expiresAt, new Date(clock.now() + 60_000).toISOString(), 'expires 60 s after it was taken')
  const lasting = await app.databaseLock.lock('stage', { mode: 'write', ttl: 600 })
  t.equal(lasting.locks[0].expiresAt, new Date(clock.now() + 600_000).toISOString(), 'a ttl given wins')
  const deleteLock = await app.databaseLock.lock('other')
  t.equal(deleteLock.locks[0].expiresAt, null, 'delete locks do not expire by default')
})
