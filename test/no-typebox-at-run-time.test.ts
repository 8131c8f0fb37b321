// The plugin loads no TypeBox at run time: its JSON schemas are built from the TypeBox sources at
// build time (lib/schemas.generated.js). TypeBox is about 700 ES modules, 5 MiB of heap and a
// tenth of a second of every start, for nothing a request needs.
import { execFileSync } from 'node:child_process'
import { join, sep } from 'node:path'
import t from 'tap'
import { tempDir } from './helpers/app.js'
import { ROOT } from './helpers/processes.js'

const FIXTURES = join(ROOT, 'test', 'fixtures')
const TYPEBOX_PACKAGES = ['typebox', join('@fastify', 'type-provider-typebox')].map((name) => `${sep}node_modules${sep}${name}${sep}`)
const fromTypeBox = (files: string[]) => files.filter((file) => TYPEBOX_PACKAGES.some((dir) => file.includes(dir)))

t.test('loading, registering and serving the built plugin loads no module of typebox', async (t) => {
  const output = execFileSync(process.execPath, ['--import', join(FIXTURES, 'record-esm-loads.mjs'), join(FIXTURES, 'plugin-module-loads.js'), tempDir(t)], {
    cwd: ROOT, encoding: 'utf8'
  })
  const { answers, plugin, control } = JSON.parse(output) as { answers: number[], plugin: string[], control: string[] }
  t.same(answers, [200, 200, 403, 400], 'the lock routes, the guard and validation answered')
  t.ok(plugin.some((file) => file.endsWith(join('dist', 'lib', 'routes.js'))), 'the record holds the plugin\'s own modules')
  t.same(fromTypeBox(plugin), [], 'no module of typebox or @fastify/type-provider-typebox')
  // The control: the record sees typebox when it is loaded, by require() and by import().
  t.ok(control.some((file) => file.includes(TYPEBOX_PACKAGES[0])), 'require(\'typebox\') shows in the record')
  t.ok(control.some((file) => file.includes(TYPEBOX_PACKAGES[1])), 'import(\'@fastify/type-provider-typebox\') shows in the record')
})
