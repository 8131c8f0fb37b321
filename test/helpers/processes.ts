// Real server processes for multi-process, crash and CLI tests.
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import type { TapLike } from './app.js'

export const ROOT = join(__dirname, '..', '..')
export const DEMO_FIXTURE = join(ROOT, 'test', 'fixtures', 'demo-process.js')

export interface ServerProcess {
  url: string
  child: ChildProcess
  output: () => string
  stop (signal?: NodeJS.Signals): Promise<void>
}

/**
 * Starts the built demo service (test/fixtures/demo-process.js) on 127.0.0.1 with a
 * random port and waits for its "listening" line. `fixture` passes extra settings.
 */
export function startServerProcess (t: TapLike, env: Record<string, string>, fixture: Record<string, unknown> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [DEMO_FIXTURE], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', FIXTURE_SETTINGS: JSON.stringify(fixture), ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill(signal)
    await exited
  }
  t.teardown(() => stop('SIGKILL'))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 20 s:\n${output}`)), 20_000)
    child.stdout?.on('data', () => {
      const match = /listening on (http:\/\/\S+)/.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        resolve({ url: match[1], child, output: () => output, stop })
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${String(code)} before listening:\n${output}`))
    })
  })
}

/** fetch() with a JSON body and the alice/bob bearer tokens. */
export async function call (url: string, method: string, options: { user?: string, body?: unknown, adminKey?: string } = {}) {
  const headers: Record<string, string> = {}
  if (options.user !== undefined) headers.authorization = `Bearer ${options.user}-token`
  if (options.adminKey !== undefined) headers['x-admin-key'] = options.adminKey
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(url, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) })
  const text = await res.text()
  let json: unknown = null
  try { json = JSON.parse(text) } catch {}
  return { status: res.status, headers: res.headers, json: json as Record<string, unknown>, text }
}
