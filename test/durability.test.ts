// Every lock acknowledged before a SIGKILL is in the store after reopening.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { SqliteLockStore } from '../lib/store/sqlite/sqlite-store.js'
import { tempDir } from './helpers/app.js'
import { ROOT } from './helpers/processes.js'

t.test('acknowledged locks survive SIGKILL at a random moment', async (t) => {
  const file = join(tempDir(t), 'locks.db')
  const killAfter = 100 + Math.floor(Math.random() * 800)
  const child = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'lock-writer.js')], {
    env: { ...process.env, LOCK_FILE: file, LOCK_COUNT: '1000' },
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

  const store = new SqliteLockStore({ path: file })
  t.teardown(() => store.close())
  const present = new Set((await store.snapshot(Date.now())).rows.map((row) => row.database))
  const missing = acked.filter((i) => !present.has(`db-${i}`))
  t.same(missing, [], `all ${acked.length} acknowledged locks are present after reopening`)
})
