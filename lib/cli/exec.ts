// `dblock exec`: a command run under a lock that is released however the command ends.
import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import { type ClientLockOptions, type LockClient, uniqueHolder } from '../client.js'
import { EXIT_REFUSED } from './commands.js'
import { clean, lockLine, shellWord } from './format.js'
import type { Output } from './output.js'

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/** Where exec hears the signals it passes on: the process itself for the bin. */
export interface SignalSource {
  on (signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown
  off (signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown
}

function signalNumber (signal: NodeJS.Signals | null): number {
  return signal === null ? 0 : constants.signals[signal] ?? 0
}

/** Runs the command with inherited stdio; resolves with its exit code as a shell reports it. */
function runCommand (argv: string[], output: Output, started: (kill: (signal: NodeJS.Signals) => void) => void): Promise<number> {
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
      output.warn(`cannot run ${JSON.stringify(argv[0])}: ${err.code === 'ENOENT' ? 'command not found' : err.message}`)
      resolve(err.code === 'ENOENT' ? 127 : 126)
    })
    child.once('exit', (code, signal) => {
      if (done) return
      done = true
      resolve(code ?? 128 + signalNumber(signal))
    })
  })
}

export async function exec (
  client: LockClient, database: string, lockOptions: ClientLockOptions, argv: string[], output: Output, signals: SignalSource
): Promise<number> {
  let received: NodeJS.Signals | null = null
  let kill: ((signal: NodeJS.Signals) => void) | null = null
  // Installed before the lock is taken: a signal now must still end in a release, not a dead process holding it.
  const onSignal = (signal: NodeJS.Signals): void => {
    received ??= signal
    kill?.(signal)
  }
  for (const signal of FORWARDED_SIGNALS) signals.on(signal, onSignal)
  // Set once the command has run (or was skipped for a signal); read after withLock settles.
  const outcome: { code: number | null } = { code: null }
  const mode = lockOptions.mode ?? 'write'
  // This run's own holder: releasing it never lifts a lock somebody else holds.
  const holder = lockOptions.holder ?? uniqueHolder()
  try {
    await client.withLock(database, {
      ...lockOptions,
      mode,
      holder,
      onError: (err, phase) => { output.warn(`${phase === 'keepalive' ? 'keeping the lock alive' : 'releasing the lock'}: ${err.message}`) }
    }, async (status) => {
      const held = status.locks.find((lock) => lock.mode === mode && lock.holder === holder)
      output.warn(held === undefined ? `${clean(status.database)} locked (${mode})` : lockLine(status.database, held))
      if (received !== null) {
        outcome.code = 128 + signalNumber(received)
        return
      }
      outcome.code = await runCommand(argv, output, (killer) => { kill = killer })
    })
    output.warn(`${clean(database)} unlocked (${mode})`)
    return outcome.code ?? EXIT_REFUSED
  } catch (err) {
    if (outcome.code === null) throw err
    // The command ran but its lock could not be released: say so loudly, and never report plain success.
    const code = output.report(err)
    output.warn(`the ${mode} lock on ${clean(database)} is still held; lift it with: dblock unlock ${shellWord(database)} --mode ${mode} --holder ${holder}`)
    return outcome.code !== 0 ? outcome.code : code
  } finally {
    for (const signal of FORWARDED_SIGNALS) signals.off(signal, onSignal)
  }
}
