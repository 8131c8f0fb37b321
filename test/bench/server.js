'use strict'
// A server under test. BENCH_MODE=bare: plain Fastify with the routes of a
// database-hosting API and a resolveDatabase-like lookup in each handler.
// BENCH_MODE=plugin: the same app with fastify-database-lock registered first
// (store in the SQLite file LOCK_FILE, or in the PostgreSQL database LOCK_URL when
// that is set), so the POST and DELETE routes are guarded and GET is not.
// BENCH_MODE=hooked: bare plus a preHandler that only awaits the same async lookup the
// plugin's resolveDatabase does, on the POST and DELETE routes: the floor under any guard
// that runs as a preHandler and asks the host which database a request names.
// BENCH_MODE=rate-limit: bare plus @fastify/rate-limit (a limit never reached), a guard
// of the same kind from the Fastify ecosystem, for comparison.
// BENCH_SETTLE=0: serve as a fresh process (see settle() below); any other value settles.
// BENCH_EMPTY_TIMER=MS: also run an empty setInterval every MS ms (the idle row's floor for a poll).
// BENCH_CPU_PROFILE=FILE: profiles from listening until SIGTERM, into FILE.
// Prints "listening on URL" once it accepts requests. Run with --expose-gc (run.js does).
const { writeFileSync } = require('node:fs')
const { setTimeout: sleep } = require('node:timers/promises')
const Fastify = require('fastify')
const { DIST } = require('./helpers.js')

const MODES = ['bare', 'plugin', 'hooked', 'rate-limit']
const mode = process.env.BENCH_MODE
if (!MODES.includes(mode)) throw new Error(`BENCH_MODE must be one of ${MODES.join(', ')}`)

// The host's catalog of databases: what resolveDatabase looks names up in.
const catalog = new Map()
for (const name of ['bench', 'write-locked', 'delete-locked']) catalog.set(name, { id: name, owner: 'bench' })
for (let i = 0; i < 100; i++) catalog.set(`bench-${i}`, { id: `bench-${i}`, owner: 'bench' })
// Three segments: with namespace locks present, the check looks up `free` and `free/bench`.
catalog.set('free/bench/eu', { id: 'free/bench/eu', owner: 'bench' })

function lookup (name) {
  return catalog.get(name) ?? null
}

/** The lookup as most hosts have it: async (a database call, a cache). */
async function resolveDatabase (name) {
  return lookup(name)
}

const Params = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }
const Written = { type: 'object', properties: { database: { type: 'string' }, value: { type: 'integer' } } }
const Deleted = { type: 'object', properties: { deleted: { type: 'string' } } }
const Info = { type: 'object', properties: { database: { type: 'string' }, owner: { type: 'string' } } }

function notFound (reply, name) {
  return reply.code(404).send({ statusCode: 404, code: 'DATABASE_NOT_FOUND', error: 'Not Found', message: `Database "${name}" does not exist` })
}

/**
 * Brings the process to the state of a server that has been up a while. A fresh Node 20
 * process serves some core paths faster until its first full GC while idle: that GC drops
 * the hidden classes of `process.nextTick`'s queue entries (no entry is alive then), the
 * entries made afterwards get new ones, and the object-literal inline caches in nextTick turn
 * megamorphic for good, so every nextTick (several per request) defines its four properties
 * through the V8 runtime. Registering the plugin (or anything that allocates a few MB at
 * start-up) brings on such a GC before the server listens; a bare process has none until it
 * has served a while. So every server here gets the same history first: a few idle full GCs.
 * docs/benchmarks.md ("Why every server is settled") has the profiles.
 */
async function settle () {
  if (typeof global.gc !== 'function') throw new Error('server.js settles with global.gc(): run it with --expose-gc')
  const noop = () => {}
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 100; i++) process.nextTick(noop)
    await sleep(20)
    global.gc()
  }
  for (let i = 0; i < 100; i++) process.nextTick(noop)
  await sleep(20)
}

async function main () {
  const app = Fastify({ logger: false })
  if (mode === 'plugin') {
    const databaseLock = require(DIST)
    const settings = JSON.parse(process.env.BENCH_LOCK_OPTIONS || '{}')
    await app.register(databaseLock, {
      ...(process.env.LOCK_URL ? { url: process.env.LOCK_URL } : { path: process.env.LOCK_FILE }),
      // A signed-in caller who does not own the databases: refusals are the plain ones most
      // callers get (no principal would be a 401; the owner's refusal reads the store for details).
      principal: () => 'bench-caller',
      resolveDatabase,
      adminKey: process.env.ADMIN_KEY,
      ...settings
    })
  }
  if (mode === 'rate-limit') {
    // Every route, a limit no run reaches: the cost of the check and its headers, never a 429.
    await app.register(require('@fastify/rate-limit'), { max: 1e9, timeWindow: '1 minute' })
  }

  const preHandler = mode === 'hooked' ? [async function floorPreHandler (request) { await resolveDatabase(request.params.name) }] : undefined

  // Guarded write (plugin mode): the write path every host route pays for.
  app.post('/v1/database/:name', {
    preHandler,
    schema: { params: Params, body: { type: 'object' }, response: { 200: Written } }
  }, async (request, reply) => {
    const database = lookup(request.params.name)
    if (database === null) return notFound(reply, request.params.name)
    return { database: database.id, value: request.body.value ?? 0 }
  })

  // Guarded delete (plugin mode); deletes nothing, so the benchmark can repeat it.
  app.delete('/v1/database/:name', {
    preHandler,
    schema: { params: Params, response: { 200: Deleted } }
  }, async (request, reply) => {
    const database = lookup(request.params.name)
    if (database === null) return notFound(reply, request.params.name)
    return { deleted: database.id }
  })

  // A read: never guarded.
  app.get('/v1/database/:name', {
    schema: { params: Params, response: { 200: Info } }
  }, async (request, reply) => {
    const database = lookup(request.params.name)
    if (database === null) return notFound(reply, request.params.name)
    return { database: database.id, owner: database.owner }
  })

  // A write the host marks as not the plugin's business: the plugin must cost nothing here.
  app.post('/v1/database/:name/rows', { config: { databaseLock: false } }, async () => ({ ok: true }))

  if (process.env.BENCH_EMPTY_TIMER) setInterval(() => {}, Number(process.env.BENCH_EMPTY_TIMER))

  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  if (process.env.BENCH_SETTLE !== '0') await settle()
  const stopProfile = process.env.BENCH_CPU_PROFILE ? await startProfile(process.env.BENCH_CPU_PROFILE) : async () => {}
  process.once('SIGTERM', () => {
    stopProfile().then(() => app.close()).then(() => process.exit(0), () => process.exit(1))
  })
  process.stdout.write(`${mode} listening on ${address}\n`)
}

/** Starts the V8 CPU profiler in this process; the returned function writes FILE. */
async function startProfile (file) {
  const { Session } = require('node:inspector')
  const session = new Session()
  session.connect()
  const post = (method, params) => new Promise((resolve, reject) => {
    session.post(method, params, (err, result) => { if (err) reject(err); else resolve(result) })
  })
  await post('Profiler.enable')
  await post('Profiler.setSamplingInterval', { interval: 1000 })
  await post('Profiler.start')
  return async () => {
    const { profile } = await post('Profiler.stop')
    writeFileSync(file, JSON.stringify(profile))
    session.disconnect()
  }
}

main().catch((err) => {
  process.stderr.write(`bench server failed: ${err.stack}\n`)
  process.exit(1)
})
