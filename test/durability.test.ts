// Every lock acknowledged before a SIGKILL is in the store after reopening, on both stores.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { PostgresLockStore } from '../lib/store/postgres/postgres-store.js'
import { SqliteLockStore } from '../lib/store/sqlite/sqlite-store.js'
import type { LockStore } from '../types/index.js'
import { tempDir, type TapLike } from './helpers/app.js'
import { startPostgres } from './helpers/postgres.js'
import { ROOT } from './helpers/processes.js'

/** Runs the lock writer on `store` (its env), SIGKILLs it at a random moment, then checks the store. */
async function killedWriter (t: Test, storeEnv: Record<string, string>, reopen: () => Promise<LockStore>): Promise<void> {
  const killAfter = 100 + Math.floor(Math.random() * 800)
  const child = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'lock-writer.js')], {
    env: { ...process.env, ...storeEnv, LOCK_COUNT: '1000' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const acked: number[] = []
  let buffered = ''
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    let newline: number
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const match = /^ack (\d+)$/.exec(buffered.slice(0, newline))
      buffered = buffered.slice(newline + 1)
      if (match !== null) acked.push(Number(match[1]))
      if (acked.length === killAfter) child.kill('SIGKILL')
    }
  })
  const signal = await new Promise((resolve) => child.once('exit', (_code, sig) => resolve(sig)))
  t.equal(signal, 'SIGKILL', `killed after ${acked.length} acknowledgements (aimed at ${killAfter})`)
  t.ok(acked.length >= killAfter && acked.length < 1000, 'killed in the middle of the run')

  const store = await reopen()
  const present = new Set((await store.snapshot(Date.now())).rows.map((row) => row.database))
  const missing = acked.filter((i) => !present.has(`db-${i}`))
  t.same(missing, [], `all ${acked.length} acknowledged locks are present after reopening`)
}

function closing<S extends LockStore> (t: TapLike, store: S): S {
  t.teardown(() => store.close())
  return store
}

t.test('SQLite: acknowledged locks survive SIGKILL at a random moment', async (t) => {
  const file = join(tempDir(t), 'locks.db')
  await killedWriter(t, { LOCK_FILE: file }, async () => closing(t, new SqliteLockStore({ path: file })))
})

t.test('PostgreSQL: acknowledged locks survive SIGKILL at a random moment', async (t) => {
  const server = await startPostgres(t)
  const { url } = await server.createDatabase(t)
  await killedWriter(t, { LOCK_URL: url }, async () => {
    const store = closing(t, new PostgresLockStore({ url }))
    await store.connect()
    return store
  })
})
