// The audit trail: who locked, unlocked, and who tried to delete a locked database.
import { Writable } from 'node:stream'
import Database from 'better-sqlite3'
import t from 'tap'
import { ADMIN_KEY, createDatabases, fakeClock, startDemo, type DemoHandle } from './helpers/app.js'
import { databaseLock, hostOptions, newHost } from './helpers/host.js'
import { lockFile } from './helpers/store.js'
import { until } from './helpers/wait.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function logSink () {
  const lines: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(chunk.toString()); done() } })
  return { lines, logger: { level: 'info', stream } }
}

interface EventBody { id: number, type: string, database: string, mode: string | null, principal: string | null, reason: string | null, requestId: string | null, client: string | null, route: string | null, at: string, count: number }

async function eventsOf (demo: DemoHandle, database: string, query = ''): Promise<EventBody[]> {
  const res = await demo.admin('GET', `/v1/database/${database}/lock/events${query}`)
  if (res.statusCode !== 200) throw new Error(res.body)
  return res.json().events
}

/** Waits until `check` holds (refusals are written after their one-second window). */
async function eventually<T> (read: () => Promise<T>, check: (value: T) => boolean, timeout = 5000): Promise<T> {
  const deadline = Date.now() + timeout
  let value = await read()
  while (!check(value) && Date.now() < deadline) {
    await sleep(50)
    value = await read()
  }
  return value
}

t.test('every event type is recorded with the right fields by real requests', async (t) => {
  const clock = fakeClock()
  const deletesStarted: string[] = []
  const demo = await startDemo(t, { deleteDelay: 300, onDeleteStarted: (name) => { deletesStarted.push(name) }, lockOptions: { now: clock.now, drainTimeout: 50, purgeInterval: 20 } })
  await createDatabases(demo, ['prod', 'stage'])
  const step = () => clock.advance(1000)

  await demo.as('alice', 'POST', '/v1/database/prod/lock', { reason: 'prod' }); step()
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { reason: 'still prod' }); step()
  t.equal((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode, 403); step()
  await demo.as('alice', 'POST', '/v1/database/prod/unlock'); step()
  await demo.admin('POST', '/v1/database/prod/lock', { mode: 'write', reason: 'restore', ttl: 5 })
  clock.advance(5000)

  const prod = await eventually(() => eventsOf(demo, 'prod'), (events) => events.length === 6)
  t.same(prod.map((event) => event.type), ['expired', 'locked', 'unlocked', 'blocked', 'relocked', 'locked'], 'newest first')
  const [expired, lockedWrite, unlocked, blocked, relocked, locked] = prod
  t.match(locked, { database: 'prod', mode: 'delete', principal: 'alice', reason: 'prod', client: '127.0.0.1', route: 'POST /v1/database/:name/lock', count: 1, at: '2026-11-23T10:00:00.000Z' })
  t.type(locked.requestId, 'string')
  t.match(relocked, { mode: 'delete', principal: 'alice', reason: 'still prod' })
  t.match(blocked, { mode: 'delete', principal: 'alice', route: 'DELETE /v1/database/:name', count: 1 })
  t.match(unlocked, { mode: 'delete', principal: 'alice', route: 'POST /v1/database/:name/unlock' })
  t.match(lockedWrite, { mode: 'write', principal: 'admin-key', reason: 'restore' })
  t.match(expired, { mode: 'write', principal: null, reason: 'restore', requestId: null, at: '2026-11-23T10:00:09.000Z' }, 'dated when the lock lifted')

  // conflict: a delete in flight outlives drainTimeout (50 ms)
  const deleting = demo.as('alice', 'DELETE', '/v1/database/stage')
  await until(() => deletesStarted.includes('stage'), 'the DELETE to be in flight')
  t.equal((await demo.admin('POST', '/v1/database/stage/lock', { reason: 'too late' })).statusCode, 409)
  await deleting
  const stage = await eventsOf(demo, 'stage')
  // The withdrawn lock was in force while it waited: locked, then unlocked, then the conflict.
  t.same(stage.map((event) => event.type), ['conflict', 'unlocked', 'locked'], 'the admin key reads the trail of a deleted database')
  t.match(stage[0], { type: 'conflict', mode: 'delete', principal: 'admin-key', reason: 'too late', route: 'POST /v1/database/:name/lock' })
  t.equal(new Set(stage.map((event) => event.requestId)).size, 1, 'all three from the one lock request')
  t.equal((await demo.as('alice', 'GET', '/v1/database/stage/lock/events')).statusCode, 404, 'its owner no longer can')
})

t.test('pagination and the type filter', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  for (let i = 0; i < 30; i++) {
    await demo.as('alice', 'POST', '/v1/database/prod/lock')
    await demo.as('alice', 'POST', '/v1/database/prod/unlock')
  }
  const seen = new Set<number>()
  let cursor: string | null = null
  let previous = Infinity
  do {
    const page: { events: EventBody[], nextCursor: string | null } = (await demo.admin('GET', `/v1/database/prod/lock/events?limit=25${cursor === null ? '' : `&cursor=${cursor}`}`)).json()
    for (const event of page.events) {
      t.notOk(seen.has(event.id), 'each event once')
      seen.add(event.id)
      t.ok(event.id < previous, 'newest first')
      previous = event.id
    }
    cursor = page.nextCursor
  } while (cursor !== null)
  t.equal(seen.size, 60)
  const unlocked = await eventsOf(demo, 'prod', '?type=unlocked&limit=500')
  t.equal(unlocked.length, 30)
  t.ok(unlocked.every((event) => event.type === 'unlocked'))
  t.equal((await eventsOf(demo, 'prod')).length, 50, 'limit defaults to 50')
  t.equal((await demo.admin('GET', '/v1/database/prod/lock/events?limit=501')).statusCode, 400)
  t.equal((await demo.admin('GET', '/v1/database/prod/lock/events?type=deleted')).statusCode, 400)
  t.equal((await demo.admin('GET', '/v1/database/prod/lock/events?cursor=zz')).statusCode, 400)
})

t.test('event pages: an exactly full last page ends; cursors not made by the server are refused', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock')
  await demo.as('alice', 'POST', '/v1/database/prod/unlock')
  const page = (query: string) => demo.admin('GET', `/v1/database/prod/lock/events${query}`)
  t.equal((await page('?limit=2')).json().nextCursor, null, 'two events, two per page: no further page')
  const first = (await page('?limit=1')).json()
  t.same((await page(`?limit=1&cursor=${first.nextCursor}`)).json().events.map((event: EventBody) => event.type), ['locked'], 'the cursor leads to the older event')
  const crafted = (text: string) => Buffer.from(text).toString('base64url')
  t.same((await page(`?cursor=${crafted('0:1')}`)).json(), { events: [], nextCursor: null }, 'before the first event (id 1): nothing, and no error')
  for (const [label, text] of [['no time', 'x:5'], ['no id', '4102444800000:x'], ['id 0', '4102444800000:0'], ['a negative id', '4102444800000:-3']]) {
    const res = await page(`?cursor=${crafted(text)}`)
    t.equal(res.statusCode, 400, label)
    t.match(res.json(), { code: 'INVALID_LOCK_REQUEST', message: 'The cursor is not valid: pass the nextCursor of the previous page unchanged, or leave it out to start over' }, label)
  }
})

t.test('owner or admin only', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod/lock/events')).statusCode, 200)
  t.equal((await demo.admin('GET', '/v1/database/prod/lock/events')).statusCode, 200)
  t.equal((await demo.as('bob', 'GET', '/v1/database/prod/lock/events')).statusCode, 403)
  t.equal((await demo.as(null, 'GET', '/v1/database/prod/lock/events')).statusCode, 401)
  t.equal((await demo.as('alice', 'GET', '/v1/database/nope/lock/events')).statusCode, 404)
})

t.test('through a host strategy: an unknown database is 404 unless the admin key asks; events show only their documented fields', async (t) => {
  const app = newHost(t)
  // The host's own strategy admits every caller (as an SSO gateway might).
  await app.register(databaseLock, hostOptions(t, { authStrategies: [async () => {}] }))
  await app.ready()
  const unknown = await app.inject({ method: 'GET', url: '/v1/database/nope/lock/events', headers: { 'x-user': 'alice' } })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'DATABASE_NOT_FOUND')
  await app.databaseLock.lock('prod', { by: 'ops' })
  const page = (await app.inject({ method: 'GET', url: '/v1/database/prod/lock/events', headers: { 'x-user': 'alice' } })).json()
  t.same(Object.keys(page.events[0]).sort(), ['at', 'client', 'count', 'database', 'holder', 'id', 'mode', 'principal', 'reason', 'requestId', 'route', 'type'], 'not who owned it then: that stays in the store')
})

t.test('through a host strategy, a caller without a principal reads no event: "" owns nothing', async (t) => {
  const owners = new Map([['acme', 'alice']])
  const app = newHost(t)
  await app.register(databaseLock, hostOptions(t, {
    authStrategies: [async () => {}],
    resolveDatabase: (name) => owners.has(name) ? { id: name, owner: owners.get(name) ?? 'nobody' } : null
  }))
  app.post('/db/:name', async () => ({ created: true }))
  await app.ready()
  await app.databaseLock.lock('acme', { mode: 'write', children: true, ttl: 600, by: 'ops', reason: 'restore INC-4711' })
  // Creating acme/new is refused; nobody owns that name yet, so the event is recorded for nobody.
  t.equal((await app.inject({ method: 'POST', url: '/db/acme%2Fnew', headers: { 'x-user': 'bob' } })).statusCode, 503)
  owners.set('acme/new', 'carol')
  await until(async () => (await app.databaseLock.events('acme/new')).events.length > 0, 'the refusal in the trail')

  const anonymous = await app.inject({ method: 'GET', url: '/v1/database/acme%2Fnew/lock/events' })
  t.equal(anonymous.statusCode, 200, 'the host strategy admits the caller')
  t.same(anonymous.json().events, [], 'and it reads nothing')
  const owner = await app.inject({ method: 'GET', url: '/v1/database/acme%2Fnew/lock/events', headers: { 'x-user': 'carol' } })
  t.same(owner.json().events, [], 'the owner reads only what happened while the name was theirs')
})

t.test('a flood of 10,000 refused deletes stays a bounded number of rows with correct counts', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock')
  const started = Date.now()
  for (let i = 0; i < 10_000; i++) {
    if ((await demo.as('alice', 'DELETE', '/v1/database/prod')).statusCode !== 403) t.fail('not refused')
  }
  const seconds = Math.ceil((Date.now() - started) / 1000)
  await demo.app.close()
  const db = new Database(lockFile(demo.dataDir), { readonly: true })
  const rows = db.prepare("SELECT count(*) AS n, sum(count) AS total FROM lock_events WHERE type = 'blocked'").get() as { n: number, total: number }
  db.close()
  t.equal(rows.total, 10_000, 'every refusal is counted')
  t.ok(rows.n <= seconds + 1, `${rows.n} rows for ${seconds} s of refusals (at most one per second)`)
})

t.test('events older than the retention are pruned in the background', async (t) => {
  const DAY = 24 * 3600_000
  const clock = fakeClock()
  const demo = await startDemo(t, { lockOptions: { now: clock.now, purgeInterval: 20, auditRetentionDays: 90 } })
  await createDatabases(demo, ['prod', 'stage'])
  // stage's event is the marker: once it is gone, a purge has run since the clock moved.
  await demo.as('alice', 'POST', '/v1/database/stage/lock')
  clock.advance(DAY)
  await demo.as('alice', 'POST', '/v1/database/prod/lock')
  clock.advance(89 * DAY + 3600_000)
  await demo.as('alice', 'POST', '/v1/database/prod/unlock')
  t.same(await eventually(() => eventsOf(demo, 'stage'), (events) => events.length === 0), [], 'the 90-day-and-an-hour-old event is gone')
  t.equal((await eventsOf(demo, 'prod')).length, 2, 'the 89-day-old one and the new one are kept')
  clock.advance(2 * DAY)
  const left = await eventually(() => eventsOf(demo, 'prod'), (events) => events.length === 1)
  t.same(left.map((event) => event.type), ['unlocked'], 'the 91-day-old event is gone')
})

t.test('structured log lines, with no secrets', async (t) => {
  const sink = logSink()
  const demo = await startDemo(t, { logger: sink.logger })
  await createDatabases(demo, ['prod'])
  await demo.admin('POST', '/v1/database/prod/lock', { reason: 'nightly' })
  await demo.as('alice', 'DELETE', '/v1/database/prod')
  await demo.app.close()
  const lines = sink.lines.map((line) => JSON.parse(line) as Record<string, unknown>)
  t.match(lines.find((line) => line.event === 'locked'), { msg: 'database-lock: locked prod', event: 'locked', database: 'prod', mode: 'delete', principal: 'admin-key', reason: 'nightly' })
  t.match(lines.find((line) => line.event === 'blocked'), { event: 'blocked', database: 'prod', principal: 'alice', count: 1 })
  const all = sink.lines.join('')
  t.notMatch(all, new RegExp(ADMIN_KEY), 'the admin key is never logged')
  t.notMatch(all, /alice-token/, 'tokens are never logged')
})
