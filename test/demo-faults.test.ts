// The demo is the example hosts copy, so its own fault paths answer clearly too: two
// processes creating one name at once, absurdly nested rows, a full disk.
import t from 'tap'
import { createDatabases, startDemo, tempDir } from './helpers/app.js'
import { call, startServerProcess } from './helpers/processes.js'

t.test('two processes creating the same names at once: 201 once each, never a 500', async (t) => {
  const dataDir = tempDir(t)
  const [a, b] = await Promise.all([startServerProcess(t, { DATA_DIR: dataDir }), startServerProcess(t, { DATA_DIR: dataDir })])
  const statuses = new Map<number, number>()
  for (let round = 0; round < 30; round++) {
    const name = `race-${round}`
    const answers = await Promise.all([a, b, a, b].map((server) => call(`${server.url}/v1/database/${name}`, 'POST', { user: 'alice' })))
    for (const answer of answers) statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
    t.equal(answers.filter((answer) => answer.status === 201).length, 1, `${name}: created once`)
  }
  t.notOk(statuses.has(500), `no 500 (answers: ${JSON.stringify([...statuses])})`)
  t.same([...statuses.keys()].sort(), [200, 201], 'the others published to it (same owner)')
})

t.test('a row nested 10,000 deep is a 400 that says so; 64 levels are fine', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  const deep = `{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}`
  const res = await demo.as('alice', 'POST', '/v1/database/prod/rows', deep)
  t.equal(res.statusCode, 400)
  t.match(res.json(), { code: 'ROW_TOO_DEEP', message: /at most 64 levels/ })
  const ok = await demo.as('alice', 'POST', '/v1/database/prod/rows', `{"a":${'['.repeat(63)}${']'.repeat(63)}}`)
  t.equal(ok.statusCode, 201)
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod')).json().rowCount, 1, 'only the good row was stored')
})

t.test('a full disk is 507 STORAGE_FULL, not a 500', async (t) => {
  const demo = await startDemo(t, { maxCatalogPages: 40 })
  await createDatabases(demo, ['prod'])
  const big = { blob: 'x'.repeat(8000) }
  let last = 201
  for (let i = 0; i < 100 && last === 201; i++) last = (await demo.as('alice', 'POST', '/v1/database/prod/rows', big)).statusCode
  t.equal(last, 507, 'the quota was reached and said so')
  const res = await demo.as('alice', 'POST', '/v1/database/prod/rows', big)
  t.match(res.json(), { statusCode: 507, code: 'STORAGE_FULL', error: 'Insufficient Storage', message: /no room left/ })
  t.notMatch(res.body, /SQLITE|database or disk/, 'no internals')
  t.equal((await demo.as('alice', 'GET', '/v1/database/prod')).statusCode, 200, 'reads still work')
})
