// Type tests: compiled by `npm run typecheck` (tsc --noEmit) against the shipped
// declarations. A line under @ts-expect-error must fail to compile, or tsc fails.
// expectType checks that a value is assignable; Exact<A, B> checks that two types are the
// same type (neither wider nor narrower), so a type that drifts to `any` or widens fails.
import Fastify, { type FastifyInstance } from 'fastify'
import databaseLock, {
  type DatabaseLockDecorator, type DatabaseLockOptions, type LockEventPage, type LockInfo, type LockList, type LockMode, type LockStatus,
  type LockStore, type RouteLockClass, SqliteLockStore, databaseLock as named, markOptionalBodies,
  DatabaseLockRefusalSchema, LockListSchema, LockStatusSchema
} from 'fastify-database-lock'
import type { Static, TObject } from 'typebox'
import { createLockClient, type LockClient } from 'fastify-database-lock/client'
import { nodeTestSuite, storeConformance, type ConformanceSuite, type FixtureFactory } from 'fastify-database-lock/testing'

function expectType<T> (value: T): T { return value }

type Exact<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function expectExact<A, B> (same: Exact<A, B>): Exact<A, B> { return same }

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

// Exact types: what users write against must not widen (to `any`, `string`) or narrow.
expectExact<FastifyInstance['databaseLock'], DatabaseLockDecorator>(true)
expectExact<ReturnType<DatabaseLockDecorator['lock']>, Promise<LockStatus>>(true)
expectExact<ReturnType<DatabaseLockDecorator['events']>, Promise<LockEventPage>>(true)
expectExact<LockMode, 'delete' | 'write'>(true)
expectExact<RouteLockClass, 'delete' | 'reset' | 'write' | 'read' | false>(true)
expectExact<LockStatus['locks'][number], LockInfo>(true)
expectExact<LockInfo['expiresAt'], string | null>(true)
expectExact<LockInfo['reason'], string | null>(true)
expectExact<LockEventPage['nextCursor'], string | null>(true)
expectExact<NonNullable<Parameters<DatabaseLockDecorator['lock']>[1]>['mode'], LockMode | undefined>(true)
expectExact<Awaited<ReturnType<DatabaseLockOptions['principal']>>, string | null | undefined>(true)
// @ts-expect-error Exact tells a wider type from the type itself
expectExact<LockInfo['expiresAt'], string | null | undefined>(true)

// The client entry point, on its own
const client: LockClient = createLockClient({ server: 'http://127.0.0.1:3000', token: 't' })
expectExact<ReturnType<LockClient['lock']>, Promise<LockStatus>>(true)
expectType<Promise<LockStatus>>(client.status('prod'))

// The testing entry point: the conformance suite for any LockStore
expectExact<Parameters<typeof storeConformance>[1], FixtureFactory>(true)
expectExact<Awaited<ReturnType<Awaited<ReturnType<FixtureFactory>>['open']>>, LockStore>(true)
expectType<ConformanceSuite>(nodeTestSuite(async () => {}))

// Types derived from the schemas keep their exact field types
type EventOf<P> = P extends { events: Array<infer E> } ? E : never
expectExact<EventOf<LockEventPage>['at'], string>(true)
expectExact<EventOf<LockEventPage>['mode'], LockMode | null>(true)
expectExact<EventOf<LockEventPage>['principal'], string | null>(true)
expectExact<EventOf<LockEventPage>['count'], number>(true)
expectExact<LockList['locks'][number]['database'], string>(true)
expectExact<LockList['locks'][number]['mode'], LockMode>(true)

// The exported schemas are plain objects at run time (lib/schemas.generated.js) with their TypeBox types.
expectType<TObject>(LockStatusSchema)
expectExact<Static<typeof LockStatusSchema>, LockStatus>(true)
expectExact<Static<typeof LockListSchema>, LockList>(true)
expectExact<Static<typeof DatabaseLockRefusalSchema>['code'], 'DATABASE_LOCKED' | 'DATABASE_WRITE_LOCKED' | 'LOCK_STORE_UNAVAILABLE'>(true)
expectExact<Static<typeof DatabaseLockRefusalSchema>['locks'], LockInfo[] | undefined>(true)

// For @fastify/swagger's transformObject: the document goes back with its own type.
const document = { openapi: '3.0.3', paths: { '/v1/database/{name}/lock': { post: { operationId: 'lockDatabase', requestBody: { required: true } } } } }
expectType<typeof document>(markOptionalBodies(document))
expectExact<ReturnType<typeof markOptionalBodies<typeof document>>, typeof document>(true)
