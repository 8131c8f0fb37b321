// The `dblock` command against a real demo service listening on 127.0.0.1: run() in this
// process for parsing, output and exit codes; the built dist/lib/cli.js spawned for exec
// (its command inherits stdio and signals) and for the bin itself. Config-file cases run in temp dirs.
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { run } from '../lib/cli/run.js'
import type { LockEventPage, LockStatus } from '../types/index.js'
import { ADMIN_KEY, tempDir } from './helpers/app.js'
import { call, ROOT, startServerProcess } from './helpers/processes.js'
import { until } from './helpers/wait.js'

const CLI = join(ROOT, 'dist', 'lib', 'cli.js')

interface Result {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

interface Running {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Resolves once `pattern` shows up in the output (either stream). */
  waitFor: (pattern: RegExp) => Promise<void>
  exited: Promise<Result>
  /** The exit, or a failure (and SIGKILL) after `ms`: a broken signal path must not hang the run. */
  exitWithin: (ms: number) => Promise<Result>
}

interface RunOptions {
  env?: Record<string, string>
  cwd?: string
}

/** Starts dblock with only the DBLOCK_* variables the test gives (none leak in from the outer shell). */
function start (args: string[], options: RunOptions = {}): Running {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('DBLOCK_') && value !== undefined) env[key] = value
  }
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  const waiters: Array<{ pattern: RegExp, resolve: () => void }> = []
  const check = () => {
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(stdout + stderr)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve()
      }
    }
  }
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); check() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); check() })
  const exited = new Promise<Result>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitFor: (pattern) => new Promise<void>((resolve, reject) => {
      waiters.push({ pattern, resolve })
      check()
      exited.then((result) => reject(new Error(`dblock exited (${String(result.code)}) before ${pattern}:\n${result.stdout}${result.stderr}`)), reject)
    }),
    exited,
    exitWithin: (ms) => {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL')
          reject(new Error(`dblock did not exit within ${ms} ms:\n${stdout}${stderr}`))
        }, ms)
      })
      return Promise.race([exited, timeout]).finally(() => clearTimeout(timer))
    }
  }
}

/** The built bin in a child process. */
const dblockBin = (args: string[], options: RunOptions = {}): Promise<Result> => start(args, options).exited

/** run() in this process, with only the environment the test gives. */
async function dblock (args: string[], options: RunOptions = {}): Promise<Result> {
  let stdout = ''
  let stderr = ''
  const code = await run(args, {
    stdout: (text) => { stdout += text },
    stderr: (text) => { stderr += text },
    env: options.env ?? {},
    cwd: options.cwd ?? ROOT,
    signals: new EventEmitter()
  })
  return { code, signal: null, stdout, stderr }
}

/** A URL where nothing listens: a port bound, then let go. */
async function deadUrl (): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}`
}

function nodeScript (source: string): string[] {
  return [process.execPath, '-e', source]
}

let url = ''
let dead = ''
const alice = () => ({ DBLOCK_SERVER: url, DBLOCK_TOKEN: 'alice-token' })

async function status (database: string): Promise<LockStatus> {
  const res = await call(`${url}/v1/database/${encodeURIComponent(database)}/lock`, 'GET', { user: 'alice' })
  if (res.status !== 200) throw new Error(`status of ${database}: ${res.status} ${res.text}`)
  return res.json as unknown as LockStatus
}

async function create (...names: string[]): Promise<void> {
  for (const name of names) {
    const res = await call(`${url}/v1/database/${encodeURIComponent(name)}`, 'POST', { user: 'alice' })
    if (res.status !== 201) throw new Error(`creating ${name}: ${res.status} ${res.text}`)
  }
}

t.before(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first with npx tsc -p tsconfig.build.json`)
  const server = await startServerProcess(t, { DATA_DIR: tempDir(t), ADMIN_KEY })
  url = server.url
  dead = await deadUrl()
})

t.test('help, and usage errors exit 2 with a hint', async (t) => {
  const help = await dblock(['--help'])
  t.equal(help.code, 0)
  for (const command of ['lock', 'unlock', 'status', 'events', 'list', 'exec']) t.match(help.stdout, `dblock ${command}`)
  t.match(help.stdout, /DBLOCK_TOKEN/)
  const execHelp = await dblock(['exec', '--help'])
  t.equal(execHelp.code, 0)
  t.match(execHelp.stdout, /^Usage: dblock exec .*-- COMMAND/)

  const cases: Array<[string, string[], RegExp]> = [
    ['no command', [], /which command\?/],
    ['unknown command', ['frob'], /unknown command "frob"/],
    ['unknown flag', ['status', 'prod', '--force'], /unknown option --force/],
    ['flag of another command', ['status', 'prod', '--ttl', '5'], /--ttl does not apply to status/],
    ['bad mode', ['lock', 'prod', '--mode', 'read'], /--mode must be delete or write/],
    ['bad ttl', ['lock', 'prod', '--ttl', '1.5'], /--ttl must be a whole number/],
    ['bad event type', ['events', 'prod', '--type', 'deleted'],
      /--type must be one of locked, relocked, unlocked, expired, blocked, conflict, unlock-requested, unlock-approved, unlock-cancelled; got "deleted"/],
    ['limit too high', ['events', 'prod', '--limit', '501'], /--limit must be a whole number from 1 to 500/],
    ['limit zero', ['events', 'prod', '--limit', '0'], /--limit must be a whole number from 1 to 500/],
    ['events flag on another command', ['status', 'prod', '--type', 'locked'], /--type does not apply to status/],
    ['empty cursor', ['events', 'prod', '--cursor', ''], /--cursor needs the cursor/],
    ['missing database', ['lock', '--no-config'], /which database\?/],
    ['two databases', ['status', 'prod', 'stage'], /unexpected argument "stage"/],
    ['exec without --', ['exec', 'prod', 'true'], /put the command after --/],
    ['exec without a command', ['exec', 'prod', '--'], /exec needs a command after --/],
    ['no server', ['status', 'prod', '--no-config'], /no server: pass --server URL, set DBLOCK_SERVER/],
    ['not a URL', ['status', 'prod', '--server', 'localhost:3000'], /http:\/\/ or https:\/\//]
  ]
  for (const [label, args, message] of cases) {
    const env = label === 'no server' ? {} : alice()
    const result = await dblock(args, { env })
    t.equal(result.code, 2, `${label}: exit 2`)
    t.match(result.stderr, message, `${label}: says what is wrong`)
    t.match(result.stderr, /Run "dblock (\w+ )?--help" for usage/, `${label}: hints at --help`)
    t.equal(result.stdout, '', `${label}: nothing on stdout`)
  }
})

t.test('the built bin: help, version, a lock and its exit codes', async (t) => {
  const help = await dblockBin(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /^dblock: lock databases/)
  const version = await dblockBin(['--version'])
  t.equal(version.code, 0)
  t.match(version.stdout, /^\d+\.\d+\.\d+/)
  const usage = await dblockBin(['status', 'prod', '--force'], { env: alice() })
  t.equal(usage.code, 2)
  t.match(usage.stderr, /unknown option --force/)
  await create('cli-bin')
  const lock = await dblockBin(['lock', 'cli-bin'], { env: alice() })
  t.equal(lock.code, 0, lock.stderr)
  t.match(lock.stdout, /^cli-bin: locked \(delete\) by alice/)
  t.equal((await status('cli-bin')).locked, true)
  const refused = await dblockBin(['unlock', 'cli-bin'], { env: { DBLOCK_SERVER: url, DBLOCK_TOKEN: 'bob-token' } })
  t.equal(refused.code, 1)
  t.equal((await dblockBin(['status', 'cli-bin'], { env: { DBLOCK_SERVER: dead, DBLOCK_TOKEN: 'alice-token' } })).code, 3)
})

t.test('lock, status and unlock: one line per lock, --json the server body', async (t) => {
  await create('cli-basic')
  const lock = await dblock(['lock', 'cli-basic', '--reason', 'prod db'], { env: alice() })
  t.equal(lock.code, 0, lock.stderr)
  t.match(lock.stdout, /^cli-basic: locked \(delete\) by alice since \d{4}-\d\d-\d\d \d\d:\d\d UTC — "prod db"\n$/)
  t.match(await status('cli-basic'), { locked: true, locks: [{ mode: 'delete', reason: 'prod db' }] }, 'the server holds it')

  const write = await dblock(['lock', 'cli-basic', '--mode', 'write', '--ttl', '600'], { env: alice() })
  t.equal(write.code, 0, write.stderr)
  const lines = write.stdout.trim().split('\n')
  t.equal(lines.length, 2, 'two locks, two lines')
  t.match(lines[1], /^cli-basic: locked \(write\) by alice since .* UTC, until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/)

  const json = await dblock(['status', 'cli-basic', '--json'], { env: alice() })
  t.equal(json.code, 0)
  t.same(JSON.parse(json.stdout), await status('cli-basic'), '--json prints the server body as is')

  const unlockWrite = await dblock(['unlock', 'cli-basic', '--mode', 'write'], { env: alice() })
  t.equal(unlockWrite.code, 0)
  t.match(unlockWrite.stdout, /^cli-basic: locked \(delete\)/, 'the delete lock stays')
  const unlock = await dblock(['unlock', 'cli-basic'], { env: alice() })
  t.equal(unlock.code, 0)
  t.equal(unlock.stdout, 'cli-basic: unlocked\n')
  t.same(await status('cli-basic'), { database: 'cli-basic', locked: false, locks: [] })
  t.equal((await dblock(['status', 'cli-basic'], { env: alice() })).stdout, 'cli-basic: unlocked\n')
})

t.test('list needs the admin key and shows every lock', async (t) => {
  await create('cli-list-a', 'cli-list/b')
  t.equal((await dblock(['lock', 'cli-list-a'], { env: alice() })).code, 0)
  t.equal((await dblock(['lock', 'cli-list/b', '--mode', 'write'], { env: alice() })).code, 0, 'a "/" in a name works')

  const refused = await dblock(['list'], { env: alice() })
  t.equal(refused.code, 1)
  t.match(refused.stderr, /admin key.*\(ADMIN_REQUIRED\)/)

  const admin = { DBLOCK_SERVER: url, DBLOCK_ADMIN_KEY: ADMIN_KEY }
  const listed = await dblock(['list'], { env: admin })
  t.equal(listed.code, 0, listed.stderr)
  t.match(listed.stdout, /^cli-list-a: locked \(delete\) by alice/m)
  t.match(listed.stdout, /^cli-list\/b: locked \(write\) by alice .*until/m)
  const json = await dblock(['list', '--json'], { env: admin })
  const body = JSON.parse(json.stdout) as { locks: Array<{ database: string, mode: string }>, nextCursor: null }
  t.equal(body.nextCursor, null)
  t.same(body.locks.filter((lock) => lock.database.startsWith('cli-list')).map((lock) => `${lock.database}:${lock.mode}`),
    ['cli-list-a:delete', 'cli-list/b:write'])
})

t.test('the server refusing exits 1 with its message', async (t) => {
  await create('cli-refused')
  const bob = await dblock(['lock', 'cli-refused'], { env: { DBLOCK_SERVER: url, DBLOCK_TOKEN: 'bob-token' } })
  t.equal(bob.code, 1)
  t.match(bob.stderr, /^dblock: Only the owner of database "cli-refused" .*\(NOT_DATABASE_OWNER\)$/m)
  t.equal((await status('cli-refused')).locked, false, 'nothing was locked')

  const missing = await dblock(['status', 'cli-nope'], { env: alice() })
  t.equal(missing.code, 1)
  t.match(missing.stderr, /does not exist.*DATABASE_NOT_FOUND/)

  const anonymous = await dblock(['status', 'cli-refused'], { env: { DBLOCK_SERVER: url } })
  t.equal(anonymous.code, 1)
  t.match(anonymous.stderr, /AUTHENTICATION_REQUIRED[\s\S]*set DBLOCK_TOKEN/, 'says which credentials to set')

  const json = await dblock(['lock', 'cli-refused', '--json'], { env: { DBLOCK_SERVER: url, DBLOCK_TOKEN: 'bob-token' } })
  t.equal(json.code, 1)
  t.match(JSON.parse(json.stderr), { statusCode: 403, code: 'NOT_DATABASE_OWNER', error: 'Forbidden' }, '--json errors are JSON on stderr')
  const textAgain = await dblock(['lock', 'cli-refused'], { env: { DBLOCK_SERVER: url, DBLOCK_TOKEN: 'bob-token' } })
  t.match(textAgain.stderr, /^dblock: Only the owner/, 'the next run prints text again: run() keeps no state between calls')
})

t.test('a server that cannot be reached exits 3', async (t) => {
  const result = await dblock(['status', 'prod'], { env: { DBLOCK_SERVER: dead, DBLOCK_TOKEN: 'alice-token' } })
  t.equal(result.code, 3)
  t.match(result.stderr, /cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED \(SERVER_UNREACHABLE\)/)

  const dir = tempDir(t)
  const marker = join(dir, 'ran')
  const exec = await dblock(['exec', 'prod', '--', ...nodeScript(`require('fs').writeFileSync(${JSON.stringify(marker)}, '')`)],
    { env: { DBLOCK_SERVER: dead, DBLOCK_TOKEN: 'alice-token' } })
  t.equal(exec.code, 3)
  t.notOk(existsSync(marker), 'exec did not run the command without its lock')
})

t.test('dblock.json supplies server and database, found from a nested directory', async (t) => {
  await create('cli-config')
  const project = tempDir(t)
  writeFileSync(join(project, 'dblock.json'), JSON.stringify({ server: url, database: 'cli-config' }))
  const nested = join(project, 'a', 'b', 'c')
  mkdirSync(nested, { recursive: true })
  const token = { DBLOCK_TOKEN: 'alice-token' }

  const lock = await dblock(['lock', '--reason', 'from config'], { cwd: nested, env: token })
  t.equal(lock.code, 0, lock.stderr)
  t.match(lock.stdout, /^cli-config: locked \(delete\)/)
  t.match(await status('cli-config'), { locked: true, locks: [{ reason: 'from config' }] })

  const noConfig = await dblock(['status', '--no-config'], { cwd: nested, env: token })
  t.equal(noConfig.code, 2, '--no-config ignores the file')
  t.match(noConfig.stderr, /no server/)
  const noDatabase = await dblock(['status', '--no-config', '--server', url], { cwd: nested, env: token })
  t.equal(noDatabase.code, 2)
  t.match(noDatabase.stderr, /which database\?/)

  const elsewhere = tempDir(t)
  const explicit = await dblock(['unlock', '--config', join(project, 'dblock.json')], { cwd: elsewhere, env: token })
  t.equal(explicit.code, 0, explicit.stderr)
  t.equal(explicit.stdout, 'cli-config: unlocked\n', '--config FILE is read from anywhere')

  const bad = tempDir(t)
  writeFileSync(join(bad, 'dblock.json'), JSON.stringify({ server: url, token: 'alice-token' }))
  const refused = await dblock(['status', 'cli-config'], { cwd: bad, env: token })
  t.equal(refused.code, 2)
  t.match(refused.stderr, /may not hold "token".*DBLOCK_TOKEN/)
  writeFileSync(join(bad, 'dblock.json'), '{"server": ')
  t.equal((await dblock(['status', 'cli-config'], { cwd: bad, env: token })).code, 2, 'broken JSON is a usage error')
  t.equal((await dblock(['status', 'cli-config', '--config', join(bad, 'missing.json')], { env: token })).code, 2)
})

t.test('flags beat the environment, the environment beats the file', async (t) => {
  await create('cli-order')
  const project = tempDir(t)
  const token = { DBLOCK_TOKEN: 'alice-token' }

  writeFileSync(join(project, 'dblock.json'), JSON.stringify({ server: dead, database: 'cli-nope' }))
  const envOverFile = await dblock(['status', 'cli-order'], { cwd: project, env: { ...token, DBLOCK_SERVER: url } })
  t.equal(envOverFile.code, 0, 'DBLOCK_SERVER beats the file')
  t.equal(envOverFile.stdout, 'cli-order: unlocked\n', 'the database argument beats the file')
  const flagOverEnv = await dblock(['status', 'cli-order', '--server', url], { cwd: project, env: { ...token, DBLOCK_SERVER: dead } })
  t.equal(flagOverEnv.code, 0, '--server beats DBLOCK_SERVER')
  const tokenFlag = await dblock(['lock', 'cli-order', '--server', url, '--token', 'alice-token'], { cwd: project, env: { DBLOCK_TOKEN: 'bob-token' } })
  t.equal(tokenFlag.code, 0, '--token beats DBLOCK_TOKEN')

  writeFileSync(join(project, 'dblock.json'), JSON.stringify({ server: url, database: 'cli-order' }))
  t.equal((await dblock(['status'], { cwd: project, env: token })).code, 0, 'the file alone works')
  t.equal((await dblock(['status'], { cwd: project, env: { ...token, DBLOCK_SERVER: dead } })).code, 3, 'the environment wins over the file')
  await call(`${url}/v1/database/cli-order/unlock`, 'POST', { user: 'alice' })
})

/** Reads `dblock events … --json` until `check` holds: refusals are written after a one-second window. */
async function eventsUntil (args: string[], env: Record<string, string>, check: (page: LockEventPage) => boolean, ms = 3000): Promise<LockEventPage> {
  const deadline = Date.now() + ms
  for (;;) {
    const result = await dblock(['events', ...args, '--json'], { env })
    if (result.code !== 0) throw new Error(`dblock events exited ${String(result.code)}: ${result.stderr}`)
    const page = JSON.parse(result.stdout) as LockEventPage
    if (check(page) || Date.now() > deadline) return page
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const blockedCount = (page: LockEventPage) =>
  page.events.filter((event) => event.type === 'blocked').reduce((sum, event) => sum + event.count, 0)

t.test('events: the audit trail, one line per event, --type, --json and paging', async (t) => {
  await create('cli-events')
  t.equal((await dblock(['events', 'cli-events'], { env: alice() })).stdout, 'no events\n', 'nothing happened yet')

  t.equal((await dblock(['lock', 'cli-events', '--reason', 'prod db'], { env: alice() })).code, 0)
  for (let i = 0; i < 3; i++) {
    t.equal((await call(`${url}/v1/database/cli-events`, 'DELETE', { user: 'bob' })).status, 403, 'the delete is refused')
  }
  const page = await eventsUntil(['cli-events'], alice(), (body) => blockedCount(body) === 3)
  t.equal(blockedCount(page), 3, 'the three refusals are recorded')
  t.equal(page.nextCursor, null)
  t.match(page.events[page.events.length - 1], { type: 'locked', database: 'cli-events', mode: 'delete', principal: 'alice', reason: 'prod db', count: 1 })
  t.match(page.events[0], { type: 'blocked', mode: 'delete', principal: 'bob', route: 'DELETE /v1/database/:name', reason: null })
  t.type(page.events[0].requestId, 'string')

  const human = await dblock(['events', 'cli-events'], { env: alice() })
  t.equal(human.code, 0, human.stderr)
  t.equal(human.stderr, '', 'one page: no hint')
  const lines = human.stdout.trimEnd().split('\n')
  t.equal(lines.length, page.events.length, 'one line per event')
  t.match(lines[lines.length - 1], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC {2}locked {4}delete {2}alice {2}"prod db"$/)
  const blocked = lines.filter((line) => / blocked /.test(line))
  t.ok(blocked.length >= 1)
  let total = 0
  for (const line of blocked) {
    const match = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC {2}blocked {3}delete {2}bob {2}DELETE \/v1\/database\/:name(?: {2}×(\d+))?$/.exec(line)
    t.ok(match, `a refusal line: ${line}`)
    total += Number(match?.[1] ?? 1)
  }
  t.equal(total, 3, 'the counts add up to the refusals')
  if (blocked.length === 1) t.match(blocked[0], / {2}×3$/, 'folded into one line')

  const json = await dblock(['events', 'cli-events', '--json'], { env: alice() })
  t.same(JSON.parse(json.stdout), (await call(`${url}/v1/database/cli-events/lock/events`, 'GET', { user: 'alice' })).json,
    '--json prints the server body as is')

  const locked = await dblock(['events', 'cli-events', '--type', 'locked', '--json'], { env: alice() })
  t.equal(locked.code, 0, locked.stderr)
  t.match(JSON.parse(locked.stdout), { events: [{ type: 'locked', principal: 'alice' }], nextCursor: null }, '--type filters')
  t.equal((JSON.parse(locked.stdout) as LockEventPage).events.length, 1)
  const none = await dblock(['events', 'cli-events', '--type', 'expired'], { env: alice() })
  t.equal(none.stdout, 'no events\n')

  // Paging: the next page's command goes to stderr, and --cursor follows it.
  const first = await dblock(['events', 'cli-events', '--limit', '1'], { env: alice() })
  t.equal(first.code, 0, first.stderr)
  t.equal(first.stdout.trimEnd().split('\n').length, 1)
  const next = /more events: dblock events cli-events --limit 1 --cursor (\S+)/.exec(first.stderr)
  t.ok(next, `says how to read on: ${first.stderr}`)
  const seen = [first.stdout]
  let cursor = next?.[1]
  while (cursor !== undefined && seen.length <= page.events.length) {
    const more = await dblock(['events', 'cli-events', '--limit', '1', '--cursor', cursor], { env: alice() })
    t.equal(more.code, 0, more.stderr)
    seen.push(more.stdout)
    cursor = /--cursor (\S+)/.exec(more.stderr)?.[1]
  }
  t.equal(seen.join(''), human.stdout, 'page by page, the same trail')

  const admin = await dblock(['events', 'cli-events', '--type', 'blocked', '--json'], { env: { DBLOCK_SERVER: url, DBLOCK_ADMIN_KEY: ADMIN_KEY } })
  t.equal(admin.code, 0, 'the admin key reads it too')
  t.equal(blockedCount(JSON.parse(admin.stdout) as LockEventPage), 3)

  const project = tempDir(t)
  writeFileSync(join(project, 'dblock.json'), JSON.stringify({ server: url, database: 'cli-events' }))
  const fromConfig = await dblock(['events', '--type', 'locked'], { cwd: project, env: { DBLOCK_TOKEN: 'alice-token' } })
  t.equal(fromConfig.code, 0, fromConfig.stderr)
  t.match(fromConfig.stdout, /^\S+ \S+ UTC {2}locked {4}delete {2}alice {2}"prod db"\n$/, 'the database from dblock.json')

  const bob = await dblock(['events', 'cli-events'], { env: { DBLOCK_SERVER: url, DBLOCK_TOKEN: 'bob-token' } })
  t.equal(bob.code, 1, 'not the owner: refused')
  t.match(bob.stderr, /owner of database "cli-events".*\(NOT_DATABASE_OWNER\)/)
  t.equal(bob.stdout, '')
  await call(`${url}/v1/database/cli-events/unlock`, 'POST', { user: 'alice' })
})

/** A command that prints the lock status the server reports while it runs, then exits with `code`. */
function reportStatus (database: string, code: number): string[] {
  return nodeScript(`fetch(${JSON.stringify(`${url}/v1/database/${database}/lock`)}, { headers: { authorization: 'Bearer alice-token' } })
    .then((res) => res.text()).then((body) => { console.log('during: ' + body); process.exit(${code}) })`)
}

t.test('exec holds the lock while the command runs and passes its exit code through', async (t) => {
  await create('cli-exec')
  const failing = await dblockBin(['exec', 'cli-exec', '--reason', 'restore', '--', ...reportStatus('cli-exec', 7)], { env: alice() })
  t.equal(failing.code, 7, 'the command\'s own code')
  const during = JSON.parse(/during: (.*)/.exec(failing.stdout)?.[1] ?? 'null') as LockStatus
  t.match(during, { locked: true, locks: [{ mode: 'write', reason: 'restore' }] }, 'write mode by default, held while the command ran')
  t.match(failing.stderr, /cli-exec: locked \(write\)[\s\S]*cli-exec unlocked \(write\)/)
  t.same(await status('cli-exec'), { database: 'cli-exec', locked: false, locks: [] }, 'released after a failing command')

  const ok = await dblockBin(['exec', 'cli-exec', '--mode', 'delete', '--', ...reportStatus('cli-exec', 0)], { env: alice() })
  t.equal(ok.code, 0)
  t.match(ok.stdout, /"mode":"delete"/)
  t.equal((await status('cli-exec')).locked, false)

  const notFound = await dblockBin(['exec', 'cli-exec', '--', 'dblock-no-such-command'], { env: alice() })
  t.equal(notFound.code, 127, 'a missing command is 127, as in a shell')
  t.match(notFound.stderr, /cannot run "dblock-no-such-command": command not found/)
  t.equal((await status('cli-exec')).locked, false)
})

t.test('exec holds its own lock beside one somebody else holds, and releases only its own', async (t) => {
  await create('cli-held')
  const held = await call(`${url}/v1/database/cli-held/lock`, 'POST', { user: 'alice', body: { mode: 'write', reason: 'other restore', ttl: 600 } })
  const dir = tempDir(t)
  const seen = join(dir, 'seen.json')
  // The command records the locks in force while it runs.
  const script = `fetch(${JSON.stringify(`${url}/v1/database/cli-held/lock`)}, { headers: { authorization: 'Bearer alice-token' } })` +
    `.then((res) => res.text()).then((body) => require('fs').writeFileSync(${JSON.stringify(seen)}, body))`
  const result = await dblockBin(['exec', 'cli-held', '--', ...nodeScript(script)], { env: alice() })
  t.equal(result.code, 0, result.stderr)
  const during: LockStatus = JSON.parse(readFileSync(seen, 'utf8'))
  const holders = during.locks.map((lock) => lock.holder)
  t.equal(holders.length, 2, 'both locks while the command ran')
  t.match(holders.find((holder) => holder !== 'alice'), /^exec:[^:]+:\d+:[0-9a-f]{8}$/, 'exec\'s own holder, unique to the run')
  t.match(result.stderr, /cli-held: locked \(write\) by alice, held by exec:/)
  t.same(await status('cli-held'), held.json, 'afterwards only the other lock, untouched')
})

t.test('exec releases and exits 143 when dblock gets SIGTERM, and stops the command', async (t) => {
  await create('cli-term')
  const run = start(['exec', 'cli-term', '--', ...nodeScript("console.log('ready ' + process.pid); setInterval(() => {}, 1000)")], { env: alice() })
  await run.waitFor(/ready \d+/)
  const pid = Number(/ready (\d+)/.exec(run.stdout())?.[1])
  t.teardown(() => { try { process.kill(pid, 'SIGKILL') } catch {} })
  t.equal((await status('cli-term')).locked, true, 'locked while the command runs')
  run.child.kill('SIGTERM')
  const result = await run.exitWithin(10_000)
  t.equal(result.code, 143, '128 + SIGTERM')
  t.same(await status('cli-term'), { database: 'cli-term', locked: false, locks: [] }, 'released')
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the command got the signal and is gone')
})

t.test('exec passes SIGINT on to the command and exits with the command\'s code', async (t) => {
  await create('cli-int')
  // The command ends itself after 15 s so a lost signal cannot leave it behind.
  const script = "process.on('SIGINT', () => { console.log('child got SIGINT'); process.exit(5) }); console.log('ready'); setTimeout(() => {}, 15000)"
  const run = start(['exec', 'cli-int', '--', ...nodeScript(script)], { env: alice() })
  await run.waitFor(/ready/)
  run.child.kill('SIGINT')
  const result = await run.exitWithin(10_000)
  t.equal(result.code, 5)
  t.match(result.stdout, /child got SIGINT/)
  t.equal((await status('cli-int')).locked, false, 'released')
})

t.test('exec keeps a 1-second ttl lock alive while a 3-second command runs', async (t) => {
  await create('cli-ttl')
  const run = start(['exec', 'cli-ttl', '--ttl', '1', '--', ...nodeScript("console.log('started'); setTimeout(() => console.log('finishing'), 3000)")], { env: alice() })
  await run.waitFor(/started/)
  let finishing = false
  run.waitFor(/finishing/).then(() => { finishing = true }, () => { finishing = true })
  const running = () => !finishing
  const expiries = new Set<string>()
  let samples = 0
  let refusedWrite = false
  while (running()) {
    const now = await status('cli-ttl')
    // An unlocked answer may have overtaken the 'finishing' line on its way here: then that line follows.
    if (!now.locked) await until(() => finishing, "the command's 'finishing' line", 2000)
    if (!running()) break
    samples++
    t.equal(now.locked, true, `locked at sample ${samples}`)
    const lock = now.locks.find((candidate) => candidate.mode === 'write')
    if (lock?.expiresAt != null) expiries.add(lock.expiresAt)
    if (samples === 10) {
      // By now the first ttl has long run out: the lock must still refuse writes.
      const write = await call(`${url}/v1/database/cli-ttl/rows`, 'POST', { user: 'alice', body: { n: 1 } })
      refusedWrite = write.status === 503
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  const result = await run.exitWithin(10_000)
  t.equal(result.code, 0, result.stderr)
  t.ok(samples >= 10, `sampled ${samples} times`)
  t.ok(refusedWrite, 'a write 2 s into a 1 s ttl is refused')
  t.ok(expiries.size >= 3, `expiresAt was pushed on: ${[...expiries].join(', ')}`)
  t.notMatch(result.stderr, /keeping the lock alive/, 'no keep-alive failed')
  t.equal((await status('cli-ttl')).locked, false, 'released at the end')
})
