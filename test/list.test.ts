// GET /v1/locks: every live lock, paginated by cursor, for the admin key only.
import t from 'tap'
import { ADMIN_KEY, startDemo } from './helpers/app.js'
import { SqliteLockStore } from '../lib/store/sqlite/sqlite-store.js'
import { lockFile } from './helpers/store.js'

t.test('2,500 locks come back each exactly once, page by page', async (t) => {
  const demo = await startDemo(t)
  // Seed through the store itself: 2,500 HTTP round trips would test nothing more.
  const store = new SqliteLockStore({ path: lockFile(demo.dataDir) })
  const now = Date.now()
  for (let i = 0; i < 2500; i++) {
    await store.acquire({ database: `db-${String(i).padStart(4, '0')}`, mode: i % 3 === 0 ? 'write' : 'delete', reason: null, holder: 'ops', namespace: null, lockedBy: 'ops', now, expiresAt: i % 3 === 0 ? now + 3600_000 : null, refreshReason: false, refreshExpiry: false, refreshNamespace: false, unlock: null, refreshUnlock: false })
    if (i % 5 === 0) await store.acquire({ database: `db-${String(i).padStart(4, '0')}`, mode: 'write', reason: 'both', holder: 'ops', namespace: null, lockedBy: 'ops', now, expiresAt: now + 3600_000, refreshReason: false, refreshExpiry: false, refreshNamespace: false, unlock: null, refreshUnlock: false })
  }
  const expected = (await store.list({ limit: 10_000, after: null, now })).length
  await store.close()

  const seen = new Set<string>()
  let cursor: string | null = null
  let pages = 0
  do {
    const query: string = cursor === null ? '?limit=1000' : `?limit=1000&cursor=${encodeURIComponent(cursor)}`
    const res = await demo.admin('GET', `/v1/locks${query}`)
    t.equal(res.statusCode, 200)
    const body = res.json() as { locks: Array<{ database: string, mode: string }>, nextCursor: string | null }
    for (const lock of body.locks) {
      const key = `${lock.database}/${lock.mode}`
      if (seen.has(key)) t.fail(`seen twice: ${key}`)
      seen.add(key)
    }
    cursor = body.nextCursor
    pages++
  } while (cursor !== null && pages < 10)
  t.equal(seen.size, expected)
  t.ok(expected > 2500, 'some databases hold both modes')
  t.equal(pages, Math.ceil(expected / 1000))
})

t.test('default and maximum page size, and bad queries', async (t) => {
  const demo = await startDemo(t)
  const store = new SqliteLockStore({ path: lockFile(demo.dataDir) })
  for (let i = 0; i < 150; i++) await store.acquire({ database: `db${i}`, mode: 'delete', reason: null, holder: 'ops', namespace: null, lockedBy: 'ops', now: Date.now(), expiresAt: null, refreshReason: false, refreshExpiry: false, refreshNamespace: false, unlock: null, refreshUnlock: false })
  await store.close()
  const first = (await demo.admin('GET', '/v1/locks')).json()
  t.equal(first.locks.length, 100, 'limit defaults to 100')
  t.type(first.nextCursor, 'string')
  t.match(first.locks[0], { database: 'db0', mode: 'delete', reason: null, lockedBy: 'ops', expiresAt: null })
  t.equal((await demo.admin('GET', '/v1/locks?limit=1001')).statusCode, 400)
  t.match((await demo.admin('GET', '/v1/locks?limit=0')).json().message, /"limit" in the query string must be at least 1/)
  const badCursor = await demo.admin('GET', '/v1/locks?cursor=not-a-cursor')
  t.equal(badCursor.statusCode, 400)
  t.match(badCursor.json().message, /cursor is not valid: pass the nextCursor of the previous page/)
  t.equal((await demo.admin('GET', '/v1/locks?sort=asc')).statusCode, 400, 'unknown query fields are refused')
})

t.test('a last page that is exactly full has no next cursor; cursors not made by the server are refused', async (t) => {
  const demo = await startDemo(t)
  const store = new SqliteLockStore({ path: lockFile(demo.dataDir) })
  for (let i = 0; i < 5; i++) await store.acquire({ database: `db${i}`, mode: 'delete', reason: null, holder: 'ops', namespace: null, lockedBy: 'ops', now: Date.now(), expiresAt: null, refreshReason: false, refreshExpiry: false, refreshNamespace: false, unlock: null, refreshUnlock: false })
  await store.close()
  const all = (await demo.admin('GET', '/v1/locks?limit=5')).json()
  t.equal(all.locks.length, 5)
  t.equal(all.nextCursor, null, 'five locks, five per page: no further page')
  const first = (await demo.admin('GET', '/v1/locks?limit=4')).json()
  const last = (await demo.admin('GET', `/v1/locks?limit=4&cursor=${first.nextCursor}`)).json()
  t.match(last, { locks: [{ database: 'db4', mode: 'delete' }], nextCursor: null }, 'the cursor leads to the fifth')
  t.equal(last.locks.length, 1)
  const crafted = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  for (const [label, cursor] of [
    ['four items', crafted(['db1', 'delete', 'ops', 'x'])],
    ['two items', crafted(['db1', 'delete'])],
    ['a number for the database', crafted([1, 'delete', 'ops'])],
    ['an unknown mode', crafted(['db1', 'read', 'ops'])],
    ['a number for the holder', crafted(['db1', 'delete', 7])],
    ['an object', crafted({ database: 'db1', mode: 'delete' })]
  ]) {
    const res = await demo.admin('GET', `/v1/locks?cursor=${cursor}`)
    t.equal(res.statusCode, 400, label)
    t.match(res.json(), { code: 'INVALID_LOCK_REQUEST', message: /cursor is not valid/ }, label)
  }
})

t.test('non-admins are refused', async (t) => {
  const demo = await startDemo(t)
  t.equal((await demo.as('alice', 'GET', '/v1/locks')).statusCode, 403)
  t.equal((await demo.as(null, 'GET', '/v1/locks')).statusCode, 401)
  t.equal((await demo.admin('GET', '/v1/locks', undefined, `${ADMIN_KEY}x`)).statusCode, 403)
})
