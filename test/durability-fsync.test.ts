// Durability that a process kill cannot fake: killing a process leaves the OS page cache
// intact, so a store that never syncs (synchronous=OFF) passes a SIGKILL test. Here the
// real server runs under strace, and for each lock and unlock the test checks that an
// fsync/fdatasync of the lock store's file came after the request and before the 200 went
// out on the socket: "a 200 means it is on disk".
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { tempDir } from './helpers/app.js'
import { call, DEMO_FIXTURE } from './helpers/processes.js'

const hasStrace = spawnSync('strace', ['-V']).status === 0

t.test('an fsync of the lock store precedes every 200 of lock and unlock', { skip: hasStrace ? false : 'strace is not installed (apt-get install strace) or cannot trace here' }, async (t) => {
  const dir = tempDir(t)
  const log = join(dir, 'strace.log')
  const child = spawn('strace', ['-f', '-yy', '-s', '48', '-e', 'trace=fsync,fdatasync,write,writev', '-o', log, process.execPath, DEMO_FIXTURE], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', DATA_DIR: join(dir, 'data') },
    stdio: ['ignore', 'pipe', 'inherit'],
    // Its own process group: strace and the server it traces end together.
    detached: true
  })
  t.teardown(() => {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
    child.stdout.destroy()
  })
  const url = await new Promise<string>((resolve, reject) => {
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const match = /listening on (http:\/\/\S+)/.exec(output)
      if (match !== null) resolve(match[1])
    })
    child.once('exit', (code) => reject(new Error(`the traced server exited (${String(code)}) before listening`)))
  })
  t.equal((await call(`${url}/v1/database/prod`, 'POST', { user: 'alice' })).status, 201)
  const steps: Array<[string, string, unknown]> = [
    ['lock', 'lock', { mode: 'delete' }],
    ['unlock', 'unlock', { mode: 'delete' }],
    ['write lock', 'lock', { mode: 'write', ttl: 60 }],
    ['write unlock', 'unlock', { mode: 'write' }]
  ]
  for (const [label, action, body] of steps) {
    const res = await call(`${url}/v1/database/prod/${action}`, 'POST', { user: 'alice', body })
    t.equal(res.status, 200, `${label}: 200`)
  }
  // strace writes its log as the traced process runs; the last response is the last 200.
  const lines = readFileSync(log, 'utf8').split('\n')
  const responses = lines.flatMap((line, index) => /^\d+\s+writev?\(\d+<TCP:.*HTTP\/1\.1 (\d{3})/.exec(line) === null ? [] : [{ index, status: /HTTP\/1\.1 (\d{3})/.exec(line)?.[1] }])
  const created = responses.findIndex((response) => response.status === '201')
  const acks = responses.slice(created + 1).filter((response) => response.status === '200')
  t.equal(acks.length, steps.length, 'one 200 on the socket per step')
  let previous = responses[created].index
  for (const [i, ack] of acks.entries()) {
    const between = lines.slice(previous + 1, ack.index)
    const synced = between.some((line) => /\b(fsync|fdatasync)\(\d+<[^>]*database-locks\.db(-wal)?>\)\s+= 0/.test(line))
    t.ok(synced, `${steps[i][0]}: the lock store was synced to disk before its 200 was written`)
    previous = ack.index
  }
})
