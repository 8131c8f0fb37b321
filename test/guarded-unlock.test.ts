// v2 guarded unlock: a lock whose unlock waits for a delay, for approvals, or never comes.
import { EventEmitter } from 'node:events'
import t from 'tap'
import { run } from '../lib/cli/run.js'
import { createDatabases, fakeClock, startDemo, tempDir } from './helpers/app.js'

const HOUR = 3_600_000

t.test('a delay: unlock answers 202 UNLOCK_SCHEDULED, the lock stays in force until unlockAt, then lifts', async (t) => {
  const clock = fakeClock()
  const demo = await startDemo(t, { lockOptions: { now: clock.now } })
  await createDatabases(demo, ['prod'])
  const locked = await demo.as('alice', 'POST', '/v1/database/prod/lock', { unlock: { delay: 3600 } })
  t.match(locked.json().locks, [{ unlock: { delay: 3600 }, unlockAt: null, approvals: [] }])

  const asked = await demo.as('alice', 'POST', '/v1/database/prod/unlock')
  t.equal(asked.statusCode, 202)
  t.match(asked.json(), { code: 'UNLOCK_SCHEDULED', message: /lifts at 2026-11-23T11:00:00.000Z; until then it is fully in force/, locked: true })
  t.equal(asked.json().locks[0].unlockAt, '2026-11-23T11:00:00.000Z')
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 403, 'the script that unlocks then deletes is refused')
  const again = await demo.as('alice', 'POST', '/v1/database/prod/unlock')
  t.equal(again.json().locks[0].unlockAt, '2026-11-23T11:00:00.000Z', 'asking again does not move the time')

  clock.advance(HOUR - 1)
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 403, 'in force until the last millisecond')
  clock.advance(1)
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 200, 'lifted at unlockAt, with no request to the store')
  const events = await demo.admin('GET', '/v1/database/prod/lock/events')
  t.match(events.json().events.find((event: { type: string }) => event.type === 'unlock-requested'), { principal: 'alice', holder: 'alice' }, 'the request is in the trail, with who')
})

t.test('locking again cancels a scheduled unlock', async (t) => {
  const clock = fakeClock()
  const demo = await startDemo(t, { lockOptions: { now: clock.now } })
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { unlock: { delay: 60 } })
  await demo.as('alice', 'POST', '/v1/database/prod/unlock')
  const relocked = await demo.as('alice', 'POST', '/v1/database/prod/lock')
  t.match(relocked.json().locks, [{ unlockAt: null, unlock: { delay: 60 } }], 'the policy stays, the request is gone')
  clock.advance(120_000)
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 403, 'still locked after the old unlockAt')
  const cancelled = await demo.as('alice', 'GET', '/v1/database/prod/lock/events?type=unlock-cancelled')
  t.equal(cancelled.json().events.length, 1)
})

t.test('approvals: distinct principals; the same one twice counts once; owner and admin key complete two', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { unlock: { approvals: 2 } })
  const first = await demo.as('alice', 'POST', '/v1/database/prod/unlock')
  t.equal(first.statusCode, 202)
  t.match(first.json(), { code: 'UNLOCK_APPROVAL_RECORDED', message: /Approval 1 of 2/, locks: [{ approvals: ['alice'] }] })
  const twice = await demo.as('alice', 'POST', '/v1/database/prod/unlock')
  t.equal(twice.statusCode, 202)
  t.match(twice.json(), { locks: [{ approvals: ['alice'] }] }, 'alice asking twice is still one approval')
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 403)
  t.equal((await demo.as('bob', 'POST', '/v1/database/prod/unlock')).statusCode, 403, 'bob may not unlock, so he cannot approve')
  const admin = await demo.admin('POST', '/v1/database/prod/unlock', { holder: 'alice' })
  t.equal(admin.statusCode, 200, 'the admin key is the second principal')
  t.same(admin.json(), { database: 'prod', locked: false, locks: [] })
  const trail = await demo.as('alice', 'GET', '/v1/database/prod/lock/events?type=unlock-approved')
  t.same(trail.json().events.map((event: { principal: string }) => event.principal), ['alice'], 'one approval event per new approver')
  const unlocked = await demo.as('alice', 'GET', '/v1/database/prod/lock/events?type=unlocked')
  t.match(unlocked.json().events, [{ principal: 'admin-key', holder: 'alice' }])
})

t.test('the answers name what is missing, when the lock lifts and until when it is in force', async (t) => {
  const clock = fakeClock()
  const demo = await startDemo(t, { lockOptions: { now: clock.now } })
  await createDatabases(demo, ['prod', 'ledger', 'vault'])
  // Approvals so far, in the order given.
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { unlock: { approvals: 3 } })
  await demo.as('alice', 'POST', '/v1/database/prod/unlock')
  const second = await demo.admin('POST', '/v1/database/prod/unlock', { holder: 'alice' })
  t.match(second.json(), { code: 'UNLOCK_APPROVAL_RECORDED', message: /Approval 2 of 3 recorded .* \(so far: alice, admin\)$/ })

  // Several holders scheduled at once: the answer gives the first of their unlock times.
  await demo.as('alice', 'POST', '/v1/database/ledger/lock', { unlock: { delay: 3600 } })
  await demo.admin('POST', '/v1/database/ledger/lock', { holder: 'audit', unlock: { delay: 600 } })
  const scheduled = await demo.admin('POST', '/v1/database/ledger/unlock', { holder: '*' })
  t.equal(scheduled.statusCode, 202)
  t.match(scheduled.json(), { code: 'UNLOCK_SCHEDULED', message: /lifts at 2026-11-23T10:10:00.000Z;/ })

  // never: the expiry named is that of the lock asked for, not of another holder's.
  await demo.as('alice', 'POST', '/v1/database/vault/lock', { unlock: 'never', ttl: 3600 })
  await demo.admin('POST', '/v1/database/vault/lock', { holder: 'legal', unlock: 'never', ttl: 7200 })
  const forbidden = await demo.admin('POST', '/v1/database/vault/unlock', { holder: 'legal' })
  t.equal(forbidden.statusCode, 403)
  t.match(forbidden.json().message, /at its expiry \(2026-11-23T12:00:00.000Z\)/)
  await demo.admin('POST', '/v1/database/vault/lock', { holder: 'legal', mode: 'write', unlock: 'never', ttl: 10_800 })
  const write = await demo.admin('POST', '/v1/database/vault/unlock', { holder: 'legal', mode: 'write' })
  t.match(write.json().message, /at its expiry \(2026-11-23T13:00:00.000Z\)/, 'and of the mode asked for')
})

t.test('approvals then a delay', async (t) => {
  const clock = fakeClock()
  const demo = await startDemo(t, { lockOptions: { now: clock.now } })
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { unlock: { approvals: 2, delay: 600 } })
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/unlock')).json().code, 'UNLOCK_APPROVAL_RECORDED')
  const second = await demo.admin('POST', '/v1/database/prod/unlock', { holder: 'alice' })
  t.match(second.json(), { code: 'UNLOCK_SCHEDULED', locks: [{ unlockAt: '2026-11-23T10:10:00.000Z', approvals: ['alice', 'admin'] }] })
  clock.advance(600_000)
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 200)
})

t.test('never: 403 UNLOCK_FORBIDDEN for the owner and the admin key, holder * included; it lifts at its expiry', async (t) => {
  const clock = fakeClock()
  const demo = await startDemo(t, { lockOptions: { now: clock.now } })
  await createDatabases(demo, ['prod'])
  const noTtl = await demo.as('alice', 'POST', '/v1/database/prod/lock', { unlock: 'never' })
  t.equal(noTtl.statusCode, 400)
  t.match(noTtl.json().message, /needs a ttl/)
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/lock', { unlock: 'never', ttl: 3600, reason: 'retention' })).statusCode, 200)
  for (const [who, send] of [['owner', () => demo.as('alice', 'POST', '/v1/database/prod/unlock')], ['admin key', () => demo.admin('POST', '/v1/database/prod/unlock', { holder: '*' })]] as const) {
    const res = await send()
    t.equal(res.statusCode, 403, who)
    t.match(res.json(), { code: 'UNLOCK_FORBIDDEN', message: /can never be unlocked, by anyone: it lifts by itself at its expiry \(2026-11-23T11:00:00.000Z\)/ })
  }
  t.equal((await demo.app.databaseLock.unlock('prod', { holder: '*' }).catch((err: { code: string }) => err.code)), 'UNLOCK_FORBIDDEN', 'the decorator too')
  clock.advance(HOUR)
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 200, 'gone at expiry')
})

t.test('a policy and an expiry can only be strengthened: 409 UNLOCK_POLICY_CONFLICT, and nothing changes', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod', 'vault'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { unlock: { delay: 3600, approvals: 3 }, ttl: 86_400 })
  await demo.as('alice', 'POST', '/v1/database/vault/lock', { unlock: 'never', ttl: 86_400 })
  const before = [(await demo.as('alice', 'GET', '/v1/database/prod/lock')).json(), (await demo.as('alice', 'GET', '/v1/database/vault/lock')).json()]
  const weaker = /the unlock policy would be weaker than its current one \(a shorter delay, fewer approvals, or no "never"\)/
  const earlier = /the ttl would end it earlier than its current expiry/
  const attempts: Array<[string, unknown, RegExp]> = [
    ['prod', { unlock: { delay: 60, approvals: 3 } }, weaker],
    ['prod', { unlock: { delay: 3600, approvals: 2 } }, weaker],
    ['prod', { unlock: { approvals: 5 } }, weaker],
    ['prod', { ttl: 60 }, earlier],
    ['vault', { unlock: { delay: 2_592_000, approvals: 5 } }, weaker],
    ['vault', { ttl: 3600 }, earlier]
  ]
  for (const [name, body, why] of attempts) {
    const res = await demo.as('alice', 'POST', `/v1/database/${name}/lock`, body)
    t.equal(res.statusCode, 409, `${name} ${JSON.stringify(body)}`)
    t.equal(res.json().code, 'UNLOCK_POLICY_CONFLICT')
    t.match(res.json().message, why, 'says which part would be weaker')
  }
  const after = [(await demo.as('alice', 'GET', '/v1/database/prod/lock')).json(), (await demo.as('alice', 'GET', '/v1/database/vault/lock')).json()]
  t.same(after, before, 'nothing changed')
  const stronger = await demo.as('alice', 'POST', '/v1/database/prod/lock', { unlock: 'never', ttl: 172_800 })
  t.equal(stronger.statusCode, 200, 'stronger is fine')
  t.match(stronger.json().locks, [{ unlock: 'never' }])
})

t.test('bad policies are 400 and write nothing; defaultUnlock applies to new delete locks', async (t) => {
  const demo = await startDemo(t, { lockOptions: { defaultUnlock: { delay: 60 } } })
  await createDatabases(demo, ['prod'])
  for (const unlock of [{}, { delay: 0 }, { delay: 2_592_001 }, { approvals: 1 }, { approvals: 6 }, { approvals: 2.5 }, 'later', { delay: 60, force: true }]) {
    const res = await demo.as('alice', 'POST', '/v1/database/prod/lock', { unlock })
    t.equal(res.statusCode, 400, JSON.stringify(unlock))
  }
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod/lock')).json().locked, false, 'nothing was written')
  const plain = await demo.as('alice', 'POST', '/v1/database/prod/lock')
  t.match(plain.json().locks, [{ mode: 'delete', unlock: { delay: 60 } }], 'a delete lock taken without a policy gets the default')
  const write = await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode: 'write', ttl: 60 })
  t.match(write.json().locks, [{ mode: 'delete' }, { mode: 'write', unlock: null }], 'write locks do not')
  t.equal((await demo.as('alice', 'POST', '/v1/database/prod/unlock', { mode: 'write' })).statusCode, 200)
})

t.test('dblock unlock exits 4 while the lock stays in force, and says when it lifts; status shows the pending unlock', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  const url = await demo.app.listen({ host: '127.0.0.1', port: 0 })
  const dblock = async (...args: string[]) => {
    let stdout = ''
    let stderr = ''
    const code = await run([...args, '--server', url, '--no-config'], {
      stdout: (text) => { stdout += text },
      stderr: (text) => { stderr += text },
      env: { DBLOCK_TOKEN: 'alice-token' },
      cwd: tempDir(t),
      signals: new EventEmitter()
    })
    return { code, stdout, stderr }
  }
  t.equal((await dblock('lock', 'prod', '--unlock', 'approvals=2,delay=600')).code, 0)
  const first = await dblock('unlock', 'prod')
  t.equal(first.code, 4)
  t.match(first.stderr, /Approval 1 of 2 recorded/)
  t.match(first.stdout, /unlock approved by alice \(1 of 2\)/)
  t.equal((await dblock('lock', 'prod', '--unlock', 'later')).code, 2, 'a bad --unlock is a usage error')
  await demo.admin('POST', '/v1/database/prod/unlock', { holder: 'alice' })
  const status = await dblock('status', 'prod')
  t.match(status.stdout, /unlock scheduled for \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/)
})
