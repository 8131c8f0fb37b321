// What `dblock` can do: its commands, their options, its help text and exit codes.

export const EXIT_OK = 0
export const EXIT_REFUSED = 1
export const EXIT_USAGE = 2
export const EXIT_UNREACHABLE = 3
/** `unlock` was accepted, but the lock stays in force under its unlock policy (HTTP 202). */
export const EXIT_STILL_LOCKED = 4

export type CommandName = 'lock' | 'unlock' | 'status' | 'events' | 'list' | 'exec'

/** Options that belong to some commands only. */
export const COMMAND_OPTIONS = ['mode', 'reason', 'ttl', 'holder', 'children', 'unlock', 'type', 'limit', 'cursor'] as const
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
    usage: 'dblock lock [database] [--mode delete|write] [--reason TEXT] [--ttl SECONDS] [--holder NAME] [--children]\n' +
      '             [--unlock never|delay=SECONDS|approvals=N|approvals=N,delay=SECONDS]',
    summary: 'Lock a database. A delete lock (the default) refuses deletes and resets; a write lock\n' +
      'refuses every write and expires after --ttl (the server\'s default when not given).\n' +
      'The lock is held by --holder (default: you); each holder lifts only its own. --children\n' +
      'also locks every database whose name is below this one (acme covers acme.prod, acme/prod/eu).\n' +
      '--unlock guards the unlock: after a delay, after N different people asked, or never before\n' +
      'the ttl (a policy can only be made stronger later). See docs/guide-protection.md.',
    options: ['mode', 'reason', 'ttl', 'holder', 'children', 'unlock'],
    database: true
  },
  unlock: {
    usage: 'dblock unlock [database] [--mode delete|write] [--holder NAME|*]',
    summary: 'Lift your lock of one mode (default delete), or --holder\'s; other holders\' locks and the\n' +
      'other mode stay. --holder \'*\' lifts every holder\'s lock of the mode. Under an unlock policy the\n' +
      'request is recorded and dblock exits 4, saying when the lock lifts or how many approvals remain.',
    options: ['mode', 'holder'],
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
    usage: 'dblock exec [database] [--mode write|delete] [--reason TEXT] [--ttl SECONDS] [--children] -- COMMAND [ARGS...]',
    summary: 'Take a lock (default mode write) under a holder unique to this run (exec:HOST:PID:RANDOM),\n' +
      'run COMMAND, and release exactly that lock when it exits for any reason: locks others hold\n' +
      'on the database stay. SIGINT, SIGTERM and SIGHUP are passed on to COMMAND; a lock with an\n' +
      'expiry is kept alive while COMMAND runs. Exits with the command\'s code (128+N when a signal\n' +
      'ended it).',
    options: ['mode', 'reason', 'ttl', 'children'],
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
not be reached, 4 unlock accepted but the lock is still in force (a delay or approvals
pending); exec exits with the command's own code.`

export const HELP = `dblock: lock databases against deletion or writes.

Usage:
${Object.values(COMMANDS).map((spec) => `  ${spec.usage}`).join('\n')}

${COMMON_HELP}
`

export function commandHelp (command: CommandName): string {
  const spec = COMMANDS[command]
  return `Usage: ${spec.usage}\n\n${spec.summary}\n\n${COMMON_HELP}\n`
}
