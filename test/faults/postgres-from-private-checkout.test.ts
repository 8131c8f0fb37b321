// `npm test` as root from a checkout in a private folder (mode 700: under /root, or
// `mktemp -d`) once failed: PostgreSQL runs as the `postgres` user, which could not reach
// the binaries inside node_modules (`spawn …/initdb EACCES`). The starter now runs them
// from a folder of its own.
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { nativeDir, startPostgresServer } from '../helpers/postgres-server.js'

t.test('PostgreSQL starts as root from binaries in a mode-700 folder', async (t) => {
  if (process.getuid?.() !== 0) {
    t.pass('not root here: the server runs as this user, who can read its own checkout')
    return
  }
  const hidden = mkdtempSync(join(tmpdir(), 'dblock-private-'))
  t.teardown(() => rmSync(hidden, { recursive: true, force: true }))
  chmodSync(hidden, 0o700)
  const binaries = join(hidden, 'native')
  execFileSync('cp', ['-al', nativeDir(), binaries])
  const server = await startPostgresServer({ fsync: false, binaries })
  t.teardown(() => server.destroy())
  t.same(await server.query('SELECT 1 AS one'), [{ one: 1 }], 'the server answers')
  await server.stop()
  await server.start()
  t.same(await server.query('SELECT 2 AS two'), [{ two: 2 }], 'and starts again after a stop')
})
