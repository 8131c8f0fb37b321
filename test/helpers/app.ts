// Shared test set-up: temp dirs, the demo app in-process, and request shorthands.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildDemoApp, type DemoSettings } from '../../lib/demo/app.js'

export const ADMIN_KEY = 'test-admin-key-0123456789'
export const TOKENS = new Map([['alice-token', 'alice'], ['bob-token', 'bob']])

export interface TapLike {
  teardown (fn: () => unknown): void
}

/** A fresh folder under the system temp dir, removed after the test. */
export function tempDir (t: TapLike, prefix = 'dblock-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A controllable clock for expiry tests. */
export function fakeClock (start = Date.parse('2026-11-23T10:00:00.000Z')) {
  let now = start
  return {
    now: () => now,
    advance (ms: number) { now += ms }
  }
}

export interface DemoHandle {
  app: FastifyInstance
  dataDir: string
  as (user: 'alice' | 'bob' | null, method: string, url: string, payload?: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>
  admin (method: string, url: string, payload?: unknown, key?: string): Promise<LightMyRequestResponse>
}

/** The demo service in-process on a temp data dir, with the admin key set. */
export async function startDemo (t: TapLike, settings: Partial<DemoSettings> = {}): Promise<DemoHandle> {
  const dataDir = settings.dataDir ?? tempDir(t)
  const app = await buildDemoApp({ dataDir, tokens: TOKENS, adminKey: ADMIN_KEY, ...settings })
  t.teardown(() => app.close())
  await app.ready()
  const send = (method: string, url: string, payload: unknown, headers: Record<string, string>) =>
    app.inject({
      method: method as 'GET',
      url,
      headers: payload === undefined ? headers : { 'content-type': 'application/json', ...headers },
      payload: payload === undefined ? undefined : typeof payload === 'string' ? payload : JSON.stringify(payload)
    })
  return {
    app,
    dataDir,
    as: (user, method, url, payload, headers = {}) =>
      send(method, url, payload, user === null ? headers : { authorization: `Bearer ${user}-token`, ...headers }),
    admin: (method, url, payload, key = ADMIN_KEY) => send(method, url, payload, { 'x-admin-key': key })
  }
}

/** Creates databases owned by alice unless said otherwise. */
export async function createDatabases (demo: DemoHandle, names: string[], owner: 'alice' | 'bob' = 'alice'): Promise<void> {
  for (const name of names) {
    const res = await demo.as(owner, 'POST', `/v1/database/${encodeURIComponent(name)}`)
    if (res.statusCode !== 201) throw new Error(`creating ${name}: ${res.statusCode} ${res.body}`)
  }
}
