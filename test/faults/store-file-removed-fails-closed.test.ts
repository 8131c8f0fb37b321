// The store file removed under a running service was not noticed: the process went on
// acknowledging locks (written to an unlinked inode, gone at the next start) and logged
// nothing, while a new process would create a fresh, empty file. Now the process notices
// within a second that its path no longer names the file it opened, refuses guarded
// operations and lock requests (503 LOCK_STORE_UNAVAILABLE), logs one error line, and
// recovers when that same file is back at its path.
import { renameSync, rmSync } from 'node:fs'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import t from 'tap'
import { tempDir } from '../helpers/app.js'
import { databaseLock, hostOptions } from '../helpers/host.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const SUFFIXES = ['', '-wal', '-shm']

async function hostOn (t: Parameters<typeof tempDir>[0], path: string) {
  const lines: Array<{ level: number, msg: string }> = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    }
  })
  const app = Fastify({ logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  await app.register(databaseLock, hostOptions(t, { path }))
  app.delete('/db/:name', async () => ({ deleted: true }))
  await app.ready()
  return { app, lines }
}

/** Sends `request` until it answers `status` or a bound passes; resolves with how long that took. */
async function answersWithin (request: () => Promise<number>, status: number, bound: number): Promise<number | null> {
  const started = Date.now()
  while (Date.now() - started < bound) {
    if (await request() === status) return Date.now() - started
    await sleep(20)
  }
  return null
}

t.test('rm of the store file: guarded deletes and lock requests fail closed, one error line', async (t) => {
  const path = `${tempDir(t)}/locks.db`
  const { app, lines } = await hostOn(t, path)
  await app.databaseLock.lock('prod')
  const del = async () => (await app.inject({ method: 'DELETE', url: '/db/prod', headers: { 'x-user': 'bob' } })).statusCode
  const lock = async () => (await app.inject({ method: 'POST', url: '/v1/database/stage/lock', headers: { 'x-user': 'alice' } })).statusCode
  t.equal(await del(), 403)

  for (const suffix of SUFFIXES) rmSync(path + suffix, { force: true })
  const noticed = await answersWithin(del, 503, 1500)
  t.ok(noticed !== null && noticed <= 1000, `guarded delete refused with 503 within a second (${noticed} ms)`)
  t.equal(await lock(), 503, 'a lock request is not acknowledged into a deleted file')
  const body = (await app.inject({ method: 'POST', url: '/v1/database/stage/lock', headers: { 'x-user': 'alice' } })).json()
  t.equal(body.code, 'LOCK_STORE_UNAVAILABLE')
  t.notMatch(JSON.stringify(body), /locks\.db|ENOENT/, 'the path stays in the log')
  await sleep(300)
  const errors = lines.filter((line) => line.level >= 50 && /lock view/.test(line.msg))
  t.equal(errors.length, 1, 'one error line for the outage, not one per poll')
  t.match(JSON.stringify(lines.filter((line) => line.level >= 50)), /no longer names the file this process opened/, 'the log says what happened')
})

t.test('the same file moved away and back: the process recovers by itself', async (t) => {
  const path = `${tempDir(t)}/locks.db`
  const { app } = await hostOn(t, path)
  await app.databaseLock.lock('prod')
  const del = async () => (await app.inject({ method: 'DELETE', url: '/db/prod', headers: { 'x-user': 'bob' } })).statusCode
  for (const suffix of SUFFIXES) renameSync(path + suffix, `${path}.moved${suffix}`)
  t.not(await answersWithin(del, 503, 1500), null, 'moved away: refused')
  for (const suffix of SUFFIXES) renameSync(`${path}.moved${suffix}`, path + suffix)
  t.not(await answersWithin(del, 403, 1500), null, 'back: the lock is enforced again')
  t.equal((await app.inject({ method: 'POST', url: '/v1/database/stage/lock', headers: { 'x-user': 'alice' } })).statusCode, 200, 'and locks are taken again')
})
