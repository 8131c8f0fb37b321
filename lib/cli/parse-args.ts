// Where `dblock` parses its arguments: Node's util.parseArgs in strict mode, then the
// rules of each command. Every mistake is a UsageError (exit 2) that says what to do.
import { parseArgs } from 'node:util'
import type { LockEventType, LockMode, UnlockPolicy } from '../../types/index.js'
import {
  ALL_HOLDERS, HOLDER_PATTERN, LOCK_EVENT_TYPES, LOCK_MODES, MAX_APPROVALS, MAX_EVENTS_LIMIT, MAX_TTL_SECONDS, MAX_UNLOCK_DELAY_SECONDS, MIN_APPROVALS
} from '../limits.js'
import { COMMAND_NAMES, COMMAND_OPTIONS, COMMANDS, HELP, commandHelp, isCommandName, type CommandName } from './commands.js'

export class UsageError extends Error {
  /** The command whose help to point at, when known. */
  constructor (message: string, readonly command?: CommandName) {
    super(message)
  }
}

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
  holder: { type: 'string' },
  children: { type: 'boolean' },
  unlock: { type: 'string' },
  type: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' }
} as const

const COMMAND_WORDS = `${COMMAND_NAMES.slice(0, -1).join(', ')} or ${COMMAND_NAMES[COMMAND_NAMES.length - 1]}`

export type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS, tokens: true, allowPositionals: true, strict: true }>>['values']

export interface Invocation {
  command: CommandName
  values: Values
  /** Positionals before `--`. */
  args: string[]
  /** What follows `--` (exec's command). */
  rest: string[] | null
}

export type Parsed = Invocation | { help: string } | { version: true }

function errorCode (err: unknown): unknown {
  return typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined
}

/** The first option word that `OPTIONS` does not know, for a message shorter than Node's. */
function unknownOption (argv: string[]): string | undefined {
  const { tokens } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: false, tokens: true })
  for (const token of tokens) {
    if (token.kind === 'option' && !Object.hasOwn(OPTIONS, token.name)) return token.rawName
  }
  return undefined
}

function strictParse (argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true, tokens: true })
  } catch (err) {
    // Node's own wording for an unknown option suggests `--` tricks that only confuse here.
    const unknown = errorCode(err) === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? unknownOption(argv) : undefined
    if (unknown !== undefined) throw new UsageError(`unknown option ${unknown}`)
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
}

export function parse (argv: string[]): Parsed {
  const { values, tokens } = strictParse(argv)
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
    throw new UsageError(`which command? One of: ${COMMAND_NAMES.join(', ')}`)
  }
  if (name === 'help') {
    const topic = args[0]
    return { help: isCommandName(topic) ? commandHelp(topic) : HELP }
  }
  if (!isCommandName(name)) throw new UsageError(`unknown command "${name}"; use ${COMMAND_WORDS}`)
  const command = name
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

function isLockMode (value: string): value is LockMode {
  return LOCK_MODES.some((mode) => mode === value)
}

export function parseMode (value: string | undefined, fallback: LockMode, command: CommandName): LockMode {
  if (value === undefined) return fallback
  if (!isLockMode(value)) throw new UsageError(`--mode must be ${LOCK_MODES.join(' or ')}, got "${value}"`, command)
  return value
}

export function parseTtl (value: string | undefined, command: CommandName): number | undefined {
  if (value === undefined) return undefined
  const ttl = Number(value)
  if (!/^\d+$/.test(value) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
    throw new UsageError(`--ttl must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}, got "${value}"`, command)
  }
  return ttl
}

/** `--unlock never`, `--unlock delay=3600`, `--unlock approvals=2`, `--unlock approvals=2,delay=3600`. */
export function parseUnlockPolicy (value: string | undefined, command: CommandName): UnlockPolicy | undefined {
  if (value === undefined) return undefined
  if (value === 'never') return 'never'
  const policy: { delay?: number, approvals?: number } = {}
  for (const part of value.split(',')) {
    const match = /^(delay|approvals)=(\d+)$/.exec(part.trim())
    const number = match === null ? NaN : Number(match[2])
    if (match !== null && match[1] === 'delay' && number >= 1 && number <= MAX_UNLOCK_DELAY_SECONDS) policy.delay = number
    else if (match !== null && match[1] === 'approvals' && number >= MIN_APPROVALS && number <= MAX_APPROVALS) policy.approvals = number
    else {
      throw new UsageError(`--unlock must be never, delay=SECONDS (1 to ${MAX_UNLOCK_DELAY_SECONDS}), approvals=N (${MIN_APPROVALS} to ${MAX_APPROVALS}) ` +
        `or both joined by a comma; got "${value}"`, command)
    }
  }
  return policy
}

const HOLDER = new RegExp(HOLDER_PATTERN)

/** `--holder`: checked here so that a typo is a usage error, not a round trip; `*` on unlock only. */
export function parseHolder (value: string | undefined, command: CommandName): string | undefined {
  if (value === undefined) return undefined
  if (value === ALL_HOLDERS && command === 'unlock') return value
  if (!HOLDER.test(value)) {
    throw new UsageError(`--holder must be 1 to 64 letters, digits or ._:@- starting with a letter or digit${command === 'unlock' ? ', or * for every holder' : ''}; got "${value}"`, command)
  }
  return value
}

function isEventType (value: string): value is LockEventType {
  return LOCK_EVENT_TYPES.some((type) => type === value)
}

export function parseEventType (value: string | undefined, command: CommandName): LockEventType | undefined {
  if (value === undefined) return undefined
  if (!isEventType(value)) {
    throw new UsageError(`--type must be one of ${LOCK_EVENT_TYPES.join(', ')}; got "${value}"`, command)
  }
  return value
}

export function parseLimit (value: string | undefined, command: CommandName): number | undefined {
  if (value === undefined) return undefined
  const limit = Number(value)
  if (!/^\d+$/.test(value) || limit < 1 || limit > MAX_EVENTS_LIMIT) {
    throw new UsageError(`--limit must be a whole number from 1 to ${MAX_EVENTS_LIMIT}, got "${value}"`, command)
  }
  return limit
}
