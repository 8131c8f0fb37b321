// What `dblock` can do: its commands, their options, its help text and exit codes.

export const EXIT_OK = 0
export const EXIT_REFUSED = 1
export const EXIT_USAGE = 2
export const EXIT_UNREACHABLE = 3

export type CommandName = 'lock' | 'unlock' | 'status' | 'events' | 'list' | 'exec'

/** Options that belong to some commands only. */
export const COMMAND_OPTIONS = ['mode', 'reason', 'ttl', 'type', 'limit', 'cursor'] as const
export type CommandOption = typeof COMMAND_OPTIONS[number]

export interface CommandSpec {
  usage: string
  summary: string
  /** Options besides the common ones. */
  options: readonly CommandOption[]
  /** Whether it acts on one database (an argument or dblock.json's "database"). */
  database: boolean
}

export const COMMANDS: Record<CommandName, CommandSpec> = {
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

export const COMMAND_NAMES: readonly CommandName[] = ['lock', 'unlock', 'status', 'events', 'list', 'exec']

export function isCommandName (word: string | undefined): word is CommandName {
  return word !== undefined && Object.hasOwn(COMMANDS, word)
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

export const HELP = `dblock: lock databases against deletion or writes.

Usage:
${Object.values(COMMANDS).map((spec) => `  ${spec.usage}`).join('\n')}

${COMMON_HELP}
`

export function commandHelp (command: CommandName): string {
  const spec = COMMANDS[command]
  return `Usage: ${spec.usage}\n\n${spec.summary}\n\n${COMMON_HELP}\n`
}
