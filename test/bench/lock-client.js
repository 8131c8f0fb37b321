'use strict'
// An HTTP client of the lock routes, in a process of its own; prints one JSON line.
// BENCH_CLIENT=ops: BENCH_CONCURRENCY workers lock and unlock a database each
// through BENCH_URL for BENCH_SECONDS. BENCH_CLIENT=propagation: BENCH_CYCLES
// times, lock through BENCH_URL (process A), time the acknowledgment, then ask
// BENCH_OTHER_URL (process B) to delete until it refuses; unlock through A and
// ask B until it lets the delete through again.
const http = require('node:http')
const { quantile } = require('./helpers.js')

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
const adminKey = process.env.ADMIN_KEY

/** One request; resolves with its status once the whole response has arrived. */
function send (base, method, path, body) {
  const url = new URL(path, base)
  const payload = body === undefined ? undefined : JSON.stringify(body)
  const headers = { 'x-admin-key': adminKey }
  if (payload !== undefined) {
    headers['content-type'] = 'application/json'
    headers['content-length'] = Buffer.byteLength(payload)
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host: url.hostname, port: url.port, method, path: url.pathname, headers }, (res) => {
      res.resume()
      res.once('end', () => resolve(res.statusCode))
      res.once('error', reject)
    })
    req.once('error', reject)
    req.end(payload)
  })
}

async function expectOk (base, method, path, body) {
  const status = await send(base, method, path, body)
  if (status !== 200) throw new Error(`${method} ${path} answered ${status}`)
}

function spread (values) {
  return { p50ms: quantile(values, 0.5), p99ms: quantile(values, 0.99), maxms: Math.max(...values), samples: values.length }
}

async function ops () {
  const base = process.env.BENCH_URL
  const seconds = Number(process.env.BENCH_SECONDS || 3)
  const concurrency = Number(process.env.BENCH_CONCURRENCY || 4)
  const latencies = []
  const started = performance.now()
  const end = started + seconds * 1000
  let done = 0
  async function worker (w) {
    const path = `/v1/database/bench-${w}`
    while (performance.now() < end) {
      let at = performance.now()
      await expectOk(base, 'POST', `${path}/lock`, { mode: 'delete', reason: 'bench' })
      latencies.push(performance.now() - at)
      at = performance.now()
      await expectOk(base, 'POST', `${path}/unlock`, { mode: 'delete' })
      latencies.push(performance.now() - at)
      done += 2
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)))
  const elapsed = (performance.now() - started) / 1000
  return { ops: done, seconds: elapsed, opsPerSecond: done / elapsed, concurrency, ...spread(latencies) }
}

async function propagation () {
  const a = process.env.BENCH_URL
  const b = process.env.BENCH_OTHER_URL
  const cycles = Number(process.env.BENCH_CYCLES || 50)
  const acks = []
  const refusedAfter = []
  const liftedAfter = []
  let letThroughAfterAck = 0
  for (let i = 0; i < cycles; i++) {
    const database = `/v1/database/bench-${i % 100}`
    const asked = performance.now()
    await expectOk(a, 'POST', `${database}/lock`, { mode: 'delete', reason: 'bench' })
    const acked = performance.now()
    acks.push(acked - asked)
    // The guarantee: B refuses from the moment A acknowledged. Count any delete B still lets through.
    for (;;) {
      const status = await send(b, 'DELETE', database)
      if (status === 403) break
      if (status !== 200) throw new Error(`DELETE ${database} on B answered ${status}`)
      letThroughAfterAck++
    }
    refusedAfter.push(performance.now() - acked)
    await expectOk(a, 'POST', `${database}/unlock`, { mode: 'delete' })
    const unlocked = performance.now()
    for (;;) {
      const status = await send(b, 'DELETE', database)
      if (status === 200) break
      if (status !== 403) throw new Error(`DELETE ${database} on B answered ${status}`)
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    liftedAfter.push(performance.now() - unlocked)
  }
  return { cycles, ack: spread(acks), refused: spread(refusedAfter), lifted: spread(liftedAfter), letThroughAfterAck }
}

async function main () {
  const mode = process.env.BENCH_CLIENT
  if (mode !== 'ops' && mode !== 'propagation') throw new Error('BENCH_CLIENT must be "ops" or "propagation"')
  const outcome = mode === 'ops' ? await ops() : await propagation()
  agent.destroy()
  process.stdout.write(JSON.stringify(outcome) + '\n')
}

main().catch((err) => {
  process.stderr.write(`lock-client failed: ${err.stack}\n`)
  process.exit(1)
})
