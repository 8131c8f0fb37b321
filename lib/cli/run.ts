// `dblock` as a function: run(argv, io) resolves with the exit code. It keeps no state
// between calls and touches the process only through `io`, so tests call it in-process.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { LockStatus, UnlockAnswer } from '../../types/index.js'
import { createLockClient, type EventsOptions, type LockClient } from '../client.js'
import { COMMANDS, EXIT_OK, EXIT_STILL_LOCKED } from './commands.js'
import { findConfig, readConfig, type ConfigFile } from './config.js'
import { exec, type SignalSource } from './exec.js'
import { clean, eventLine, lockLine, shellWord, statusLines } from './format.js'
import { createOutput, type Output } from './output.js'
import { parse, parseEventType, parseHolder, parseLimit, parseMode, parseTtl, parseUnlockPolicy, UsageError } from './parse-args.js'

export interface CliIo {
  /** Receives the command's answer. */
  stdout: (text: string) => void
  /** Receives messages and errors. */
  stderr: (text: string) => void
  /** DBLOCK_SERVER, DBLOCK_TOKEN and DBLOCK_ADMIN_KEY are read from here. */
  env: Readonly<Record<string, string | undefined>>
  /** Where dblock.json is looked for, and what --config is relative to. */
  cwd: string
  /** Signals `exec` passes on to its command; the command itself inherits this process's stdio. */
  signals: SignalSource
}

function fromEnv (env: CliIo['env'], name: string): string | undefined {
  const value = env[name]
  return value === undefined || value === '' ? undefined : value
}

/** The package's version, from the package.json above this file (source or built). */
function packageVersion (): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, 'package.json')
    if (existsSync(candidate)) {
      const pkg: unknown = JSON.parse(readFileSync(candidate, 'utf8'))
      if (typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string') return pkg.version
    }
    if (dirname(dir) === dir) return 'unknown'
  }
}

/** Runs one dblock invocation; never throws: every failure is printed and becomes its exit code. */
export async function run (argv: string[], io: CliIo): Promise<number> {
  let output = createOutput({ stdout: io.stdout, stderr: io.stderr, json: false, hasCredentials: false })
  try {
    const parsed = parse(argv)
    if ('help' in parsed) {
      io.stdout(parsed.help)
      return EXIT_OK
    }
    if ('version' in parsed) {
      output.print(packageVersion())
      return EXIT_OK
    }
    const { command, values, args, rest } = parsed
    const inCommand = (message: string): UsageError => new UsageError(message, command)
    const token = values.token ?? fromEnv(io.env, 'DBLOCK_TOKEN')
    const adminKey = values['admin-key'] ?? fromEnv(io.env, 'DBLOCK_ADMIN_KEY')
    output = createOutput({ stdout: io.stdout, stderr: io.stderr, json: values.json === true, hasCredentials: token !== undefined || adminKey !== undefined })
    const mode = parseMode(values.mode, command === 'exec' ? 'write' : 'delete', command)
    const ttl = parseTtl(values.ttl, command)
    const holder = parseHolder(values.holder, command)
    const children = values.children
    const unlock = parseUnlockPolicy(values.unlock, command)
    const type = parseEventType(values.type, command)
    const limit = parseLimit(values.limit, command)
    if (values.cursor === '') throw inCommand('--cursor needs the cursor a previous page printed')

    const configPath = values['no-config'] === true ? null : values.config !== undefined ? resolve(io.cwd, values.config) : findConfig(io.cwd)
    const config: ConfigFile | null = configPath === null ? null : readConfig(configPath)

    const server = values.server ?? fromEnv(io.env, 'DBLOCK_SERVER') ?? config?.server
    if (server === undefined) {
      throw inCommand('no server: pass --server URL, set DBLOCK_SERVER, or add "server" to dblock.json')
    }
    let client: LockClient
    try {
      client = createLockClient({ server, token, adminKey })
    } catch (err) {
      throw inCommand(err instanceof Error ? err.message : String(err))
    }

    const spec = COMMANDS[command]
    const database = spec.database ? args[0] ?? config?.database : ''
    if (database === undefined || (spec.database && database === '')) {
      const where = config === null ? '' : ` (${config.path} has no "database")`
      throw inCommand(`which database? Name it, as in "dblock ${command} prod", or add "database" to dblock.json${where}`)
    }

    switch (command) {
      case 'lock':
        return show(output, await client.lock(database, { mode, reason: values.reason, ttl, holder, children, unlock }), values.json)
      case 'unlock':
        return unlocked(output, await client.unlock(database, { mode, holder }), values.json)
      case 'status':
        return show(output, await client.status(database), values.json)
      case 'events':
        return await events(output, client, database, { type, limit, cursor: values.cursor }, values.json)
      case 'list':
        return await list(output, client, values.json)
      case 'exec':
        return await exec(client, database, { mode, reason: values.reason, ttl, children }, rest ?? [], output, io.signals)
    }
  } catch (err) {
    return output.report(err)
  }
}

/** An unlock that a policy holds back exits 4 and says when it lifts, or how many approvals remain. */
function unlocked (output: Output, answer: UnlockAnswer, json: boolean | undefined): number {
  show(output, answer, json)
  if (answer.code === undefined) return EXIT_OK
  if (answer.message !== undefined) output.warn(clean(answer.message))
  return EXIT_STILL_LOCKED
}

function show (output: Output, status: LockStatus, json: boolean | undefined): number {
  output.print(json === true ? JSON.stringify(status) : statusLines(status).join('\n'))
  return EXIT_OK
}

/** Every page, so the command answers "what is locked?" whole. */
async function list (output: Output, client: LockClient, json: boolean | undefined): Promise<number> {
  const locks = []
  let cursor: string | undefined
  do {
    const page = await client.list({ limit: 1000, cursor })
    locks.push(...page.locks)
    cursor = page.nextCursor ?? undefined
  } while (cursor !== undefined)
  if (json === true) output.print(JSON.stringify({ locks, nextCursor: null }))
  else output.print(locks.length === 0 ? 'no locks' : locks.map((lock) => lockLine(lock.database, lock)).join('\n'))
  return EXIT_OK
}

/** One page of the trail; the command for the next page goes to stderr so stdout stays one line per event. */
async function events (output: Output, client: LockClient, database: string, options: EventsOptions, json: boolean | undefined): Promise<number> {
  const page = await client.events(database, options)
  if (json === true) {
    output.print(JSON.stringify(page))
    return EXIT_OK
  }
  output.print(page.events.length === 0 ? 'no events' : page.events.map(eventLine).join('\n'))
  if (page.nextCursor !== null) {
    const next = ['dblock', 'events', shellWord(database)]
    if (options.type !== undefined) next.push('--type', options.type)
    if (options.limit !== undefined) next.push('--limit', String(options.limit))
    next.push('--cursor', shellWord(page.nextCursor))
    output.warn(`more events: ${next.join(' ')}`)
  }
  return EXIT_OK
}
