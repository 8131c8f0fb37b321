// Database names: bad ones get 400 INVALID_DATABASE_NAME and change nothing.
import Fastify from 'fastify'
import t from 'tap'
import { ancestorsOf, checkDatabaseName, displayName, isWithin, nameParam } from '../lib/names.js'
import { createDatabases, startDemo } from './helpers/app.js'
import { databaseLock, hostOptions } from './helpers/host.js'
import { storeContent } from './helpers/store.js'

const INVALID = [
  ['empty segment', 'a..b'],
  ['dot-dot', '..'],
  ['leading dot', '.prod'],
  ['trailing slash', 'prod/'],
  ['empty slash segment', 'team//prod'],
  ['uppercase', 'Prod'],
  ['64-char segment', 'a'.repeat(64)],
  ['256 chars in all', ['a'.repeat(51), 'b'.repeat(50), 'c'.repeat(50), 'd'.repeat(50), 'e'.repeat(51)].join('.')],
  ['unicode', 'prød'],
  ['emoji', 'db🔥'],
  ['NUL byte', 'prod\u0000'],
  ['space', 'my db'],
  ['leading space', ' prod'],
  ['leading dash', '-prod'],
  ['leading underscore', '_prod'],
  ['segment starting with dash', 'team/-prod'],
  ['colon', 'prod:1'],
  ['percent', 'prod%'],
  ['backslash', 'team\\prod'],
  ['tab', 'prod\tx'],
  ['newline', 'prod\n'],
  ['plus', 'a+b'],
  ['quote', 'a"b'],
  ['at sign', 'a@b'],
  // After a segment's first character, the same characters as anywhere else.
  ['uppercase inside a later segment', 'team/pROD'],
  ['space inside a later segment', 'team.p d']
] as const

t.test('the name rules', async (t) => {
  for (const good of ['prod', 'team/prod', 'eu.team_1/prod-2', '0', 'a'.repeat(63), `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`]) {
    t.equal(checkDatabaseName(good), null, `valid: ${good.slice(0, 40)}`)
  }
  t.equal(INVALID.find(([label]) => label === '256 chars in all')?.[1].length, 256)
  for (const [label, name] of INVALID) t.type(checkDatabaseName(name), 'string', `invalid: ${label}`)
})

t.test('the rules, character by character: every ASCII character first in a segment, inside one, and last', async (t) => {
  // The rules as the contract writes them; the check itself walks the characters instead.
  const rules = /^[a-z0-9][a-z0-9_-]{0,62}(?:[./][a-z0-9][a-z0-9_-]{0,62})*$/
  for (let code = 0; code < 128; code++) {
    const char = String.fromCharCode(code)
    for (const name of [`${char}b`, `a${char}b`, `a${char}`, `a/${char}b`, `a.b${char}`, char]) {
      const valid = rules.test(name)
      if ((checkDatabaseName(name) === null) !== valid) t.fail(`${JSON.stringify(name)} should be ${valid ? 'valid' : 'invalid'}`)
    }
  }
  t.equal(checkDatabaseName('a`b'), 'use lowercase letters, digits, "_" and "-", starting each segment with a letter or digit', 'just below "a"')
  t.type(checkDatabaseName('a{b'), 'string', 'just above "z"')
  t.type(checkDatabaseName('a:b'), 'string', 'just above "9"')
  t.equal(checkDatabaseName('z9/0a'), null, 'the ends of both ranges')
  t.equal(checkDatabaseName(`${`${'a'.repeat(63)}.`.repeat(3)}${'b'.repeat(63)}`), null, '255 characters in segments of 63')
  t.equal(checkDatabaseName(`a-${'b'.repeat(61)}`), null, 'a 63-character segment with a dash in it')
  t.type(checkDatabaseName(`a_${'b'.repeat(62)}`), 'string', 'a 64-character segment with an underscore in it')
})

t.test('each rule has its own reason, the first broken one is given', async (t) => {
  const lower = 'use lowercase letters, digits, "_" and "-", starting each segment with a letter or digit'
  const cases: Array<[string, unknown, string]> = [
    ['empty', '', 'a name is required'],
    ['not a string', undefined, 'a name is required'],
    ['256 chars', 'a'.repeat(256), 'names are at most 255 characters, this one has 256'],
    // 255 is allowed: an invalid 255-char name is refused for what is wrong with it.
    ['255 chars, uppercase', `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'D'.repeat(63)}`, lower],
    ['empty segment after a good one', 'prod/', 'segments joined by "." or "/" must not be empty'],
    ['empty segment between', 'a..b', 'segments joined by "." or "/" must not be empty'],
    ['64-char segment after a good one', `prod.${'a'.repeat(64)}`, 'each segment is at most 63 characters'],
    // 63 is allowed: a 63-char segment is not the problem of a name whose next segment is bad.
    ['63-char segment, then uppercase', `${'a'.repeat(63)}/Prod`, lower],
    ['uppercase', 'Prod', lower],
    // Too long in all though no segment is: the length rule is checked on its own.
    ['259 chars in segments of 63', `${`${'a'.repeat(63)}.`.repeat(4)}abc`, 'names are at most 255 characters, this one has 259'],
    // A segment's characters, before a later segment's emptiness (both ends of the segment rule).
    ['a segment starting with "_", then an empty one', '_ab//x', lower],
    ['a segment ending in uppercase, then an empty one', 'aB//x', lower]
  ]
  for (const [label, name, reason] of cases) t.equal(checkDatabaseName(name), reason, label)
})

t.test('names in messages: control characters escaped, cut after 80 characters', async (t) => {
  t.equal(displayName('a'.repeat(80)), 'a'.repeat(80), '80 characters are shown whole')
  t.equal(displayName(`${'a'.repeat(80)}bc`), `${'a'.repeat(80)}…`, 'longer names are cut at 80')
  t.equal(displayName('prod\n"x"'), 'prod\\n\\"x\\"', 'a newline and quotes are escaped')
})

t.test('namespaces: the names above a name, and what lies within one', async (t) => {
  t.same(ancestorsOf('acme/prod/eu'), ['acme', 'acme/prod'], 'nearest last')
  t.same(ancestorsOf('acme.prod/eu'), ['acme', 'acme.prod'], 'either separator')
  t.same(ancestorsOf('acme'), [], 'a top-level name has none')
  t.same(ancestorsOf('a.b'), ['a'], 'a one-character namespace')
  for (const name of ['acme', 'acme.prod', 'acme/prod', 'acme/prod/eu']) t.ok(isWithin(name, 'acme'), `${name} is within acme`)
  for (const name of ['acme2', 'acmeprod', 'acm', 'other/acme', 'prod']) t.notOk(isWithin(name, 'acme'), `${name} is not within acme`)
})

t.test('the name parameter of a request, or "" when there is none', async (t) => {
  t.equal(nameParam({ name: 'prod' }, 'name'), 'prod')
  t.equal(nameParam({ db: 'prod' }, 'name'), '', 'another parameter')
  t.equal(nameParam({ name: ['prod'] }, 'name'), '', 'not a string')
  t.equal(nameParam(undefined, 'name'), '', 'no parameters')
  t.equal(nameParam(null, 'name'), '', 'null parameters')
})

t.test('every bad name is refused with 400 and the store is unchanged', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['prod'])
  await demo.as('alice', 'POST', '/v1/database/prod/lock', { reason: 'baseline' })
  const before = storeContent(demo.dataDir)
  for (const [label, name] of INVALID) {
    for (const [method, suffix, body] of [['POST', '/lock', { mode: 'write' }], ['POST', '/unlock', undefined], ['GET', '/lock', undefined]] as const) {
      // Dots are sent encoded too, so that ".." reaches the route instead of being resolved away.
      const res = await demo.as('alice', method, `/v1/database/${encodeURIComponent(name).replace(/\./g, '%2E')}${suffix}`, body)
      if (name === '..') {
        // The router resolves ".." (even as %2E%2E) before matching: no lock route is ever reached.
        t.equal(res.statusCode, 404, `${label}: never reaches a route`)
        t.match(res.json().message, /^Route .* not found$/)
        continue
      }
      t.equal(res.statusCode, 400, `${label}: ${method} ${suffix}`)
      t.equal(res.json().code, 'INVALID_DATABASE_NAME', `${label}: code`)
      t.notMatch(res.json().message, /SQL|at .*\.ts:/, `${label}: nothing internal in the message`)
    }
    const del = await demo.as('alice', 'DELETE', `/v1/database/${encodeURIComponent(name).replace(/\./g, '%2E')}`)
    t.equal(del.statusCode, name === '..' ? 404 : 400, `${label}: DELETE refused`)
  }
  t.same(storeContent(demo.dataDir), before, 'no lock row or journal entry was written')
})

t.test('the 400 message says what a valid name looks like', async (t) => {
  const demo = await startDemo(t)
  const res = await demo.as('alice', 'POST', '/v1/database/Prod/lock')
  t.equal(res.statusCode, 400)
  t.match(res.json().message, /Invalid database name "Prod": use lowercase letters, digits/)
})

t.test('a name with "/" travels as %2F and locks that database', async (t) => {
  const demo = await startDemo(t)
  await createDatabases(demo, ['team/prod'])
  const lock = await demo.as('alice', 'POST', '/v1/database/team%2Fprod/lock')
  t.equal(lock.statusCode, 200)
  t.equal(lock.json().database, 'team/prod')
  const del = await demo.as('alice', 'DELETE', '/v1/database/team%2Fprod')
  t.equal(del.statusCode, 403)
  t.match(del.json().message, /POST \/v1\/database\/team%2Fprod\/unlock/, 'the unlock route is given URL-encoded')
})

t.test('with Fastify\'s default maxParamLength (100), a longer name is Fastify\'s own 414', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(databaseLock, hostOptions(t))
  app.delete('/db/:name', async () => ({ deleted: true }))
  await app.ready()
  const res = await app.inject({ method: 'DELETE', url: `/db/${'a'.repeat(150)}` })
  t.equal(res.statusCode, 414, 'URI Too Long, before any route or hook runs')
  t.equal(res.json().code, 'FST_ERR_MAX_PARAM_LENGTH')
})
