#!/usr/bin/env node
// dblock: lock, unlock, check and list database locks from a terminal or a script, read a
// database's audit trail, and run a command under a lock that is released however the command
// ends. Built on ./client.ts.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { constants } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { LockEventPage, LockEventType, LockInfo, LockMode, LockStatus } from '../types/index.js'
import {
  createLockClient, LockClientError, LockEventTypes, type ClientLockOptions, type EventsOptions, type LockClient
} from './client.js'

const EXIT_OK = 0
const EXIT_REFUSED = 1
const EXIT_USAGE = 2
const EXIT_UNREACHABLE = 3
const CONFIG_FILE = 'dblock.json'
const MAX_TTL_SECONDS = 31_536_000
const MAX_EVENTS_LIMIT = 500
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

class UsageError extends Error {
  /** The command whose help to point at, when known. */
  constructor (message: string, readonly command?: string) {
    super(message)
  }
}

type CommandName = 'lock' | 'unlock' | 'status' | 'events' | 'list' | 'exec'

/** Options that belong to some commands only. */
const COMMAND_OPTIONS = ['mode', 'reason', 'ttl', 'type', 'limit', 'cursor'] as const
type CommandOption = typeof COMMAND_OPTIONS[number]

interface CommandSpec {
  usage: string
  summary: string
  /** Options besides the common ones. */
  options: CommandOption[]
  /** Whether it acts on one database (an argument or dblock.json's "database"). */
  database: boolean
}

const COMMANDS: Record<CommandName, CommandSpec> = {
  lock: {
    usage: 'dblock lock [database] [--mode delete|write] [--reason TEXT] [--ttl SECONDS]',
    summary: 'Lock a database. A delete lock (the default) refuses deletes and resets; a write lock\n' +
      'refuses every write and expires after --ttl (the server\'s default when not given).',
    options: ['mode', 'reason', 'ttl'],
    database: true
  },
  unlock: {
    usage: 'dblock unlock [database] [--mode delete|write]',
    summary: 'Lift the lock of one mode (default delete); the other mode stays.',
    options: ['mode'],
    database: true
  },
  status: {
    usage: 'dblock status [database]',
    summary: 'Show the locks a database holds.',
    options: [],
    database: true
  },
  events: {
    usage: 'dblock events [database] [--type TYPE] [--limit N] [--cursor CURSOR]',
    summary: 'Show the audit trail of a database, newest first: who locked and unlocked it, and who\n' +
      'was refused. --type shows one type only (locked, relocked, unlocked, expired, blocked,\n' +
      'conflict); --limit N reads N events (1 to 500, the server\'s default 50); when there are\n' +
      'more, the command for the next page is printed on stderr (--cursor CURSOR). Needs the\n' +
      'owner\'s token or the admin key (only the admin key once the database was deleted).',
    options: ['type', 'limit', 'cursor'],
    database: true
  },
  list: {
    usage: 'dblock list',
    summary: 'Show every live lock on the service (needs the admin key).',
    options: [],
    database: false
  },
  exec: {
    usage: 'dblock exec [database] [--mode write|delete] [--reason TEXT] [--ttl SECONDS] -- COMMAND [ARGS...]',
    summary: 'Take a lock (default mode write), run COMMAND, and release the lock when it exits for any\n' +
      'reason. SIGINT, SIGTERM and SIGHUP are passed on to COMMAND; a lock with an expiry is kept\n' +
      'alive while COMMAND runs. Exits with the command\'s code (128+N when a signal ended it).\n' +
      'Refuses (exit 1) when the database already holds a lock of that mode: releasing it afterwards\n' +
      'would lift somebody else\'s lock.',
    options: ['mode', 'reason', 'ttl'],
    database: true
  }
}

const COMMON_HELP = `Options:
  --server URL      the service (else DBLOCK_SERVER, else "server" in dblock.json)
  --token TOKEN     the database owner's bearer token (else DBLOCK_TOKEN)
  --admin-key KEY   the service admin key, sent as X-Admin-Key (else DBLOCK_ADMIN_KEY)
  --json            print the server's JSON body (errors go to stderr as JSON)
  --config FILE     read FILE instead of looking for dblock.json
  --no-config       read no config file
  -h, --help        show this help (--version: the package version)

Without a database argument, "database" from dblock.json is used; dblock.json is looked
for in the current directory and then in each parent.
Exit codes: 0 done, 1 the server refused or failed, 2 usage error, 3 the server could
not be reached; exec exits with the command's own code.`

const HELP = `dblock: lock databases against deletion or writes.

Usage:
${Object.values(COMMANDS).map((spec) => `  ${spec.usage}`).join('\n')}

${COMMON_HELP}
`

const OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
  'admin-key': { type: 'string' },
  json: { type: 'boolean' },
  config: { type: 'string' },
  'no-config': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  mode: { type: 'string' },
  reason: { type: 'string' },
  ttl: { type: 'string' },
  type: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' }
} as const

const COMMAND_LIST = Object.keys(COMMANDS) as CommandName[]
const COMMAND_WORDS = `${COMMAND_LIST.slice(0, -1).join(', ')} or ${COMMAND_LIST[COMMAND_LIST.length - 1]}`

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS, tokens: true, allowPositionals: true, strict: true }>>['values']

interface Invocation {
  command: CommandName
  values: Values
  /** Positionals before `--`. */
  args: string[]
  /** What follows `--` (exec's command). */
  rest: string[] | null
}

function parse (argv: string[]): Invocation | { help: string } | { version: true } {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true, tokens: true })
  } catch (err) {
    // Node's own wording suggests `--` tricks that only confuse here.
    const unknown = /^Unknown option '([^']+)'/.exec((err as Error).message)
    throw new UsageError(unknown === null ? (err as Error).message : `unknown option ${unknown[1]}`)
  }
  const { values, tokens } = parsed
  const terminator = tokens.find((token) => token.kind === 'option-terminator')
  const args: string[] = []
  const rest: string[] = []
  for (const token of tokens) {
    if (token.kind !== 'positional') continue
    if (terminator !== undefined && token.index > terminator.index) rest.push(token.value)
    else args.push(token.value)
  }
  const name = args.shift()
  if (values.version === true && name === undefined) return { version: true }
  if (name === undefined) {
    if (values.help === true) return { help: HELP }
    throw new UsageError(`which command? One of: ${COMMAND_LIST.join(', ')}`)
  }
  if (name === 'help') {
    const topic = args[0] as CommandName | undefined
    return { help: topic !== undefined && Object.hasOwn(COMMANDS, topic) ? commandHelp(topic) : HELP }
  }
  if (!Object.hasOwn(COMMANDS, name)) throw new UsageError(`unknown command "${name}"; use ${COMMAND_WORDS}`)
  const command = name as CommandName
  if (values.help === true) return { help: commandHelp(command) }
  const spec = COMMANDS[command]
  for (const option of COMMAND_OPTIONS) {
    if (values[option] !== undefined && !spec.options.includes(option)) {
      throw new UsageError(`--${option} does not apply to ${command}`, command)
    }
  }
  if (values.json === true && command === 'exec') throw new UsageError('--json does not apply to exec: the command owns stdout', command)
  if (values.config !== undefined && values['no-config'] === true) throw new UsageError('give --config FILE or --no-config, not both', command)
  const most = spec.database ? 1 : 0
  if (args.length > most) {
    throw new UsageError(`unexpected argument "${args[most]}"${command === 'exec' ? '; put the command after --' : ''}`, command)
  }
  if (command === 'exec') {
    if (rest.length === 0) throw new UsageError('exec needs a command after --, e.g. dblock exec prod -- ./restore.sh', command)
  } else if (rest.length > 0) {
    throw new UsageError(`unexpected argument "${rest[0]}"`, command)
  }
  return { command, values, args, rest: command === 'exec' ? rest : null }
}

function commandHelp (command: CommandName): string {
  const spec = COMMANDS[command]
  return `Usage: ${spec.usage}\n\n${spec.summary}\n\n${COMMON_HELP}\n`
}

interface ConfigFile {
  path: string
  server?: string
  database?: string
}

/** dblock.json in `dir` or the nearest parent that has one. */
function findConfig (dir: string): string | null {
  for (let current = resolve(dir); ; current = dirname(current)) {
    const candidate = join(current, CONFIG_FILE)
    if (existsSync(candidate)) return candidate
    if (dirname(current) === current) return null
  }
}

function readConfig (path: string): ConfigFile {
  let value: unknown
  try {
    value = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (err as Error).message
    throw new UsageError(`cannot read config file ${path}: ${why}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`config file ${path} must hold a JSON object like {"server": "https://…", "database": "prod"}`)
  }
  const config: ConfigFile = { path }
  for (const [key, field] of Object.entries(value)) {
    if (key === 'server' || key === 'database') {
      if (typeof field !== 'string' || field === '') throw new UsageError(`"${key}" in ${path} must be a non-empty string`)
      config[key] = field
    } else if (key === 'token' || key === 'adminKey') {
      // The file usually lives in a repository; credentials do not belong there.
      throw new UsageError(`${path} may not hold "${key}": keep credentials out of project files and set DBLOCK_TOKEN / DBLOCK_ADMIN_KEY instead`)
    } else if (key !== '$schema') {
      throw new UsageError(`unknown key "${key}" in ${path}; it may hold "server" and "database"`)
    }
  }
  return config
}

function fromEnv (name: string): string | undefined {
  const value = process.env[name]
  return value === undefined || value === '' ? undefined : value
}

function parseMode (value: string | undefined, fallback: LockMode, command: CommandName): LockMode {
  if (value === undefined) return fallback
  if (value !== 'delete' && value !== 'write') throw new UsageError(`--mode must be delete or write, got "${value}"`, command)
  return value
}

function parseTtl (value: string | undefined, command: CommandName): number | undefined {
  if (value === undefined) return undefined
  const ttl = Number(value)
  if (!/^\d+$/.test(value) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
    throw new UsageError(`--ttl must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}, got "${value}"`, command)
  }
  return ttl
}

function parseEventType (value: string | undefined, command: CommandName): LockEventType | undefined {
  if (value === undefined) return undefined
  if (!(LockEventTypes as readonly string[]).includes(value)) {
    throw new UsageError(`--type must be one of ${LockEventTypes.join(', ')}; got "${value}"`, command)
  }
  return value as LockEventType
}

function parseLimit (value: string | undefined, command: CommandName): number | undefined {
  if (value === undefined) return undefined
  const limit = Number(value)
  if (!/^\d+$/.test(value) || limit < 1 || limit > MAX_EVENTS_LIMIT) {
    throw new UsageError(`--limit must be a whole number from 1 to ${MAX_EVENTS_LIMIT}, got "${value}"`, command)
  }
  return limit
}

/** Server text shown on a terminal: control characters escaped so it cannot drive the terminal. */
function clean (text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (char) => JSON.stringify(char).slice(1, -1))
}

/** `2026-11-23T10:00:00.000Z` → `2026-11-23 10:00 UTC` (with seconds: `10:00:00`). */
function shortTime (iso: string, seconds = false): string {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(iso)) return clean(iso)
  return `${iso.slice(0, 10)} ${iso.slice(11, seconds ? 19 : 16)} UTC`
}

function lockLine (database: string, lock: LockInfo): string {
  // Seconds matter for an expiry: a short ttl would otherwise read "since 10:00, until 10:00".
  const until = lock.expiresAt === null ? '' : `, until ${shortTime(lock.expiresAt, true)}`
  const reason = lock.reason === null || lock.reason === '' ? '' : ` — ${JSON.stringify(lock.reason)}`
  return `${clean(database)}: locked (${lock.mode}) by ${clean(lock.lockedBy)} since ${shortTime(lock.lockedAt)}${until}${reason}`
}

type EventRow = LockEventPage['events'][number]

const EVENT_TYPE_WIDTH = Math.max(...LockEventTypes.map((type) => type.length))

/**
 * `2026-11-23 10:14:03 UTC  blocked   delete  bob  DELETE /v1/database/:name  ×3`: a refusal
 * says what was tried; every event says the reason it carries, in quotes.
 */
function eventLine (event: EventRow): string {
  const fields = [
    shortTime(event.at, true),
    clean(event.type).padEnd(EVENT_TYPE_WIDTH),
    (event.mode ?? '-').padEnd(6),
    event.principal === null || event.principal === '' ? '-' : clean(event.principal)
  ]
  if (event.type === 'blocked' && event.route !== null) fields.push(clean(event.route))
  if (event.reason !== null && event.reason !== '') fields.push(JSON.stringify(event.reason))
  if (event.count > 1) fields.push(`×${event.count}`)
  return fields.join('  ')
}

function statusLines (status: LockStatus): string[] {
  if (!status.locked || status.locks.length === 0) return [`${clean(status.database)}: unlocked`]
  return status.locks.map((lock) => lockLine(status.database, lock))
}

function print (text: string): void {
  process.stdout.write(`${text}\n`)
}

function warn (text: string): void {
  process.stderr.write(`dblock: ${text}\n`)
}

function signalNumber (signal: NodeJS.Signals): number {
  return constants.signals[signal] ?? 0
}

/** Runs the command with inherited stdio; resolves with its exit code as a shell reports it. */
function runCommand (argv: string[], started: (kill: (signal: NodeJS.Signals) => void) => void): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit' })
    let done = false
    started((signal) => {
      if (!done && child.exitCode === null && child.signalCode === null) child.kill(signal)
    })
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (done) return
      done = true
      // The shell's codes: 127 not found, 126 found but not runnable.
      warn(`cannot run ${JSON.stringify(argv[0])}: ${err.code === 'ENOENT' ? 'command not found' : err.message}`)
      resolve(err.code === 'ENOENT' ? 127 : 126)
    })
    child.once('exit', (code, signal) => {
      if (done) return
      done = true
      resolve(code ?? 128 + signalNumber(signal as NodeJS.Signals))
    })
  })
}

async function exec (client: LockClient, database: string, lockOptions: ClientLockOptions, argv: string[]): Promise<number> {
  let received: NodeJS.Signals | null = null
  let kill: ((signal: NodeJS.Signals) => void) | null = null
  // Installed before the lock is taken: a signal now must still end in a release, not a dead process holding it.
  const onSignal = (signal: NodeJS.Signals) => {
    received ??= signal
    kill?.(signal)
  }
  for (const signal of FORWARDED_SIGNALS) process.on(signal, onSignal)
  // Set once the command has run (or was skipped for a signal); read after withLock settles.
  const outcome: { code: number | null } = { code: null }
  const mode = lockOptions.mode ?? 'write'
  try {
    await client.withLock(database, {
      ...lockOptions,
      mode,
      onError: (err, phase) => { warn(`${phase === 'keepalive' ? 'keeping the lock alive' : 'releasing the lock'}: ${err.message}`) }
    }, async (status) => {
      const held = status.locks.find((lock) => lock.mode === mode)
      warn(held === undefined ? `${clean(status.database)} locked (${mode})` : lockLine(status.database, held))
      if (received !== null) {
        outcome.code = 128 + signalNumber(received)
        return
      }
      outcome.code = await runCommand(argv, (killer) => { kill = killer })
    })
    warn(`${clean(database)} unlocked (${mode})`)
    return outcome.code ?? EXIT_REFUSED
  } catch (err) {
    if (outcome.code === null) throw err
    // The command ran but its lock could not be released: say so loudly, and never report plain success.
    const code = report(err)
    warn(`the ${mode} lock on ${clean(database)} is still held; lift it with: dblock unlock ${database} --mode ${mode}`)
    return outcome.code !== 0 ? outcome.code : code
  } finally {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, onSignal)
  }
}

let jsonErrors = false
let hasCredentials = false

/** Prints an error the way the invocation asked for, and returns its exit code. */
function report (err: unknown): number {
  if (err instanceof UsageError) {
    warn(`${err.message}\nRun "dblock ${err.command === undefined ? '' : `${err.command} `}--help" for usage.`)
    return EXIT_USAGE
  }
  if (err instanceof LockClientError) {
    const code = err.unreachable ? EXIT_UNREACHABLE : EXIT_REFUSED
    if (jsonErrors) {
      process.stderr.write(`${JSON.stringify(err.body ?? { statusCode: err.statusCode, code: err.code, message: err.message })}\n`)
    } else {
      warn(`${clean(err.message)} (${err.code})`)
      if (err.statusCode === 401 && !hasCredentials) warn('no credentials were sent: set DBLOCK_TOKEN (or pass --token), or DBLOCK_ADMIN_KEY for the admin key')
    }
    return code
  }
  warn(`unexpected failure: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  return EXIT_REFUSED
}

async function run (argv: string[]): Promise<number> {
  const parsed = parse(argv)
  if ('help' in parsed) {
    process.stdout.write(parsed.help)
    return EXIT_OK
  }
  if ('version' in parsed) {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
    print(pkg.version)
    return EXIT_OK
  }
  const { command, values, args, rest } = parsed
  jsonErrors = values.json === true
  const inCommand = (message: string) => new UsageError(message, command)
  const mode = parseMode(values.mode, command === 'exec' ? 'write' : 'delete', command)
  const ttl = parseTtl(values.ttl, command)
  const type = parseEventType(values.type, command)
  const limit = parseLimit(values.limit, command)
  if (values.cursor === '') throw inCommand('--cursor needs the cursor a previous page printed')

  const configPath = values['no-config'] === true ? null : values.config !== undefined ? resolve(values.config) : findConfig(process.cwd())
  const config: ConfigFile | null = configPath === null ? null : readConfig(configPath)

  const server = values.server ?? fromEnv('DBLOCK_SERVER') ?? config?.server
  if (server === undefined) {
    throw inCommand('no server: pass --server URL, set DBLOCK_SERVER, or add "server" to dblock.json')
  }
  const token = values.token ?? fromEnv('DBLOCK_TOKEN')
  const adminKey = values['admin-key'] ?? fromEnv('DBLOCK_ADMIN_KEY')
  hasCredentials = token !== undefined || adminKey !== undefined
  let client: LockClient
  try {
    client = createLockClient({ server, token, adminKey })
  } catch (err) {
    throw inCommand((err as Error).message)
  }

  const spec = COMMANDS[command]
  const database = spec.database ? args[0] ?? config?.database : undefined
  if (spec.database && (database === undefined || database === '')) {
    const where = config === null ? '' : ` (${config.path} has no "database")`
    throw inCommand(`which database? Name it, as in "dblock ${command} prod", or add "database" to dblock.json${where}`)
  }
  const name = database as string

  switch (command) {
    case 'lock':
      return show(await client.lock(name, { mode, reason: values.reason, ttl }), values.json)
    case 'unlock':
      return show(await client.unlock(name, { mode }), values.json)
    case 'status':
      return show(await client.status(name), values.json)
    case 'events':
      return events(client, name, { type, limit, cursor: values.cursor }, values.json)
    case 'list':
      return list(client, values.json)
    case 'exec':
      return exec(client, name, { mode, reason: values.reason, ttl }, rest ?? [])
  }
}

function show (status: LockStatus, json: boolean | undefined): number {
  print(json === true ? JSON.stringify(status) : statusLines(status).join('\n'))
  return EXIT_OK
}

/** Every page, so the command answers "what is locked?" whole. */
async function list (client: LockClient, json: boolean | undefined): Promise<number> {
  const locks = []
  let cursor: string | undefined
  do {
    const page = await client.list({ limit: 1000, cursor })
    locks.push(...page.locks)
    cursor = page.nextCursor ?? undefined
  } while (cursor !== undefined)
  if (json === true) print(JSON.stringify({ locks, nextCursor: null }))
  else print(locks.length === 0 ? 'no locks' : locks.map((lock) => lockLine(lock.database, lock)).join('\n'))
  return EXIT_OK
}

/** One page of the trail; the command for the next page goes to stderr so stdout stays one line per event. */
async function events (client: LockClient, database: string, options: EventsOptions, json: boolean | undefined): Promise<number> {
  const page = await client.events(database, options)
  if (json === true) {
    print(JSON.stringify(page))
    return EXIT_OK
  }
  print(page.events.length === 0 ? 'no events' : page.events.map(eventLine).join('\n'))
  if (page.nextCursor !== null) {
    const next = ['dblock', 'events', shellWord(database)]
    if (options.type !== undefined) next.push('--type', options.type)
    if (options.limit !== undefined) next.push('--limit', String(options.limit))
    next.push('--cursor', shellWord(page.nextCursor))
    warn(`more events: ${next.join(' ')}`)
  }
  return EXIT_OK
}

/** A word as a POSIX shell reads it back: bare when it is safe, else single-quoted. */
function shellWord (word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${clean(word).replace(/'/g, "'\\''")}'`
}

// A reader that goes away (`dblock list | head`) is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err
})

run(process.argv.slice(2)).then((code) => {
  process.exitCode = code
}, (err: unknown) => {
  process.exitCode = report(err)
})
