// Type tests: compiled by `npm run typecheck` (tsc --noEmit) against the shipped
// declarations. A line under @ts-expect-error must fail to compile, or tsc fails.
import Fastify from 'fastify'
import databaseLock, {
  type DatabaseLockOptions, type LockList, type LockStatus, type LockStore, type RouteLockClass, SqliteLockStore, databaseLock as named
} from 'fastify-database-lock'

function expectType<T> (value: T): T { return value }

const app = Fastify()

const options: DatabaseLockOptions = {
  path: './data/locks.db',
  principal: (request) => request.headers['x-user'] as string | undefined,
  resolveDatabase: async (nameOrIdentity) => ({ id: nameOrIdentity, owner: 'alice' }),
  adminKey: process.env.ADMIN_KEY
}
app.register(databaseLock, options)
app.register(named, { store: new SqliteLockStore({ path: 'x.db' }), principal: () => null, resolveDatabase: () => null })

// @ts-expect-error principal is required
app.register(databaseLock, { path: 'x.db', resolveDatabase: () => null })
// @ts-expect-error resolveDatabase must answer { id, owner }
app.register(databaseLock, { path: 'x.db', principal: () => null, resolveDatabase: () => ({ id: 'x' }) })
// @ts-expect-error failOpen is a boolean
app.register(databaseLock, { path: 'x.db', principal: () => null, resolveDatabase: () => null, failOpen: 'yes' })

// The decorator
expectType<Promise<LockStatus>>(app.databaseLock.lock('prod', { mode: 'write', reason: 'restore', ttl: 3600, by: 'ops' }))
expectType<Promise<LockStatus>>(app.databaseLock.unlock('prod', { mode: 'delete' }))
expectType<Promise<LockStatus>>(app.databaseLock.status('prod'))
expectType<Promise<LockList>>(app.databaseLock.list({ limit: 10, cursor: 'abc' }))
// @ts-expect-error there is no "all" mode
app.databaseLock.lock('prod', { mode: 'all' })
// @ts-expect-error ttl is a number of seconds
app.databaseLock.lock('prod', { ttl: '1h' })

async function statusShape (): Promise<void> {
  const status = await app.databaseLock.status('prod')
  expectType<string>(status.database)
  expectType<boolean>(status.locked)
  expectType<'delete' | 'write'>(status.locks[0].mode)
  expectType<string | null>(status.locks[0].expiresAt)
}
expectType<() => Promise<void>>(statusShape)

// Route config
app.delete('/v1/database/:name/cache', { config: { databaseLock: false } }, async () => ({}))
app.post('/v1/database/:name/reset', { config: { databaseLock: 'reset' } }, async () => ({}))
// @ts-expect-error not a route class
app.post('/v1/database/:name/wipe', { config: { databaseLock: 'destroy' } }, async () => ({}))
expectType<RouteLockClass>('read')

// A LockStore is an interface a second engine can implement
const store: LockStore = new SqliteLockStore({ path: 'x.db' })
expectType<Promise<void>>(store.close())
