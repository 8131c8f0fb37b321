'use strict'
// A server under test. BENCH_MODE=bare: plain Fastify with the routes of a
// database-hosting API and a resolveDatabase-like lookup in each handler.
// BENCH_MODE=plugin: the same app with fastify-database-lock registered first
// (store in the SQLite file LOCK_FILE, or in the PostgreSQL database LOCK_URL when
// that is set), so the POST and DELETE routes are guarded and GET is not.
// BENCH_MODE=hooked: bare plus an empty async preHandler on the POST and DELETE
// routes, the floor under any guard that runs as a preHandler.
// BENCH_CPU_PROFILE=FILE: profiles from listening until SIGTERM, into FILE.
// Prints "listening on URL" once it accepts requests.
const { writeFileSync } = require('node:fs')
const Fastify = require('fastify')
const { DIST } = require('./helpers.js')

const mode = process.env.BENCH_MODE
if (!['bare', 'plugin', 'hooked'].includes(mode)) throw new Error('BENCH_MODE must be "bare", "plugin" or "hooked"')

// The host's catalog of databases: what resolveDatabase looks names up in.
const catalog = new Map()
for (const name of ['bench', 'write-locked', 'delete-locked']) catalog.set(name, { id: name, owner: 'bench' })
for (let i = 0; i < 100; i++) catalog.set(`bench-${i}`, { id: `bench-${i}`, owner: 'bench' })
// Three segments: with namespace locks present, the check looks up `free` and `free/bench`.
catalog.set('free/bench/eu', { id: 'free/bench/eu', owner: 'bench' })

function lookup (name) {
  return catalog.get(name) ?? null
}

const Params = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }
const Written = { type: 'object', properties: { database: { type: 'string' }, value: { type: 'integer' } } }
const Deleted = { type: 'object', properties: { deleted: { type: 'string' } } }
const Info = { type: 'object', properties: { database: { type: 'string' }, owner: { type: 'string' } } }

function notFound (reply, name) {
  return reply.code(404).send({ statusCode: 404, code: 'DATABASE_NOT_FOUND', error: 'Not Found', message: `Database "${name}" does not exist` })
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
      resolveDatabase: lookup,
      adminKey: process.env.ADMIN_KEY,
      ...settings
    })
  }

  const preHandler = mode === 'hooked' ? [async function emptyPreHandler () {}] : undefined

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

  const address = await app.listen({ host: '127.0.0.1', port: 0 })
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
