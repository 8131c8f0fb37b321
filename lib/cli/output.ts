// Where `dblock` writes: stdout for what the command answers, stderr for everything else,
// and one place that turns an error into its message and exit code.
import { LockClientError } from '../client.js'
import { EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE } from './commands.js'
import { clean } from './format.js'
import { UsageError } from './parse-args.js'

export interface Output {
  /** One line of the command's answer. */
  print (text: string): void
  /** One line for the person at the terminal, prefixed `dblock: `. */
  warn (text: string): void
  /** Prints an error as the invocation asked for (text, or JSON with --json); returns its exit code. */
  report (err: unknown): number
}

export interface OutputOptions {
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** --json: errors go to stderr as the server's JSON body. */
  json: boolean
  /** Whether a token or admin key was given: a 401 without either gets a hint. */
  hasCredentials: boolean
}

export function createOutput (options: OutputOptions): Output {
  const { stdout, stderr } = options
  const warn = (text: string): void => { stderr(`dblock: ${text}\n`) }
  return {
    print (text) { stdout(`${text}\n`) },
    warn,
    report (err) {
      if (err instanceof UsageError) {
        warn(`${err.message}\nRun "dblock ${err.command === undefined ? '' : `${err.command} `}--help" for usage.`)
        return EXIT_USAGE
      }
      if (err instanceof LockClientError) {
        const code = err.unreachable ? EXIT_UNREACHABLE : EXIT_REFUSED
        if (options.json) {
          stderr(`${JSON.stringify(err.body ?? { statusCode: err.statusCode, code: err.code, message: err.message })}\n`)
        } else {
          warn(`${clean(err.message)} (${err.code})`)
          if (err.statusCode === 401 && !options.hasCredentials) warn('no credentials were sent: set DBLOCK_TOKEN (or pass --token), or DBLOCK_ADMIN_KEY for the admin key')
        }
        return code
      }
      warn(`unexpected failure: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
      return EXIT_REFUSED
    }
  }
}
