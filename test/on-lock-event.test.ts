// onLockEvent: hosts hear every audit event as it is recorded, without polling the store.
import t from 'tap'
import type { LockEvent } from '../types/index.js'
import { databaseLock, hostOptions, newHost } from './helpers/host.js'

t.test('onLockEvent hears lock, relock, unlock and a folded refusal', async (t) => {
  const events: LockEvent[] = []
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, { onLockEvent: (event) => { events.push(event) } }))
  app.delete('/db/:name', async () => ({ deleted: true }))
  await app.ready()
  await app.databaseLock.lock('prod', { reason: 'keep', by: 'ops' })
  await app.databaseLock.lock('prod', { reason: 'keep longer', by: 'ops' })
  for (let i = 0; i < 3; i++) await app.inject({ method: 'DELETE', url: '/db/prod', headers: { 'x-user': 'bob' } })
  await app.databaseLock.unlock('prod', { by: 'ops' })
  await app.databaseLock.unlock('other', { by: 'ops' })
  await app.databaseLock.lock('stage', { mode: 'write', ttl: 60, by: 'ops' })
  await app.close()
  const types = events.map((event) => `${event.type}:${event.database}`)
  t.same(types.filter((type) => type !== 'blocked:prod'), ['locked:prod', 'relocked:prod', 'unlocked:prod', 'locked:stage'], 'the changes, in order (unlocking what was not locked is none)')
  const blocked = events.find((event) => event.type === 'blocked')
  t.match(blocked, { database: 'prod', mode: 'delete', principal: 'bob', count: 3, owner: 'alice' }, 'refusals folded into one event with their count (sent when the app closes at the latest)')
  t.match(events[0], { type: 'locked', principal: 'ops', reason: 'keep', owner: 'alice' })
})

t.test('an onLockEvent that throws or rejects never changes an answer', async (t) => {
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, { onLockEvent: (event) => { if (event.type === 'locked') throw new Error('webhook down') } }))
  await app.ready()
  t.match(await app.databaseLock.lock('prod'), { locked: true }, 'a throwing listener')
  const rejecting = newHost(t)
  await rejecting.register(databaseLock, hostOptions(t, { onLockEvent: async () => { throw new Error('webhook down') } }))
  await rejecting.ready()
  t.match(await rejecting.databaseLock.lock('prod'), { locked: true }, 'a rejecting listener')
})

t.test('onLockEvent must be a function', async (t) => {
  const app = newHost(t)
  await t.rejects(async () => { await app.register(databaseLock, hostOptions(t, { onLockEvent: 'https://hooks.example' as never })).ready() }, { code: 'INVALID_LOCK_OPTION', message: /"onLockEvent" must be a function/ })
})
