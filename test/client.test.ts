// The typed HTTP client against the demo service listening on 127.0.0.1, and against
// small HTTP servers for the answers a healthy service never gives.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { ClientErrorCodes, createLockClient, LockClientError, LockEventTypes, type LockClient, type WithLockPhase } from '../lib/client.js'
import type { LockEventPage, LockStatus } from '../types/index.js'
import { ADMIN_KEY, createDatabases, startDemo, type TapLike } from './helpers/app.js'
import { until } from './helpers/wait.js'

async function listeningDemo (t: TapLike, names: string[]) {
  const demo = await startDemo(t)
  await createDatabases(demo, names)
  const url = await demo.app.listen({ host: '127.0.0.1', port: 0 })
  return { demo, url }
}

/** A plain HTTP server on 127.0.0.1 answering with `handler`; closed after the test. */
async function httpServer (t: TapLike, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string, server: Server }> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

/** A port nothing listens on: bound, then closed. */
async function deadUrl (): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}`
}

function json (res: ServerResponse, statusCode: number, body: unknown): void {
  res.writeHead(statusCode, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

async function caught (promise: Promise<unknown>): Promise<LockClientError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof LockClientError) return err
    throw err
  }
  throw new Error('expected a LockClientError, nothing was thrown')
}

t.test('lock, status, unlock and list return the server bodies', async (t) => {
  const { url } = await listeningDemo(t, ['prod', 'team/stage'])
  const alice = createLockClient({ server: `${url}/`, token: 'alice-token' })

  const locked = await alice.lock('prod', { reason: 'prod db' })
  t.match(locked, { database: 'prod', locked: true, locks: [{ mode: 'delete', reason: 'prod db', lockedBy: 'alice', expiresAt: null }] })
  const both = await alice.lock('prod', { mode: 'write', ttl: 600 })
  t.same(both.locks.map((lock) => lock.mode).sort(), ['delete', 'write'])
  t.same(await alice.status('prod'), both, 'status is the same body')

  t.match(await alice.lock('team/stage'), { database: 'team/stage', locked: true }, 'a "/" in a name travels encoded')

  const admin = createLockClient({ server: url, adminKey: ADMIN_KEY })
  const first = await admin.list({ limit: 2 })
  t.equal(first.locks.length, 2)
  t.type(first.nextCursor, 'string')
  const second = await admin.list({ limit: 2, cursor: first.nextCursor as string })
  t.same([...first.locks, ...second.locks].map((lock) => `${lock.database}:${lock.mode}`).sort(),
    ['prod:delete', 'prod:write', 'team/stage:delete'])
  t.equal(second.nextCursor, null)
  t.equal((await admin.list()).locks.length, 3, 'no options: the first page')

  const afterWrite = await alice.unlock('prod', { mode: 'write' })
  t.same(afterWrite.locks.map((lock) => lock.mode), ['delete'], 'unlocking one mode keeps the other')
  t.same(await alice.unlock('prod'), { database: 'prod', locked: false, locks: [] })
})

/** Reads events until `check` holds: refusals are written after a one-second window. */
async function eventsUntil (client: LockClient, database: string, check: (page: LockEventPage) => boolean, ms = 3000): Promise<LockEventPage> {
  const deadline = Date.now() + ms
  for (;;) {
    const page = await client.events(database)
    if (check(page) || Date.now() > deadline) return page
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

t.test('events reads the audit trail: filter, pages, owner or admin only', async (t) => {
  const { demo, url } = await listeningDemo(t, ['prod', 'team/stage'])
  const alice = createLockClient({ server: url, token: 'alice-token' })
  t.same(await alice.events('prod'), { events: [], nextCursor: null }, 'nothing yet')

  await alice.lock('prod', { reason: 'production data' })
  t.equal((await demo.as('bob', 'DELETE', '/v1/database/prod')).statusCode, 403, 'the delete is refused')
  const page = await eventsUntil(alice, 'prod', (body) => body.events.some((event) => event.type === 'blocked'))
  t.match(page, {
    events: [
      { type: 'blocked', database: 'prod', mode: 'delete', principal: 'bob', route: 'DELETE /v1/database/:name', count: 1, client: '127.0.0.1' },
      { type: 'locked', database: 'prod', mode: 'delete', principal: 'alice', reason: 'production data', route: 'POST /v1/database/:name/lock', count: 1 }
    ],
    nextCursor: null
  }, 'newest first')
  t.equal(page.events.length, 2)
  t.ok(!Number.isNaN(Date.parse(page.events[0].at)), '`at` is an ISO time')

  const locked = await alice.events('prod', { type: 'locked' })
  t.same(locked.events.map((event) => event.type), ['locked'], 'type filters')
  const first = await alice.events('prod', { limit: 1 })
  t.same(first.events.map((event) => event.type), ['blocked'])
  t.type(first.nextCursor, 'string')
  const second = await alice.events('prod', { limit: 1, cursor: first.nextCursor as string })
  t.same(second.events.map((event) => event.type), ['locked'], 'the cursor pages on')
  t.equal(second.nextCursor, null)

  await alice.lock('team/stage')
  t.match(await alice.events('team/stage'), { events: [{ type: 'locked', database: 'team/stage' }] }, 'a "/" in a name travels encoded')

  const admin = createLockClient({ server: url, adminKey: ADMIN_KEY })
  t.same(await admin.events('prod'), page, 'the admin key reads it too')
  const bob = createLockClient({ server: url, token: 'bob-token' })
  t.match(await caught(bob.events('prod')), { code: 'NOT_DATABASE_OWNER', statusCode: 403 })
  t.match(await caught(alice.events('nope')), { code: 'DATABASE_NOT_FOUND', statusCode: 404 })
  t.match(await caught(alice.events('prod', { limit: 501 })), { statusCode: 400 }, 'the server checks limit')
  t.match(await caught(alice.events('prod', { type: 'deleted' as 'locked' })), { statusCode: 400 }, 'and type')
  t.same(LockEventTypes, ['locked', 'relocked', 'unlocked', 'expired', 'blocked', 'conflict', 'unlock-requested', 'unlock-approved', 'unlock-cancelled'])
})

t.test('events sends type, limit and cursor in the query', async (t) => {
  const urls: string[] = []
  const { url } = await httpServer(t, (req, res) => {
    urls.push(req.url ?? '')
    json(res, 200, { events: [], nextCursor: null })
  })
  const client = createLockClient({ server: url, prefix: '/db' })
  await client.events('team/prod')
  await client.events('prod', { type: 'blocked', limit: 10, cursor: 'abc=' })
  t.same(urls, ['/db/team%2Fprod/lock/events', '/db/prod/lock/events?limit=10&type=blocked&cursor=abc%3D'])
})

t.test('errors carry the server code, message and HTTP status', async (t) => {
  const { url } = await listeningDemo(t, ['prod'])
  const bob = createLockClient({ server: url, token: 'bob-token' })
  const notOwner = await caught(bob.lock('prod'))
  t.match(notOwner, { name: 'LockClientError', code: 'NOT_DATABASE_OWNER', statusCode: 403, message: /owner of database "prod"/ })
  t.match(notOwner.body, { statusCode: 403, code: 'NOT_DATABASE_OWNER', error: 'Forbidden' })
  t.equal(notOwner.unreachable, false)

  t.match(await caught(bob.status('nope')), { code: 'DATABASE_NOT_FOUND', statusCode: 404 })
  t.match(await caught(createLockClient({ server: url }).status('prod')), { code: 'AUTHENTICATION_REQUIRED', statusCode: 401 })
  t.match(await caught(bob.list()), { code: 'ADMIN_REQUIRED', statusCode: 403 })
  t.match(await caught(createLockClient({ server: url, token: 'alice-token' }).lock('prod', { ttl: 0 })), { statusCode: 400, message: /ttl/ })
})

t.test('a server that cannot be reached is SERVER_UNREACHABLE', async (t) => {
  const client = createLockClient({ server: await deadUrl(), token: 'alice-token' })
  const err = await caught(client.status('prod'))
  t.match(err, { code: ClientErrorCodes.SERVER_UNREACHABLE, statusCode: null, body: null, message: /cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/ })
  t.equal(err.unreachable, true)
})

t.test('a server that does not answer in time is SERVER_TIMEOUT', async (t) => {
  const { url } = await httpServer(t, () => { /* never answers */ })
  const err = await caught(createLockClient({ server: url, timeout: 100 }).status('prod'))
  t.match(err, { code: ClientErrorCodes.SERVER_TIMEOUT, statusCode: null, message: /within 100 ms/ })
  t.equal(err.unreachable, true)
})

t.test('an answer that is not this API is UNEXPECTED_RESPONSE', async (t) => {
  const { url } = await httpServer(t, (req, res) => {
    res.writeHead(req.method === 'GET' ? 502 : 200, { 'content-type': 'text/html' })
    res.end('<html>Bad Gateway</html>')
  })
  const client = createLockClient({ server: url })
  t.match(await caught(client.status('prod')), { code: ClientErrorCodes.UNEXPECTED_RESPONSE, statusCode: 502, message: /HTTP 502.*Bad Gateway/ })
  t.match(await caught(client.lock('prod')), { code: ClientErrorCodes.UNEXPECTED_RESPONSE, statusCode: 200 })
})

t.test('an error without a code (a crash, an unknown route) gets HTTP_<status>', async (t) => {
  const paths: string[] = []
  const { url } = await httpServer(t, (req, res) => {
    paths.push(req.url ?? '')
    json(res, 500, { statusCode: 500, error: 'Internal Server Error', message: 'something broke' })
  })
  const err = await caught(createLockClient({ server: `${url}/api/`, prefix: '/locks/db/' }).status('team/prod'))
  t.match(err, { code: 'HTTP_500', statusCode: 500, message: 'something broke', body: { error: 'Internal Server Error' } })
  t.equal(err.unreachable, false)
  t.same(paths, ['/api/locks/db/team%2Fprod/lock'], 'a path in server is kept, and the prefix follows it')
})

t.test('a 200 to lock without the lock asked for is LOCK_NOT_HELD; withLock runs nothing', async (t) => {
  // What a server racing a withdrawn lock once answered: 200 with "locked": false.
  const { url } = await httpServer(t, (_req, res) => json(res, 200, { database: 'prod', locked: false, locks: [] }))
  const client = createLockClient({ server: url })
  await t.rejects(client.lock('prod'), { code: ClientErrorCodes.LOCK_NOT_HELD, statusCode: 200, message: /not locked/ })
  let ran = false
  await t.rejects(client.withLock('prod', { mode: 'write' }, () => { ran = true }), { code: ClientErrorCodes.LOCK_NOT_HELD })
  t.equal(ran, false, 'the work never ran without its lock')
  // A status that holds only the other mode is no lock of the mode asked for either.
  const { url: other } = await httpServer(t, (_req, res) => json(res, 200, {
    database: 'prod', locked: true, locks: [{ mode: 'delete', reason: null, lockedBy: 'alice', lockedAt: '2026-11-24T00:00:00.000Z', expiresAt: null }]
  }))
  await t.rejects(createLockClient({ server: other }).lock('prod', { mode: 'write' }), { code: ClientErrorCodes.LOCK_NOT_HELD })
})

t.test('a bad server option is refused at once', async (t) => {
  t.throws(() => createLockClient({ server: 'localhost:3000' }), { code: ClientErrorCodes.INVALID_OPTION, message: /http:\/\/ or https:\/\// })
  t.throws(() => createLockClient({ server: 'not a url' }), { code: ClientErrorCodes.INVALID_OPTION, message: /must be a URL/ })
})

t.test('withLock', async (t) => {
  const { demo, url } = await listeningDemo(t, ['prod'])
  const alice = createLockClient({ server: url, token: 'alice-token' })

  t.test('releases the lock after fn throws, and rethrows', async (t) => {
    const failure = new Error('restore failed')
    let held: LockStatus | null = null
    await t.rejects(alice.withLock('prod', { mode: 'write', reason: 'restore' }, async (status) => {
      held = status
      const write = await demo.as('alice', 'POST', '/v1/database/prod/rows', { n: 1 })
      t.equal(write.statusCode, 503, 'writes are refused while fn runs')
      throw failure
    }), failure)
    t.match(held, { locked: true, locks: [{ mode: 'write', reason: 'restore' }] })
    t.same(await alice.status('prod'), { database: 'prod', locked: false, locks: [] }, 'released')
  })

  t.test('returns what fn returns and releases', async (t) => {
    t.equal(await alice.withLock('prod', {}, (status) => status.locks[0].mode), 'delete', 'mode defaults to delete')
    t.equal((await alice.status('prod')).locked, false)
  })

  t.test('holds its lock under a holder of its own: a lock somebody else holds is never lifted', async (t) => {
    const before = await alice.lock('prod', { mode: 'write', reason: 'someone else', ttl: 600 })
    const holders = await alice.withLock('prod', { mode: 'write', ttl: 5 }, (status) => status.locks.map((lock) => lock.holder))
    t.equal(holders.length, 2, 'both locks in force while fn runs')
    t.ok(holders.includes('alice'), 'the other lock')
    t.match(holders.find((holder) => holder !== 'alice'), /^exec:[A-Za-z0-9._-]+:\d+:[0-9a-f]{8}$/, 'its own holder, unique to the run')
    t.same(await alice.status('prod'), before, 'afterwards only the other lock, untouched')
    const again = await alice.withLock('prod', { mode: 'write', ttl: 5 }, (status) => status.locks.map((lock) => lock.holder))
    t.not(again.find((holder) => holder !== 'alice'), holders.find((holder) => holder !== 'alice'), 'every run has another holder')
    await alice.unlock('prod', { mode: 'write' })
  })

  t.test('does not run fn when the lock is refused', async (t) => {
    let ran = false
    const bob = createLockClient({ server: url, token: 'bob-token' })
    t.match(await caught(bob.withLock('prod', {}, () => { ran = true })), { code: 'NOT_DATABASE_OWNER' })
    t.equal(ran, false)
  })

  t.test('keeps a 1-second ttl alive while fn runs longer', async (t) => {
    const errors: string[] = []
    const expiries = await alice.withLock('prod', { mode: 'write', ttl: 1, onError: (err) => errors.push(err.message) }, async (status) => {
      const seen = [status.locks[0].expiresAt as string]
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 500))
        const now = await alice.status('prod')
        t.equal(now.locked, true, `still locked after ${(i + 1) * 500} ms`)
        seen.push(now.locks[0].expiresAt as string)
      }
      return seen
    })
    t.ok(Date.parse(expiries[3]) - Date.parse(expiries[0]) >= 1000, `expiresAt moved on: ${expiries.join(', ')}`)
    t.same(errors, [])
    t.equal((await alice.status('prod')).locked, false, 'released at the end')
  })
})

t.test('withLock reports keep-alive and release problems it cannot throw', async (t) => {
  // A service that lets the first lock through, then loses it, then fails; unlock fails once with 503, then 403.
  const lockedAt = '2026-11-23T10:00:00.000Z'
  const status = (at: string): LockStatus => ({
    database: 'prod',
    locked: true,
    locks: [{ mode: 'write', holder: 'job-1', reason: null, lockedBy: 'alice', lockedAt: at, expiresAt: '2026-11-23T10:00:01.000Z', unlock: null, unlockAt: null, approvals: [], children: false, inheritedFrom: null }]
  })
  let locks = 0
  let unlocks = 0
  const { url } = await httpServer(t, (req, res) => {
    if (req.method === 'GET') return json(res, 200, { database: 'prod', locked: false, locks: [] })
    if (req.url?.endsWith('/lock') === true) {
      locks++
      if (locks === 1) return json(res, 200, status(lockedAt))
      if (locks === 2) return json(res, 200, status('2026-11-23T10:00:05.000Z'))
      return json(res, 503, { statusCode: 503, code: 'LOCK_STORE_UNAVAILABLE', error: 'Service Unavailable', message: 'store down' })
    }
    unlocks++
    if (unlocks === 1) return json(res, 503, { statusCode: 503, code: 'LOCK_STORE_UNAVAILABLE', error: 'Service Unavailable', message: 'store down' })
    return json(res, 403, { statusCode: 403, code: 'NOT_DATABASE_OWNER', error: 'Forbidden', message: 'not yours' })
  })
  const client = createLockClient({ server: url })
  const reported: Array<[WithLockPhase, string]> = []
  const failure = new Error('fn failed')
  await t.rejects(client.withLock('prod', { mode: 'write', ttl: 1, holder: 'job-1', onError: (err, phase) => reported.push([phase, err.code]) }, async () => {
    // fn outlives the lock's keep-alive: the lost lock and the store failure are both reported.
    await until(() => reported.length >= 2, 'two keep-alive reports')
    throw failure
  }), failure, 'the error of fn wins')
  t.same(reported, [['keepalive', 'LOCK_LAPSED'], ['keepalive', 'LOCK_STORE_UNAVAILABLE'], ['release', 'NOT_DATABASE_OWNER']])
  t.equal(unlocks, 2, 'a 503 on release is retried; a 403 is not')

  unlocks = 0
  locks = 0
  const released = await caught(client.withLock('prod', { mode: 'write', ttl: 1000, holder: 'job-1' }, () => 'done'))
  t.match(released, { code: 'NOT_DATABASE_OWNER' }, 'after fn succeeds, a failed release is thrown')
})
