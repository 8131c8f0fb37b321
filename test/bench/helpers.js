'use strict'
// Shared by the benchmark: child processes (optionally pinned to a core), CPU time
// from /proc, and small statistics. Linux only (/proc, taskset).
const { execFileSync, spawn } = require('node:child_process')
const { readdirSync, readFileSync } = require('node:fs')
const { join } = require('node:path')

const ROOT = join(__dirname, '..', '..')
// BENCH_DIST points the plugin side at another build (a scratch copy with a change to measure).
const DIST = process.env.BENCH_DIST ?? join(ROOT, 'dist', 'lib', 'index.js')

function commandExists (command) {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100
  } catch {
    return 100
  }
})()

/** CPU seconds (user + system, all threads) a live process has used so far, in 1/CLK_TCK steps. */
function cpuSeconds (pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}

/** The same in nanoseconds: each thread's run time from /proc/PID/task/TID/schedstat, summed. */
function cpuSecondsPrecise (pid) {
  let ns = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return ns / 1e9
}

/** Resident and peak resident memory of a live process, MiB. */
function memoryOf (pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 }
}

/** The command line that runs `args` on `cpu` (null: anywhere). */
function pinned (cpu, command, args) {
  if (cpu === null || cpu === undefined) return [command, args]
  return ['taskset', ['-c', String(cpu), command, ...args]]
}

/** Moves a running process (every thread) to `cpu`. */
function repin (pid, cpu) {
  if (cpu === null || cpu === undefined) return
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' })
}

/**
 * Starts a Node script as a child and resolves once a line of its stdout
 * matches `ready`; resolves with the match, the child and a stop function.
 */
function startNode (script, { env = {}, cpu = null, nodeArgs = [], ready = /listening on (http:\/\/\S+)/, timeout = 120_000 } = {}) {
  const [command, args] = pinned(cpu, process.execPath, [...nodeArgs, script])
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const collect = (chunk) => { output += chunk.toString() }
  child.stdout.on('data', collect)
  child.stderr.on('data', collect)
  const stop = async (signal = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop('SIGKILL')
      reject(new Error(`${script} was not ready in ${timeout} ms:\n${output}`))
    }, timeout)
    child.stdout.on('data', () => {
      const match = ready.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        resolve({ match, child, pid: child.pid, stop, output: () => output })
      }
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${script} exited (${code ?? signal}) before it was ready:\n${output}`))
    })
  })
}

/** Runs a command to its end; resolves with its stdout, rejects with its output on failure. */
function runCommand (command, args, { env = {}, cpu = null } = {}) {
  const [cmd, argv] = pinned(cpu, command, args)
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk) => { stderr += chunk.toString() })
    child.once('error', reject)
    child.once('exit', (code) => {
      if (code === 0) resolve(stdout)
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${stderr}${stdout}`))
    })
  })
}

function sleep (ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function quantile (values, q) {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const position = (sorted.length - 1) * q
  const low = Math.floor(position)
  const high = Math.ceil(position)
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low)
}

/** Median and range of a list of round results. */
function summary (values) {
  return { median: quantile(values, 0.5), min: Math.min(...values), max: Math.max(...values), rounds: values.length }
}

function loadAverage () {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number)
}

module.exports = {
  ROOT,
  DIST,
  CLOCK_TICKS,
  commandExists,
  cpuSeconds,
  cpuSecondsPrecise,
  memoryOf,
  pinned,
  repin,
  startNode,
  runCommand,
  sleep,
  quantile,
  summary,
  loadAverage
}
