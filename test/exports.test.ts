// The package's public shape: require and import give the same plugin, with named exports.
import { execFileSync, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { ROOT } from './helpers/processes.js'

t.test('require() returns the plugin with default and named exports', async (t) => {
  // The built package, as users load it.
  const script = `
    const plugin = require('${ROOT}/dist/lib/index.js')
    console.log(JSON.stringify({
      type: typeof plugin,
      sameDefault: plugin.default === plugin,
      sameNamed: plugin.databaseLock === plugin && plugin.fastifyDatabaseLock === plugin,
      name: plugin[Symbol.for('fastify.display-name')],
      meta: plugin[Symbol.for('plugin-meta')],
      store: typeof plugin.SqliteLockStore,
      errors: Object.keys(plugin.errors).length > 5,
      checkName: plugin.checkDatabaseName('Prod') !== null,
      client: typeof plugin.createLockClient
    }))`
  const result = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }))
  t.same(result, {
    type: 'function',
    sameDefault: true,
    sameNamed: true,
    name: 'fastify-database-lock',
    meta: { fastify: '5.x', name: 'fastify-database-lock' },
    store: 'function',
    errors: true,
    checkName: true,
    client: 'function'
  })
})

t.test('import gives the same function as default and named exports', async (t) => {
  const script = `
    import plugin, { databaseLock, fastifyDatabaseLock, SqliteLockStore } from '${ROOT}/dist/lib/index.js'
    console.log(JSON.stringify([typeof plugin, plugin === databaseLock, plugin === fastifyDatabaseLock, typeof SqliteLockStore]))`
  const result = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }))
  t.same(result, ['function', true, true, 'function'])
})

t.test('the package resolves by name through its exports map', async (t) => {
  const script = "const p = require('fastify-database-lock'); console.log(typeof p, typeof require('fastify-database-lock/package.json').version)"
  t.equal(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: ROOT }).trim(), 'function string')
  // The client alone, for scripts that need neither Fastify nor SQLite.
  const client = "const c = require('fastify-database-lock/client'); console.log(typeof c.createLockClient)"
  t.equal(execFileSync(process.execPath, ['-e', client], { encoding: 'utf8', cwd: ROOT }).trim(), 'function')
})

t.test('fastify-database-lock/testing runs the store conformance suite under node:test', async (t) => {
  const script = join(ROOT, 'test', 'fixtures', 'conformance-node-test.js')
  const result = spawnSync(process.execPath, ['--test', '--test-reporter=tap', script], { encoding: 'utf8', cwd: ROOT })
  if (result.status !== 0) t.comment(result.stdout + result.stderr)
  t.equal(result.status, 0, 'node --test exits 0')
  const passed = Number(/^# pass (\d+)/m.exec(result.stdout)?.[1] ?? 0)
  t.ok(passed >= 20, `the suite's tests ran and passed under node:test (${passed})`)
  t.match(result.stdout, /^# fail 0/m)
})
