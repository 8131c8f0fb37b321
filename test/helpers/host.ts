// A minimal host application (not the demo) for guard and scope tests.
import Fastify, { type FastifyInstance } from 'fastify'
import databaseLock from '../../lib/index.js'
import type { DatabaseLockOptions } from '../../types/index.js'
import { tempDir, type TapLike } from './app.js'

export const OWNERS = new Map([['prod', 'alice'], ['stage', 'alice'], ['other', 'bob']])

/** Plugin options for a host whose callers send `x-user` and whose databases are OWNERS. */
export function hostOptions (t: TapLike, extra: Partial<DatabaseLockOptions> = {}): DatabaseLockOptions {
  return {
    path: `${tempDir(t)}/locks.db`,
    principal: (request) => (request.headers['x-user'] as string | undefined) ?? null,
    resolveDatabase: (name) => OWNERS.has(name) ? { id: name, owner: OWNERS.get(name) as string } : null,
    ...extra
  }
}

export function newHost (t: TapLike): FastifyInstance {
  const app = Fastify()
  t.teardown(() => app.close())
  return app
}

export { databaseLock }
