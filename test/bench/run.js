'use strict'
// `npm run bench`: what fastify-database-lock costs, side by side with the same
// Fastify app without it. Not part of `npm test`. Needs Linux (/proc), the built
// plugin (dist/, `npm run build` does it) and, for fair figures, taskset (util-linux)
// and wrk (`apt-get install -y wrk`); without wrk it falls back to autocannon.
//
//   node test/bench/run.js [--rounds=5] [--seconds=5] [--only=guarded-0,ops]
//                          [--load=wrk|autocannon] [--million=1000000] [--out=DIR]
//                          [--dist=path/to/dist/lib/index.js] [--pg-fsync=on|off] [--merge=FILE]
//
// The scenarios ending in -pg put the lock store in one embedded PostgreSQL
// (test/bench/postgres.js), started once after the SQLite scenarios and stopped at
// the end, with PostgreSQL's durability defaults (fsync=on; --pg-fsync=off is for
// experiments, never for published figures).
//
// A full run (no --only) writes docs/benchmarks.json, docs/benchmarks.svg and the
// generated part of docs/benchmarks.md; other runs write to --out (default: print only).
const { cpus, release, totalmem, tmpdir } = require('node:os')
const { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } = require('node:fs')
const { execFileSync } = require('node:child_process')
const { join, resolve } = require('node:path')

// --dist=FILE benchmarks another build of the plugin (a scratch copy with a change
// to measure) against the same bare server; the children read it from the environment.
const distArg = process.argv.find((arg) => arg.startsWith('--dist='))
if (distArg !== undefined) process.env.BENCH_DIST = resolve(distArg.slice('--dist='.length))

const {
  ROOT, DIST, commandExists, cpuSeconds, cpuSecondsPrecise, loadAverage, repin, runCommand, sleep, startNode, summary
} = require('./helpers.js')
const { pickGenerator, runLoad } = require('./load.js')
const { seedStore } = require('./seed.js')
const { summarizeProfile } = require('./profile.js')
const { writeReport } = require('./report.js')
const { startPostgres } = require('./postgres.js')

const ADMIN_KEY = 'bench-admin-key-0123456789'
const BENCH = __dirname
const SCENARIOS = [
  'calibration', 'gc-state', 'unguarded-fresh', 'floor-prehandler', 'peer-rate-limit',
  'guarded-0', 'unguarded', 'unguarded-post', 'locked-503', 'locked-403', 'guarded-1k', 'guarded-ns10k', 'guarded-1m',
  'ops', 'propagation', 'startup', 'idle', 'held-write-lock', 'guard-profile', 'guard-profile-1m', 'guard-profile-ns10k', 'unguarded-profile', 'guarded-pg', 'ops-pg', 'propagation-pg'
]
const POSTGRES_SCENARIOS = ['guarded-pg', 'ops-pg', 'propagation-pg']

function parseArgs (argv) {
  const options = { rounds: 5, seconds: 5, only: null, load: null, million: 1_000_000, out: null, pgFsync: true, merge: null }
  for (const arg of argv) {
    const [key, value] = arg.replace(/^--/, '').split('=')
    if (key === 'rounds' || key === 'seconds' || key === 'million') {
      options[key] = Number(value)
    } else if (key === 'only') {
      options.only = new Set(value.split(','))
      const unknown = [...options.only].filter((id) => !SCENARIOS.includes(id))
      if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; the scenarios are ${SCENARIOS.join(' ')}`)
    } else if (key === 'load') {
      options.load = value
    } else if (key === 'out') {
      options.out = value
    } else if (key === 'merge') {
      options.merge = value
    } else if (key === 'pg-fsync') {
      if (value !== 'on' && value !== 'off') throw new Error('--pg-fsync must be "on" or "off"')
      options.pgFsync = value === 'on'
    } else if (key === 'help') {
      process.stdout.write('node test/bench/run.js [--rounds=5] [--seconds=5] [--only=id,...] [--load=wrk|autocannon] [--million=N] [--out=DIR] [--dist=FILE] [--pg-fsync=on|off] [--merge=FILE]\n' +
        `scenarios: ${SCENARIOS.join(' ')}\n`)
      process.exit(0)
    } else if (key !== 'dist') { // --dist was read above, before the helpers load
      throw new Error(`unknown option ${arg}; try --help`)
    }
  }
  if (!(options.rounds >= 3)) throw new Error('--rounds must be 3 or more: each comparison is interleaved over at least 3 rounds')
  if (!(options.seconds >= 1)) throw new Error('--seconds must be at least 1')
  if (!options.pgFsync && options.only === null && options.out === null) {
    throw new Error('--pg-fsync=off would publish non-durable PostgreSQL figures: use it with --only or --out')
  }
  return options
}

function checkPrerequisites () {
  if (process.platform !== 'linux') throw new Error('the benchmark reads server CPU time from /proc: it runs on Linux only')
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` first (npm run bench does it)`)
}

/** Which core serves and which loads, per round: swapped every round to cancel any difference between the cores. */
function placement (round, pin) {
  if (!pin) return { server: null, load: null }
  return round % 2 === 0 ? { server: 0, load: 1 } : { server: 1, load: 0 }
}

async function startServer (mode, { lockFile, cpu, nodeArgs = [], env = {}, role = mode } = {}) {
  const server = await startNode(join(BENCH, 'server.js'), {
    cpu,
    // server.js settles every server with global.gc() before it listens.
    nodeArgs: ['--expose-gc', ...nodeArgs],
    env: { BENCH_MODE: mode, LOCK_FILE: lockFile ?? '', LOCK_URL: '', ADMIN_KEY, ...env }
  })
  return { ...server, url: server.match[1], mode, role }
}

/** One request, for checking a route answers what the scenario expects before loading it. */
async function probe (url, method, body) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body
  })
  await res.arrayBuffer()
  return res.status
}

async function adminPost (base, path, body) {
  const res = await fetch(new URL(path, base), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-admin-key': ADMIN_KEY },
    body: JSON.stringify(body)
  })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`POST ${path} answered ${res.status}: ${text}`)
}

/**
 * Loads bare and plugin servers at the same time, each with its own load
 * generator, both servers on one core and both generators on the other, for
 * `rounds` rounds after a warm-up. The figure is server CPU time per request.
 */
async function compareHttp (ctx, scenario, servers) {
  const { options, generator, pin, workDir } = ctx
  const statuses = {}
  for (const server of servers) {
    const status = await probe(server.url + scenario.path, scenario.method, scenario.body)
    const expected = server.mode === 'bare' ? 200 : scenario.expect
    if (status !== expected) throw new Error(`${scenario.id}: ${server.role} answered ${status} to ${scenario.method} ${scenario.path}, expected ${expected}`)
    statuses[server.role] = status
  }
  const load = (server, seconds, cpu) => runLoad({
    generator, workDir, url: server.url + scenario.path, method: scenario.method, body: scenario.body, seconds, cpu
  })
  // Warm-up: JIT and connection pools, both at once as in the rounds.
  const warm = placement(0, pin)
  for (const server of servers) repin(server.pid, warm.server)
  await Promise.all(servers.map((server) => load(server, Math.min(2, options.seconds), warm.load)))

  const rounds = []
  for (let round = 0; round < options.rounds; round++) {
    const cores = placement(round, pin)
    for (const server of servers) repin(server.pid, cores.server)
    const order = round % 2 === 0 ? servers : [...servers].reverse()
    const before = order.map((server) => [cpuSeconds(server.pid), cpuSecondsPrecise(server.pid)])
    const results = await Promise.all(order.map((server) => load(server, options.seconds, cores.load)))
    const after = order.map((server) => [cpuSeconds(server.pid), cpuSecondsPrecise(server.pid)])
    const entry = { round, load: loadAverage()[0], serverCore: cores.server }
    order.forEach((server, i) => {
      const result = results[i]
      const cpu = after[i][0] - before[i][0]
      const precise = after[i][1] - before[i][1]
      // A few socket errors (a connection cut at the end of a run on a busy machine) are recorded, not fatal.
      if (result.errors > result.requests / 100) throw new Error(`${scenario.id}: ${result.errors} socket errors against ${server.role}`)
      const refused = server.mode === 'plugin' && scenario.expect !== 200
      if (refused ? result.non2xx !== result.requests : result.non2xx !== 0) {
        throw new Error(`${scenario.id}: ${server.role} answered ${result.non2xx} of ${result.requests} requests with a status other than expected`)
      }
      entry[server.role] = {
        requests: result.requests,
        rps: result.requests / result.seconds,
        cpuSeconds: cpu,
        errors: result.errors,
        cpuUsPerRequest: cpu * 1e6 / result.requests,
        // Cross-check from per-thread schedstat (ns resolution instead of 10 ms ticks).
        preciseCpuUsPerRequest: precise * 1e6 / result.requests,
        p99ms: result.p99ms
      }
    })
    entry.ratio = entry.bare.cpuUsPerRequest / entry.plugin.cpuUsPerRequest
    entry.preciseRatio = entry.bare.preciseCpuUsPerRequest / entry.plugin.preciseCpuUsPerRequest
    entry.rpsRatio = entry.plugin.rps / entry.bare.rps
    rounds.push(entry)
    log(`  ${scenario.id} round ${round + 1}: bare ${entry.bare.cpuUsPerRequest.toFixed(1)} µs/req (${Math.round(entry.bare.rps)} req/s), ` +
      `plugin ${entry.plugin.cpuUsPerRequest.toFixed(1)} µs/req (${Math.round(entry.plugin.rps)} req/s), ratio ${entry.ratio.toFixed(3)}`)
  }
  const pick = (mode, field) => summary(rounds.map((r) => r[mode][field]))
  return {
    id: scenario.id,
    group: 'http',
    title: scenario.title,
    ...(scenario.store === undefined ? {} : { store: scenario.store }),
    request: `${scenario.method} ${scenario.path}`,
    lockRows: scenario.lockRows,
    status: statuses,
    bare: { cpuUsPerRequest: pick('bare', 'cpuUsPerRequest'), rps: pick('bare', 'rps'), p99ms: pick('bare', 'p99ms') },
    plugin: { cpuUsPerRequest: pick('plugin', 'cpuUsPerRequest'), rps: pick('plugin', 'rps'), p99ms: pick('plugin', 'p99ms') },
    ratio: summary(rounds.map((r) => r.ratio)),
    preciseRatio: summary(rounds.map((r) => r.preciseRatio)),
    rpsRatio: summary(rounds.map((r) => r.rpsRatio)),
    target: scenario.target,
    rounds
  }
}

const WRITE_BODY = JSON.stringify({ value: 1 })

/** A guarded write to an unlocked database: the path every guarded host route pays for. */
function guarded (id, lockRows, title) {
  return { id, title, lockRows, method: 'POST', path: '/v1/database/bench', body: WRITE_BODY, expect: 200, target: { ratio: 0.95 } }
}

/** A route the plugin does not guard: it must cost nothing there. */
const UNGUARDED_TARGET = { ratio: 0.98 }

/**
 * The lock stores the guarded comparisons run on. Each entry is seeded once per run
 * (test/bench/seed.js, by `locks` kind) and served by a fresh plugin process. A row on
 * another kind of store (v2's namespace locks, say) is one more entry here with its own
 * `locks` kind, plus that kind's seeder in seed.js.
 */
function lockStores (options) {
  return [
    {
      locks: { kind: 'delete', count: 0 },
      scenarios: [
        guarded('guarded-0', 0, 'Guarded write, unlocked database, 0 lock rows'),
        { id: 'unguarded', title: 'Unguarded route (GET), 0 lock rows', lockRows: 0, method: 'GET', path: '/v1/database/bench', expect: 200, target: UNGUARDED_TARGET },
        {
          id: 'unguarded-post',
          title: 'Unguarded route (POST with a JSON body, `databaseLock: false`), 0 lock rows',
          lockRows: 0,
          method: 'POST',
          path: '/v1/database/bench/rows',
          body: WRITE_BODY,
          expect: 200,
          target: UNGUARDED_TARGET
        },
        {
          id: 'locked-503',
          title: 'Guarded write on a write-locked database (503)',
          lockRows: 2,
          method: 'POST',
          path: '/v1/database/write-locked',
          body: WRITE_BODY,
          expect: 503,
          lock: { database: 'write-locked', mode: 'write', ttl: 86_400 },
          target: null
        },
        {
          id: 'locked-403',
          title: 'Guarded delete on a delete-locked database (403)',
          lockRows: 2,
          method: 'DELETE',
          path: '/v1/database/delete-locked',
          expect: 403,
          lock: { database: 'delete-locked', mode: 'delete' },
          target: null
        }
      ]
    },
    { locks: { kind: 'delete', count: 1000 }, scenarios: [guarded('guarded-1k', 1000, 'Guarded write, unlocked database, 1,000 lock rows')] },
    {
      locks: { kind: 'namespace', count: 10_000 },
      scenarios: [{
        ...guarded('guarded-ns10k', 10_000, 'Guarded write to free/bench/eu, 10,000 namespace (children) locks on other names'),
        path: '/v1/database/free%2Fbench%2Feu'
      }]
    },
    {
      locks: { kind: 'delete', count: options.million },
      scenarios: [guarded('guarded-1m', options.million, `Guarded write, unlocked database, ${options.million.toLocaleString('en')} lock rows`)]
    }
  ]
}

/**
 * Comparisons of bare Fastify against another bare-like server (no lock store): the method's
 * noise, the floor, a peer plugin, and what a process's GC history does by itself.
 * `other` says how to start the second server; `bare` how to start the first (default settled).
 */
const BARE_PAIRS = [
  {
    scenario: { id: 'calibration', title: 'Calibration: bare against a second bare server', target: { indistinguishable: true } },
    other: { mode: 'bare' }
  },
  {
    scenario: {
      id: 'gc-state',
      title: 'Bare Fastify, fresh process against one settled by idle full GCs (no plugin in either)',
      path: '/v1/database/bench/rows',
      target: null
    },
    bare: { env: { BENCH_SETTLE: '0' } },
    other: { mode: 'bare' }
  },
  {
    scenario: {
      id: 'unguarded-fresh',
      title: 'Unguarded route (POST, `databaseLock: false`), neither process settled',
      path: '/v1/database/bench/rows',
      target: null
    },
    bare: { env: { BENCH_SETTLE: '0' } },
    other: { mode: 'plugin', env: { BENCH_SETTLE: '0' }, store: true }
  },
  {
    scenario: { id: 'floor-prehandler', title: 'Floor: bare plus a preHandler that awaits the async lookup', target: null },
    other: { mode: 'hooked' }
  },
  {
    scenario: { id: 'peer-rate-limit', title: 'Peer: bare plus @fastify/rate-limit (limit never reached)', target: null },
    other: { mode: 'rate-limit' }
  }
]

/** Guarded and unguarded routes with 0, 1,000 and a million locks in the store; then the refusal paths. */
async function httpScenarios (ctx, results) {
  const { options, pin } = ctx
  const wanted = (scenario) => options.only === null || options.only.has(scenario.id)
  const stores = lockStores(options)
  const pairs = BARE_PAIRS.filter((pair) => wanted(pair.scenario))
  if (pairs.length === 0 && !stores.some((store) => store.scenarios.some(wanted))) return
  const core = placement(0, pin).server

  for (const pair of pairs) {
    const scenario = { lockRows: 0, method: 'POST', path: '/v1/database/bench', body: WRITE_BODY, expect: 200, ...pair.scenario }
    // Each comparison gets fresh processes on both sides.
    const bare = await startServer('bare', { cpu: core, env: pair.bare?.env })
    try {
      const lockFile = pair.other.store ? ctx.storeWith({ kind: 'delete', count: 0 }) : undefined
      const other = await startServer(pair.other.mode, { cpu: core, role: 'plugin', env: pair.other.env, lockFile })
      try {
        log(`${scenario.id}: ${scenario.title}`)
        results.push(await compareHttp(ctx, scenario, [bare, other]))
      } finally {
        await other.stop()
      }
    } finally {
      await bare.stop()
    }
  }

  for (const store of stores) {
    const scenarios = store.scenarios.filter(wanted)
    if (scenarios.length === 0) continue
    const lockFile = ctx.storeWith(store.locks)
    const plugin = await startServer('plugin', { lockFile, cpu: core })
    try {
      for (const scenario of scenarios) {
        if (scenario.lock !== undefined) {
          const { database, ...lock } = scenario.lock
          await adminPost(plugin.url, `/v1/database/${database}/lock`, { reason: 'bench', ...lock })
        }
        const bare = await startServer('bare', { cpu: core })
        try {
          log(`${scenario.id}: ${scenario.title}`)
          results.push(await compareHttp(ctx, scenario, [bare, plugin]))
        } finally {
          await bare.stop()
        }
      }
    } finally {
      await plugin.stop()
    }
  }
}

/**
 * Durable lock + unlock: the store's floor, the decorator, the HTTP routes; interleaved.
 * `spec` says which store: { id, store: 'sqlite' | 'postgres', title, floorEnv, decoratorEnv, serverEnv, lockFile }.
 * The floor's figures are kept under the store's name (`sqlite`, `postgres`).
 */
async function durableOps (ctx, results, spec) {
  const { options, pin } = ctx
  const seconds = Math.min(options.seconds, 3)
  const floor = spec.store
  const server = await startServer('plugin', { lockFile: spec.lockFile, env: spec.serverEnv, cpu: placement(0, pin).server })
  const rounds = []
  try {
    for (let round = 0; round < options.rounds; round++) {
      const cores = placement(round, pin)
      repin(server.pid, cores.server)
      const entry = { round, load: loadAverage()[0] }
      for (const [key, env] of [[floor, { BENCH_OPS: floor, ...spec.floorEnv }], ['decorator', { BENCH_OPS: 'decorator', ...spec.decoratorEnv }]]) {
        const out = await runCommand(process.execPath, [join(BENCH, 'lock-ops.js')], {
          cpu: cores.server, env: { BENCH_SECONDS: String(seconds), LOCK_FILE: '', LOCK_URL: '', ...env }
        })
        entry[key] = JSON.parse(out)
      }
      const out = await runCommand(process.execPath, [join(BENCH, 'lock-client.js')], {
        cpu: cores.load,
        env: { BENCH_CLIENT: 'ops', BENCH_URL: server.url, BENCH_SECONDS: String(seconds), BENCH_CONCURRENCY: '4', ADMIN_KEY }
      })
      entry.http = JSON.parse(out)
      rounds.push(entry)
      const statements = entry.decorator.statementsPerOp === undefined ? '' : ` (${entry.decorator.statementsPerOp.toFixed(1)} statements/op)`
      log(`  ${spec.id} round ${round + 1}: ${floor} floor ${Math.round(entry[floor].opsPerSecond)}/s, ` +
        `decorator ${Math.round(entry.decorator.opsPerSecond)}/s${statements}, http ${Math.round(entry.http.opsPerSecond)}/s`)
    }
  } finally {
    await server.stop()
  }
  const pick = (mode, field) => summary(rounds.map((r) => r[mode][field]))
  const part = (mode) => ({ opsPerSecond: pick(mode, 'opsPerSecond'), p50ms: pick(mode, 'p50ms'), p99ms: pick(mode, 'p99ms') })
  const decorator = part('decorator')
  if (rounds.every((r) => r.decorator.statementsPerOp !== undefined)) {
    decorator.statementsPerOp = pick('decorator', 'statementsPerOp')
    decorator.explicitTransactionsPerOp = pick('decorator', 'explicitTransactionsPerOp')
  }
  results.push({
    id: spec.id,
    group: 'ops',
    store: spec.store,
    title: spec.title,
    secondsPerRound: seconds,
    [floor]: part(floor),
    decorator,
    http: { ...part('http'), concurrency: 4 },
    decoratorToFloor: summary(rounds.map((r) => r.decorator.opsPerSecond / r[floor].opsPerSecond)),
    httpToFloor: summary(rounds.map((r) => r.http.opsPerSecond / r[floor].opsPerSecond)),
    target: spec.target ?? { opsPerSecond: 2000, paths: ['decorator', 'http'] },
    rounds
  })
}

async function lockOpsScenario (ctx, results) {
  const { options, workDir } = ctx
  if (options.only !== null && !options.only.has('ops')) return
  log('ops: durable lock + unlock operations per second')
  await durableOps(ctx, results, {
    id: 'ops',
    store: 'sqlite',
    title: 'Durable lock + unlock operations per second (each lock and each unlock is one operation)',
    floorEnv: { LOCK_FILE: join(workDir, 'ops-floor.db') },
    decoratorEnv: { LOCK_FILE: join(workDir, 'ops-decorator.db') },
    lockFile: join(workDir, 'ops-http.db')
  })
}

/**
 * Two processes on one store: lock acknowledgment, time until the other refuses, time until unlock reaches it.
 * `spec`: { id, store, title, lockFile } or { …, serverEnv: { LOCK_URL } }.
 */
async function propagation (ctx, results, spec) {
  const { options, pin } = ctx
  const start = () => startServer('plugin', { lockFile: spec.lockFile, env: spec.serverEnv, cpu: placement(0, pin).server })
  const a = await start()
  let b
  try {
    b = await start()
  } catch (err) {
    await a.stop()
    throw err
  }
  const rounds = []
  try {
    for (let round = 0; round < options.rounds; round++) {
      const cores = placement(round, pin)
      repin(a.pid, cores.server)
      repin(b.pid, cores.server)
      const out = await runCommand(process.execPath, [join(BENCH, 'lock-client.js')], {
        cpu: cores.load,
        env: { BENCH_CLIENT: 'propagation', BENCH_URL: a.url, BENCH_OTHER_URL: b.url, BENCH_CYCLES: '60', ADMIN_KEY }
      })
      const entry = { round, load: loadAverage()[0], ...JSON.parse(out) }
      rounds.push(entry)
      log(`  ${spec.id} round ${round + 1}: ack p50 ${entry.ack.p50ms.toFixed(1)} ms p99 ${entry.ack.p99ms.toFixed(1)} ms, ` +
        `B refuses ${entry.refused.p50ms.toFixed(2)} ms after the ack, unlock reaches B in ${entry.lifted.p50ms.toFixed(1)} ms (p99 ${entry.lifted.p99ms.toFixed(1)})`)
    }
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
  const pick = (part, field) => summary(rounds.map((r) => r[part][field]))
  const part = (name) => ({ p50ms: pick(name, 'p50ms'), p99ms: pick(name, 'p99ms'), maxms: pick(name, 'maxms') })
  results.push({
    id: spec.id,
    group: 'propagation',
    store: spec.store,
    title: spec.title,
    cyclesPerRound: 60,
    ack: part('ack'),
    refused: part('refused'),
    lifted: part('lifted'),
    letThroughAfterAck: rounds.reduce((sum, r) => sum + r.letThroughAfterAck, 0),
    target: { ackP99ms: 50 },
    rounds
  })
}

async function propagationScenario (ctx, results) {
  const { options, workDir } = ctx
  if (options.only !== null && !options.only.has('propagation')) return
  log('propagation: two processes sharing one store')
  await propagation(ctx, results, {
    id: 'propagation', store: 'sqlite', title: 'Lock acknowledgment and propagation, 2 processes on one store', lockFile: join(workDir, 'propagation.db')
  })
}

/**
 * The same measurements with the lock store in PostgreSQL: one embedded server for
 * all of them, started here and stopped at the end or on failure; each scenario in
 * a database of its own. The PostgreSQL server is not pinned: it runs wherever the
 * kernel puts it, as a database on the same host would.
 */
async function postgresScenarios (ctx, results, meta) {
  const { options, pin } = ctx
  const wanted = (id) => options.only === null || options.only.has(id)
  if (!POSTGRES_SCENARIOS.some(wanted)) return
  log(`postgres: starting an embedded PostgreSQL (fsync ${options.pgFsync ? 'on, the default' : 'OFF: not durable'})`)
  const server = await startPostgres({ fsync: options.pgFsync })
  try {
    meta.postgres = {
      embeddedPostgres: server.embeddedVersion,
      startupMs: server.startupMs,
      settings: server.settings,
      pinned: false
    }
    const s = server.settings
    log(`postgres: ${s.server_version} on 127.0.0.1, started in ${(server.startupMs / 1000).toFixed(1)} s; ` +
      `fsync=${s.fsync}, synchronous_commit=${s.synchronous_commit}, wal_sync_method=${s.wal_sync_method}, full_page_writes=${s.full_page_writes}`)

    if (wanted('guarded-pg')) {
      const scenario = { ...guarded('guarded-pg', 0, 'Guarded write, unlocked database, PostgreSQL store'), store: 'postgres' }
      const url = await server.createDatabase('bench_guarded')
      const bare = await startServer('bare', { cpu: placement(0, pin).server })
      try {
        const plugin = await startServer('plugin', { env: { LOCK_URL: url }, cpu: placement(0, pin).server })
        try {
          log(`${scenario.id}: ${scenario.title}`)
          results.push(await compareHttp(ctx, scenario, [bare, plugin]))
        } finally {
          await plugin.stop()
        }
      } finally {
        await bare.stop()
      }
    }

    if (wanted('ops-pg')) {
      log('ops-pg: durable lock + unlock operations per second, PostgreSQL store')
      await durableOps(ctx, results, {
        id: 'ops-pg',
        store: 'postgres',
        title: 'Durable lock + unlock operations per second, PostgreSQL store (each lock and each unlock is one operation)',
        floorEnv: { LOCK_URL: await server.createDatabase('bench_ops_floor') },
        decoratorEnv: { LOCK_URL: await server.createDatabase('bench_ops_decorator') },
        serverEnv: { LOCK_URL: await server.createDatabase('bench_ops_http') },
        // Issue 15: through the decorator, one round trip per operation.
        target: { opsPerSecond: 1500, paths: ['decorator'] }
      })
    }

    if (wanted('propagation-pg')) {
      log('propagation-pg: two processes sharing one PostgreSQL store')
      await propagation(ctx, results, {
        id: 'propagation-pg',
        store: 'postgres',
        title: 'Lock acknowledgment and propagation, 2 processes on one PostgreSQL',
        serverEnv: { LOCK_URL: await server.createDatabase('bench_propagation') }
      })
    }
  } finally {
    await server.stop()
    log('postgres: stopped')
  }
}

/** Start-up time and memory of a process opening an empty store and one with a million locks. */
async function startupScenario (ctx, results) {
  const { options, workDir, pin } = ctx
  if (options.only !== null && !options.only.has('startup')) return
  log(`startup: a process opening a store with ${options.million.toLocaleString('en')} locks`)
  const files = { empty: ctx.storeWith({ kind: 'delete', count: 0 }), million: ctx.storeWith({ kind: 'delete', count: options.million }) }
  const rounds = []
  const once = async (file, cpu, nodeArgs = []) => {
    const started = performance.now()
    const out = await runCommand(process.execPath, [...nodeArgs, join(BENCH, 'startup.js')], { cpu, env: { LOCK_FILE: file } })
    return { ...JSON.parse(out), wallMs: performance.now() - started }
  }
  for (let round = 0; round < Math.min(options.rounds, 3); round++) {
    const cores = placement(round, pin)
    const entry = { round, load: loadAverage()[0], empty: await once(files.empty, cores.server), million: await once(files.million, cores.server) }
    rounds.push(entry)
    log(`  startup round ${round + 1}: empty ${entry.empty.processToReadyMs.toFixed(0)} ms ${entry.empty.rssMiB.toFixed(0)} MiB; ` +
      `1M ${entry.million.processToReadyMs.toFixed(0)} ms, RSS ${entry.million.rssMiB.toFixed(0)} MiB (peak ${entry.million.peakRssMiB.toFixed(0)})`)
  }
  // One more, profiled, to say where the time goes.
  const profileDir = join(workDir, 'profile-startup')
  await once(files.million, placement(0, pin).server, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`])
  const profile = summarizeProfile(join(profileDir, readdirSync(profileDir)[0]), { root: ROOT, top: 10 })
  const pick = (which, field) => summary(rounds.map((r) => r[which][field]))
  const part = (which) => ({
    processToReadyMs: pick(which, 'processToReadyMs'),
    registerToReadyMs: pick(which, 'registerToReadyMs'),
    rssMiB: pick(which, 'rssMiB'),
    peakRssMiB: pick(which, 'peakRssMiB'),
    heapUsedMiB: pick(which, 'heapUsedMiB')
  })
  results.push({
    id: 'startup',
    group: 'startup',
    title: `Start-up of a process opening a store with ${options.million.toLocaleString('en')} locks`,
    lockRows: options.million,
    storeMiB: statSync(files.million).size / 1048576,
    empty: part('empty'),
    million: part('million'),
    target: { processToReadyMs: 1000, rssMiB: 150 },
    profile,
    rounds
  })
}

/**
 * A process with the plugin and nothing to do: its CPU time over quiet windows, beside a bare
 * server measured over the same windows. What it spends is its timers (the view's poll, the
 * heartbeat, housekeeping).
 */
async function idleScenario (ctx, results) {
  const { options, pin } = ctx
  if (options.only !== null && !options.only.has('idle')) return
  const windowSeconds = 10
  log(`idle: a plugin process, a bare one and a bare one with an empty 50 ms timer, nothing to do, ${options.rounds} windows of ${windowSeconds} s`)
  const core = placement(0, pin).server
  const processes = {}
  try {
    processes.bare = await startServer('bare', { cpu: core })
    // The floor of any poll at the plugin's quiet rate: waking up alone, 20 times a second.
    processes.timer = await startServer('bare', { cpu: core, env: { BENCH_EMPTY_TIMER: '50' } })
    processes.plugin = await startServer('plugin', { lockFile: ctx.storeWith({ kind: 'delete', count: 0 }), cpu: core })
    // Past start-up: the first heartbeats, the settling GCs, and V8's memory reducer (the full
    // GCs it runs once a process goes quiet, about 17 s after start here).
    await sleep(20_000)
    const rounds = []
    for (let round = 0; round < options.rounds; round++) {
      const before = Object.fromEntries(Object.entries(processes).map(([name, server]) => [name, cpuSecondsPrecise(server.pid)]))
      const started = performance.now()
      await sleep(windowSeconds * 1000)
      const seconds = (performance.now() - started) / 1000
      const entry = { round, load: loadAverage()[0], seconds }
      for (const [name, server] of Object.entries(processes)) entry[`${name}Percent`] = (cpuSecondsPrecise(server.pid) - before[name]) / seconds * 100
      rounds.push(entry)
      log(`  idle round ${round + 1}: plugin ${entry.pluginPercent.toFixed(3)} % of a core, bare ${entry.barePercent.toFixed(3)} %, empty timer ${entry.timerPercent.toFixed(3)} %`)
    }
    results.push({
      id: 'idle',
      group: 'idle',
      title: 'A process with the plugin and nothing to do (SQLite store, default options)',
      windowSeconds,
      plugin: summary(rounds.map((r) => r.pluginPercent)),
      bare: summary(rounds.map((r) => r.barePercent)),
      timer: summary(rounds.map((r) => r.timerPercent)),
      target: { maxPercent: 0.5 },
      rounds
    })
  } finally {
    await Promise.all(Object.values(processes).map((server) => server.stop()))
  }
}

/**
 * Another connection holds the SQLite store's write lock for 10 s (a backup tool in
 * BEGIN IMMEDIATE): how late the event loop runs meanwhile (test/bench/held-write-lock.js).
 */
async function heldWriteLockScenario (ctx, results) {
  const { options, pin } = ctx
  if (options.only !== null && !options.only.has('held-write-lock')) return
  const heldSeconds = 10
  const runs = Math.min(options.rounds, 3)
  log(`held-write-lock: another connection holds the store's write lock for ${heldSeconds} s, ${runs} runs`)
  const rounds = []
  for (let round = 0; round < runs; round++) {
    const out = await runCommand(process.execPath, [join(BENCH, 'held-write-lock.js'), `--seconds=${heldSeconds}`], { cpu: placement(round, pin).server })
    const entry = { round, load: loadAverage()[0], ...JSON.parse(out) }
    rounds.push(entry)
    log(`  held-write-lock round ${round + 1}: event-loop delay p99 ${entry.eventLoopDelayMs.p99} ms (max ${entry.eventLoopDelayMs.max}), ` +
      `unrelated GET p99 ${entry.unrelatedGetMs.p99} ms, lock request ${entry.lockRequest.status} after ${entry.lockRequest.ms} ms`)
  }
  const pick = (part, field) => summary(rounds.map((r) => r[part][field]))
  results.push({
    id: 'held-write-lock',
    group: 'held-write-lock',
    title: `Another connection holds the SQLite write lock for ${heldSeconds} s`,
    heldSeconds,
    eventLoopDelayMs: { p50: pick('eventLoopDelayMs', 'p50'), p99: pick('eventLoopDelayMs', 'p99'), max: pick('eventLoopDelayMs', 'max') },
    unrelatedGetMs: { p50: pick('unrelatedGetMs', 'p50'), p99: pick('unrelatedGetMs', 'p99'), max: pick('unrelatedGetMs', 'max') },
    lockRequestMs: summary(rounds.map((r) => r.lockRequest.ms)),
    lockRequestStatus: [...new Set(rounds.map((r) => r.lockRequest.status))],
    guardedWrites: rounds.map((r) => r.guardedWrites),
    target: { eventLoopDelayP99Ms: 20 },
    rounds
  })
}

/** The guarded-route profiles: the plain case, and the row that adds namespace locks. */
const GUARD_PROFILES = [
  { id: 'guard-profile', locks: { kind: 'delete', count: 0 }, path: '/v1/database/bench', title: 'CPU profile of the plugin server on the guarded write route' },
  { id: 'guard-profile-1m', locks: { kind: 'delete', count: 1_000_000 }, path: '/v1/database/bench', title: 'CPU profile of the plugin server on the guarded write route, 1,000,000 lock rows' },
  {
    id: 'guard-profile-ns10k',
    locks: { kind: 'namespace', count: 10_000 },
    path: '/v1/database/free%2Fbench%2Feu',
    title: 'CPU profile of the plugin server on the guarded write route, 10,000 namespace locks on other names'
  }
]

/** Where a guarded request's CPU goes in the plugin server: a profile under load. */
async function guardProfile (ctx, results) {
  const { options, workDir, pin, generator } = ctx
  for (const profile of GUARD_PROFILES) {
    if (options.only !== null && !options.only.has(profile.id)) continue
    log(`${profile.id}: the plugin server under load with --cpu-prof`)
    const file = join(workDir, `${profile.id}.cpuprofile`)
    const cores = placement(0, pin)
    const server = await startServer('plugin', { lockFile: ctx.storeWith(profile.locks), cpu: cores.server, env: { BENCH_CPU_PROFILE: file } })
    let requests
    try {
      const result = await runLoad({
        generator, workDir, url: `${server.url}${profile.path}`, method: 'POST', body: JSON.stringify({ value: 1 }), seconds: options.seconds, cpu: cores.load
      })
      requests = result.requests
    } finally {
      await server.stop()
    }
    const all = summarizeProfile(file, { root: ROOT, top: 12 })
    const plugin = summarizeProfile(file, { root: ROOT, top: 12, match: /dist\/lib\// })
    results.push({ id: profile.id, group: 'profile', title: profile.title, requests, all, plugin })
  }
}

/**
 * Where an unguarded request's CPU goes: the bare and the plugin server profiled at the same time
 * under the same load on the unguarded POST route, so their functions can be compared per request.
 */
async function unguardedProfile (ctx, results) {
  const { options, workDir, pin, generator } = ctx
  if (options.only !== null && !options.only.has('unguarded-profile')) return
  log('unguarded-profile: the bare and the plugin server on the unguarded POST route with --cpu-prof')
  const profiles = {}
  const servers = []
  try {
    for (const [index, mode] of ['bare', 'plugin'].entries()) {
      const file = join(workDir, `unguarded-${mode}.cpuprofile`)
      const cores = placement(index, pin)
      const server = await startServer(mode, { lockFile: ctx.storeWith({ kind: 'delete', count: 0 }), cpu: cores.server, env: { BENCH_CPU_PROFILE: file } })
      servers.push({ mode, server, file, cores })
    }
    const loads = await Promise.all(servers.map(({ server, cores }) => runLoad({
      generator, workDir, url: `${server.url}/v1/database/bench/rows`, method: 'POST', body: JSON.stringify({ value: 1 }), seconds: options.seconds, cpu: cores.load
    })))
    await Promise.all(servers.map(({ server }) => server.stop()))
    servers.forEach(({ mode, file }, i) => {
      profiles[mode] = {
        requests: loads[i].requests,
        all: summarizeProfile(file, { root: ROOT, top: 15 }),
        plugin: summarizeProfile(file, { root: ROOT, top: 12, match: /dist\/lib\// })
      }
    })
  } finally {
    await Promise.allSettled(servers.map(({ server }) => server.stop()))
  }
  results.push({ id: 'unguarded-profile', group: 'profile', title: 'CPU profiles of the bare and the plugin server on the unguarded POST route, loaded at once', ...profiles })
}

function machine (generator, pin) {
  const cpuList = cpus()
  let fsType = 'unknown'
  try {
    fsType = execFileSync('stat', ['-f', '-c', '%T', process.env.BENCH_DIR ?? tmpdir()]).toString().trim()
    if (fsType === 'ext2/ext3') fsType = 'ext2/3/4' // one magic number for the family
  } catch {}
  let wrkVersion = null
  if (generator === 'wrk') {
    try {
      execFileSync('wrk', ['--version'], { stdio: 'pipe' })
    } catch (err) {
      wrkVersion = /wrk (\S+)/.exec(String(err.stdout))?.[1] ?? null
    }
  }
  return {
    cpuModel: cpuList[0]?.model ?? 'unknown',
    cores: cpuList.length,
    memoryGiB: totalmem() / 2 ** 30,
    node: process.version,
    kernel: release(),
    dataDirFs: fsType,
    loadGenerator: generator === 'wrk' ? `wrk ${wrkVersion ?? ''}`.trim() : `autocannon ${require(join(ROOT, 'node_modules', 'autocannon', 'package.json')).version}`,
    fastify: require(join(ROOT, 'node_modules', 'fastify', 'package.json')).version,
    pinned: pin
  }
}

/** Which code was measured: the commit, and whether lib/ had uncommitted changes. */
function revision () {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim()
    const changed = execFileSync('git', ['status', '--porcelain', '--', 'lib', 'types'], { cwd: ROOT }).toString().trim() !== ''
    return { commit, uncommittedLibChanges: changed }
  } catch {
    return { commit: null, uncommittedLibChanges: null }
  }
}

/**
 * --merge=FILE (a benchmarks.json): the scenarios this run did not measure are carried over
 * from FILE, each marked with the run it comes from, so that a partial run can publish a
 * complete report that says which rows are older.
 */
function carryOver (file, meta, results) {
  const previous = JSON.parse(readFileSync(file, 'utf8'))
  const measured = new Set(results.map((r) => r.id))
  const from = { date: previous.meta.date, commit: previous.meta.commit, command: previous.meta.command }
  const carried = []
  for (const scenario of previous.scenarios) {
    if (measured.has(scenario.id)) continue
    const { verdict, ...result } = scenario
    results.push({ ...result, carriedFrom: scenario.carriedFrom ?? from })
    carried.push(scenario.id)
  }
  if (meta.postgres === undefined && previous.meta.postgres !== undefined && carried.some((id) => id.endsWith('-pg'))) meta.postgres = previous.meta.postgres
  if (carried.length > 0) log(`carried over from ${file} (${from.date}, commit ${from.commit}): ${carried.join(' ')}`)
}

const started = performance.now()
function log (line) {
  process.stdout.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`)
}

async function main () {
  const options = parseArgs(process.argv.slice(2))
  checkPrerequisites()
  const generator = pickGenerator(options.load)
  const pin = commandExists('taskset') && cpus().length >= 2
  if (generator !== 'wrk') log('wrk is not installed (apt-get install -y wrk): using autocannon, which needs more CPU per request than the servers it loads')
  if (!pin) log('taskset or a second core is missing: processes are not pinned, and the figures are noisier')
  const workDir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'fastify-database-lock-bench-'))
  const stores = new Map()
  const ctx = {
    options,
    generator,
    pin,
    workDir,
    /** A store file holding `locks.count` locks of `locks.kind` (seed.js), seeded once per run and shared by its users. */
    storeWith (locks) {
      const key = `${locks.kind}-${locks.count}`
      if (!stores.has(key)) {
        const file = join(workDir, `store-${key}.db`)
        const at = performance.now()
        seedStore(file, locks)
        if (locks.count >= 100_000) log(`seeded ${locks.count.toLocaleString('en')} ${locks.kind} locks in ${((performance.now() - at) / 1000).toFixed(1)} s`)
        stores.set(key, file)
      }
      return stores.get(key)
    }
  }
  const meta = {
    date: new Date().toISOString(),
    ...revision(),
    command: `node test/bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    rounds: options.rounds,
    secondsPerRound: options.seconds,
    loadAtStart: loadAverage(),
    machine: machine(generator, pin)
  }
  log(`load average ${meta.loadAtStart.join(' ')}; ${meta.machine.cores} cores; ${meta.machine.loadGenerator}; data in ${workDir}`)
  const results = []
  try {
    await httpScenarios(ctx, results)
    await lockOpsScenario(ctx, results)
    await propagationScenario(ctx, results)
    await startupScenario(ctx, results)
    await idleScenario(ctx, results)
    await heldWriteLockScenario(ctx, results)
    await guardProfile(ctx, results)
    await unguardedProfile(ctx, results)
    await postgresScenarios(ctx, results, meta)
  } finally {
    rmSync(workDir, { recursive: true, force: true })
  }
  meta.loadAtEnd = loadAverage()
  meta.durationSeconds = (performance.now() - started) / 1000
  if (options.merge !== null) carryOver(options.merge, meta, results)
  const full = options.only === null
  const out = options.out ?? (full ? join(ROOT, 'docs') : null)
  if (out === null) {
    process.stdout.write(JSON.stringify({ meta, results }, null, 2) + '\n')
  } else {
    mkdirSync(out, { recursive: true })
    const written = writeReport(out, meta, results)
    log(`wrote ${written.join(', ')}`)
  }
  log(`done in ${meta.durationSeconds.toFixed(0)} s; load average ${meta.loadAtEnd.join(' ')}`)
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err.stack}\n`)
  process.exit(1)
})
