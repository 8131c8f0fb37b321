'use strict'
// The HTTP load generator, each run in its own process: wrk (Debian package
// "wrk") when installed, else autocannon (a devDependency), which is heavier
// and so needs a core of its own more than wrk does.
const { writeFileSync } = require('node:fs')
const { join } = require('node:path')
const { ROOT, commandExists, runCommand } = require('./helpers.js')

const AUTOCANNON = join(ROOT, 'node_modules', 'autocannon', 'autocannon.js')

function pickGenerator (wanted) {
  if (wanted === 'autocannon') return 'autocannon'
  if (commandExists('wrk')) return 'wrk'
  if (wanted === 'wrk') {
    throw new Error('--load=wrk was asked for, but wrk is not installed; install it with `apt-get install -y wrk` or drop --load to use autocannon')
  }
  return 'autocannon'
}

const scripts = new Map()

/** A wrk Lua script that sends `method` with `body` (JSON) on every request. */
function wrkScript (workDir, method, body) {
  const key = `${method} ${body ?? ''}`
  if (!scripts.has(key)) {
    const file = join(workDir, `wrk-${scripts.size}.lua`)
    const lines = [`wrk.method = ${JSON.stringify(method)}`]
    if (body !== undefined) {
      lines.push(`wrk.body = ${JSON.stringify(body)}`, 'wrk.headers["Content-Type"] = "application/json"')
    }
    writeFileSync(file, lines.join('\n') + '\n')
    scripts.set(key, file)
  }
  return scripts.get(key)
}

/** wrk's "1.5k" style counts. */
function wrkNumber (text) {
  const match = /^([\d.]+)([kMG]?)$/.exec(text)
  if (match === null) return NaN
  return Number(match[1]) * ({ '': 1, k: 1e3, M: 1e6, G: 1e9 })[match[2]]
}

function parseWrk (out) {
  const total = /(\d+) requests in ([\d.]+)(ms|s|m)/.exec(out)
  if (total === null) throw new Error(`could not read wrk's output:\n${out}`)
  const seconds = Number(total[2]) * ({ ms: 0.001, s: 1, m: 60 })[total[3]]
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const errors = socket === null ? 0 : socket.slice(1).map(Number).reduce((a, b) => a + b, 0)
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)/m.exec(out)
  const p99ms = p99 === null ? NaN : Number(p99[1]) * ({ us: 0.001, ms: 1, s: 1000 })[p99[2]]
  return { requests: Number(total[1]), seconds, non2xx, errors, p99ms, transfer: wrkNumber(/Transfer\/sec:\s+(\S+)/.exec(out)?.[1] ?? '') }
}

/**
 * Sends requests for `seconds` over `connections` connections and reports how
 * many completed, how many were not 2xx/3xx (the refusal paths expect all of
 * them to be) and the 99th percentile latency. `workDir` holds wrk's Lua scripts.
 */
async function runLoad ({ generator, workDir, url, method = 'GET', body, seconds, connections = 32, cpu = null }) {
  if (generator === 'wrk') {
    const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', wrkScript(workDir, method, body), url]
    return { generator, ...parseWrk(await runCommand('wrk', args, { cpu })) }
  }
  const args = [AUTOCANNON, '-n', '-j', '-c', String(connections), '-d', String(seconds), '-m', method]
  if (body !== undefined) args.push('-b', body, '-H', 'content-type=application/json')
  args.push(url)
  const result = JSON.parse(await runCommand(process.execPath, args, { cpu }))
  return {
    generator,
    requests: result.requests.total,
    seconds: result.duration,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    p99ms: result.latency.p99
  }
}

module.exports = { pickGenerator, runLoad }
