// v2 holders: several independent locks of one mode on one database, each lifted by its holder.
import Database from 'better-sqlite3'
import t from 'tap'
import { createDatabases, startDemo } from './helpers/app.js'
import { lockFile } from './helpers/store.js'

interface LockEntry { mode: string, holder: string, lockedBy: string, reason: string | null, children: boolean, inheritedFrom: string | null }

const holdersOf = (locks: LockEntry[]) => locks.map((lock) => `${lock.mode}:${lock.holder}`)

t.test('a backup, a legal hold and the owner each hold a delete lock; DELETE is refused until the last one lifts', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  t.equal((await demo.admin('POST', '/v1/database/prod/lock', { holder: 'backup', reason: 'nightly' })).statusCode, 200)
  t.equal((await demo.admin('POST', '/v1/database/prod/lock', { holder: 'legal-hold', reason: 'case 42' })).statusCode, 200)
  const mine = await demo.as('alice', 'POST', '/v1/database/prod/lock', { reason: 'production' })
  t.equal(mine.statusCode, 200)
  t.same(holdersOf(mine.json().locks), ['delete:alice', 'delete:backup', 'delete:legal-hold'], 'one entry per holder; the default holder is the caller')
  t.match(mine.json().locks, [
    { holder: 'alice', lockedBy: 'alice', reason: 'production', children: false, inheritedFrom: null },
    { holder: 'backup', lockedBy: 'admin-key', reason: 'nightly' },
    { holder: 'legal-hold', lockedBy: 'admin-key', reason: 'case 42' }
  ])

  const own = await demo.as('alice', 'POST', '/v1/database/prod/unlock')
  t.same(holdersOf(own.json().locks), ['delete:backup', 'delete:legal-hold'], 'unlock without a holder lifts the caller\'s own lock only')
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 403, 'still refused')

  const backup = await demo.as('alice', 'POST', '/v1/database/prod/unlock', { holder: 'backup' })
  t.same(holdersOf(backup.json().locks), ['delete:legal-hold'], 'the owner may lift a named holder\'s lock')
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 403, 'still refused while one holder remains')

  const last = await demo.admin('POST', '/v1/database/prod/unlock', { holder: 'legal-hold' })
  t.same(last.json(), { database: 'prod', locked: false, locks: [] })
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 200, 'deleted once every holder lifted its lock')
})

t.test('locking is idempotent per (mode, holder); unlocking one mode never lifts the other', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  const first = await demo.as('alice', 'POST', '/v1/database/prod/lock', { holder: 'ops', reason: 'first' })
  const again = await demo.as('alice', 'POST', '/v1/database/prod/lock', { holder: 'ops' })
  t.same(holdersOf(again.json().locks), ['delete:ops'])
  t.equal(again.json().locks[0].lockedAt, first.json().locks[0].lockedAt, 'the same lock')
  t.equal(again.json().locks[0].reason, 'first')
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { holder: 'ops', mode: 'write', ttl: 60 })
  const unlocked = await demo.as('alice', 'POST', '/v1/database/prod/unlock', { holder: 'ops', mode: 'write' })
  t.same(holdersOf(unlocked.json().locks), ['delete:ops'])
  const none = await demo.as('alice', 'POST', '/v1/database/prod/unlock', { holder: 'nobody' })
  t.equal(none.statusCode, 200, 'unlocking a holder that holds nothing is fine')
  t.same(holdersOf(none.json().locks), ['delete:ops'], 'and changes nothing')
})

t.test('holder "*" lifts every holder\'s lock of the mode, each audited on its own', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  for (const holder of ['a', 'b', 'c']) await demo.as('alice', 'POST', '/v1/database/prod/lock', { holder })
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { holder: 'a', mode: 'write', ttl: 60 })
  const all = await demo.as('alice', 'POST', '/v1/database/prod/unlock', { holder: '*' })
  t.equal(all.statusCode, 200)
  t.same(holdersOf(all.json().locks), ['write:a'], 'every delete lock went; the write lock stays')
  const events = await demo.as('alice', 'GET', '/v1/database/prod/lock/events?type=unlocked')
  t.same(events.json().events.map((event: { holder: string }) => event.holder).sort(), ['a', 'b', 'c'], 'one unlocked event per holder')
  const locked = await demo.as('alice', 'GET', '/v1/database/prod/lock/events?type=locked')
  t.same(locked.json().events.map((event: { holder: string }) => event.holder).sort(), ['a', 'a', 'b', 'c'], 'lock events name their holder')
})

t.test('the admin key holds as `admin` by default; the list shows one row per holder', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod', 'stage'])
  await demo.admin('POST', '/v1/database/prod/lock', { mode: 'write', reason: 'restore' })
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode: 'write', ttl: 60 })
  await demo.as('alice', 'POST', '/v1/database/stage/lock')
  const list = await demo.admin('GET', '/v1/locks?limit=2')
  t.same(list.json().locks.map((lock: LockEntry & { database: string }) => `${lock.database}:${lock.mode}:${lock.holder}`), ['prod:write:admin', 'prod:write:alice'])
  const next = await demo.admin('GET', `/v1/locks?limit=2&cursor=${String(list.json().nextCursor)}`)
  t.same(next.json().locks.map((lock: LockEntry & { database: string }) => `${lock.database}:${lock.mode}:${lock.holder}`), ['stage:delete:alice'], 'pages by holder')
  const unlocked = await demo.admin('POST', '/v1/database/prod/unlock', { mode: 'write' })
  t.same(holdersOf(unlocked.json().locks), ['write:alice'], 'the admin key lifts its own lock by default, not alice\'s')
  const write = await demo.as('alice', 'POST', '/v1/database/prod/rows', { n: 1 })
  t.equal(write.statusCode, 503, 'writes stay refused while any write lock holder remains')
})

t.test('a refusal names every holder to the owner and the admin key, and nothing to others', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  await demo.admin('POST', '/v1/database/prod/lock', { holder: 'backup', reason: 'nightly' })
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { reason: 'production' })
  const owner = await demo.as('alice', 'DELETE', '/v1/database/prod')
  t.equal(owner.statusCode, 403)
  t.same(owner.json().locks.map((lock: LockEntry) => [lock.holder, lock.reason]), [['alice', 'production'], ['backup', 'nightly']])
  const admin = await demo.admin('POST', '/v1/database/prod/reset')
  t.equal(admin.json().locks.length, 2)
  const stranger = await demo.as('bob', 'DELETE', '/v1/database/prod')
  t.equal(stranger.statusCode, 403)
  t.same(Object.keys(stranger.json()).sort(), ['code', 'database', 'error', 'message', 'operation', 'statusCode'], 'no holders, reasons or lockedBy')
})

t.test('a refusal\'s reason, lockedBy and Retry-After are of the holder whose lock ends last, wherever it sorts', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod', 'stage'])
  // Locks are listed by holder: on prod the lock ending last sorts first, on stage last.
  await demo.admin('POST', '/v1/database/prod/lock', { mode: 'write', holder: 'a-restore', reason: 'restore', ttl: 3600 })
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { mode: 'write', holder: 'b-fix', reason: 'quick fix', ttl: 60 })
  await demo.as('alice', 'POST', '/v1/database/stage/lock', { mode: 'write', holder: 'a-fix', reason: 'quick fix', ttl: 60 })
  await demo.admin('POST', '/v1/database/stage/lock', { mode: 'write', holder: 'b-restore', reason: 'restore', ttl: 3600 })
  for (const name of ['prod', 'stage']) {
    const write = await demo.as('alice', 'POST', `/v1/database/${name}/rows`, { n: 1 })
    t.equal(write.statusCode, 503, `${name}: refused`)
    t.match(write.json(), { reason: 'restore', lockedBy: 'admin-key', message: /restore/ }, `${name}: the lock that ends last`)
    t.ok(write.json().retryAfter > 60, `${name}: Retry-After waits for it (${String(write.json().retryAfter)} s)`)
    t.equal(write.json().locks.length, 2, `${name}: both holders listed`)
  }
})

t.test('an invalid holder is a 400 that says what a holder may be, and nothing is written', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  const cases: Array<[string, unknown]> = [
    ['lock', { holder: '' }],
    ['lock', { holder: '-backup' }],
    ['lock', { holder: 'has space' }],
    ['lock', { holder: 'x'.repeat(65) }],
    ['lock', { holder: '*' }],
    ['lock', { holder: 42 }],
    ['lock', { children: 'yes' }],
    ['unlock', { holder: '**' }],
    ['unlock', { holder: 'a/b' }],
    ['unlock', { holder: null }]
  ]
  for (const [action, body] of cases) {
    const res = await demo.as('alice', 'POST', `/v1/database/prod/${action}`, body)
    t.equal(res.statusCode, 400, `${action} ${JSON.stringify(body)}`)
    t.match(res.json().message, /holder|children/, 'the message names the field')
    t.notMatch(res.body, /at .*\.js|SELECT|INSERT/, 'no stack, no SQL')
  }
  const db = new Database(lockFile(demo.dataDir), { readonly: true })
  t.teardown(() => db.close())
  t.equal(db.prepare('SELECT count(*) FROM locks').pluck().get(), 0, 'no lock was written')
  t.equal(db.prepare('SELECT count(*) FROM lock_events').pluck().get(), 0, 'no event was written')
  const longest = await demo.as('alice', 'POST', '/v1/database/prod/lock', { holder: `a${'b'.repeat(63)}` })
  t.equal(longest.statusCode, 200, '64 characters is fine')
  const rich = await demo.as('alice', 'POST', '/v1/database/prod/lock', { holder: 'exec:host-1.local:4242:9f3a@eu' })
  t.equal(rich.statusCode, 200, 'letters, digits and ._:@- are fine')
})

t.test('the decorator takes holders too; a program cannot lift a lock it does not name', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  const lock = demo.app.databaseLock
  await lock.lock('prod', { holder: 'migrations', by: 'deployer' })
  await lock.lock('prod', { by: 'cron' })
  t.same(holdersOf((await lock.status('prod')).locks), ['delete:cron', 'delete:migrations'], 'the default holder is `by`')
  await lock.unlock('prod', { by: 'cron' })
  t.same(holdersOf((await lock.status('prod')).locks), ['delete:migrations'])
  await t.rejects(lock.unlock('prod', { holder: 'bad holder' }), { statusCode: 400, code: 'INVALID_LOCK_REQUEST' })
  await lock.unlock('prod', { holder: '*' })
  t.equal((await lock.status('prod')).locked, false)
})
