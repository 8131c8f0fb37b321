// What a consumer meets: packs this package, installs the tarball with fastify into an empty
// folder, runs its bin and loads it both ways, and sorts npm's warnings by where they come
// from. Fails when a warning comes from this package or its own dependencies (not fastify's).
// Needs the npm registry (or a warm npm cache). `npm run check:tarball [-- --ignore-scripts]`:
// with --ignore-scripts better-sqlite3 is not built (fast), and the plugin is only loaded.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..', '..')
const ignoreScripts = process.argv.includes('--ignore-scripts')
const work = mkdtempSync(join(tmpdir(), 'dblock-tarball-'))
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

function run (command, args, cwd) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' })
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

try {
  const { name, version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  execFileSync(npm, ['pack', '--pack-destination', work], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
  const tarball = join(work, `${name}-${version}.tgz`)
  const consumer = join(work, 'consumer')
  mkdirSync(consumer)
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))

  const install = run(npm, ['install', tarball, 'fastify', '--no-audit', '--no-fund', ...(ignoreScripts ? ['--ignore-scripts'] : [])], consumer)
  process.stdout.write(`$ npm install ${name}-${version}.tgz fastify (Node ${process.version})\n${install.output}\n`)
  if (install.status !== 0) throw new Error('npm install failed')

  // This package's own dependency tree, without its peers (fastify is the consumer's choice).
  const tree = JSON.parse(run(npm, ['ls', '--all', '--json'], consumer).output)
  const ours = new Set([name])
  const collect = (dependencies = {}) => {
    for (const [dependency, info] of Object.entries(dependencies)) {
      if (dependency === 'fastify' || dependency === 'pg' || ours.has(dependency)) continue
      ours.add(dependency)
      collect(info.dependencies)
    }
  }
  collect(tree.dependencies[name].dependencies)

  const warnings = [...install.output.matchAll(/npm warn EBADENGINE\s+package: '([^@']+|@[^@']+)@[^']*'/g)].map((match) => match[1])
  const scripts = [...install.output.matchAll(/npm warn install-scripts\s+(\S+)@\S+ \(/g)].map((match) => match[1])
  const other = install.output.split('\n').filter((line) => line.startsWith('npm warn') && !/EBADENGINE|install-scripts/.test(line))
  let failed = false
  for (const pkg of warnings) {
    const from = ours.has(pkg) ? `${name}'s own dependencies` : 'outside this package (fastify\'s tree)'
    process.stdout.write(`EBADENGINE ${pkg}: from ${from}\n`)
    if (ours.has(pkg)) failed = true
  }
  for (const pkg of scripts) process.stdout.write(`install script not approved by the consumer: ${pkg} (${ours.has(pkg) ? 'our dependency' : 'not ours'})\n`)
  for (const line of other) {
    process.stdout.write(`other warning: ${line}\n`)
    failed = true
  }

  const help = run(join(consumer, 'node_modules', '.bin', 'dblock'), ['--help'], consumer)
  process.stdout.write(`$ npx dblock --help → exit ${help.status}: ${help.output.split('\n')[0]}\n`)
  if (help.status !== 0 || !/Usage/.test(help.output)) failed = true

  const load = ignoreScripts
    ? `require('${name}'); import('${name}').then((m) => console.log('loads: require and import', typeof m.default))`
    : `const app = require('fastify')(); app.register(require('${name}'), { path: 'locks.db', principal: () => 'a', resolveDatabase: (n) => ({ id: n, owner: 'a' }) })
       app.ready().then(() => app.databaseLock.lock('prod')).then((s) => { console.log('a lock through the installed plugin:', s.locked); return app.close() })`
  const loaded = run(process.execPath, ['-e', load], consumer)
  process.stdout.write(loaded.output)
  if (loaded.status !== 0) failed = true

  process.stdout.write(failed ? 'FAILED: see above\n' : 'ok: no warning from this package or its own dependencies; the bin works\n')
  process.exitCode = failed ? 1 : 0
} finally {
  rmSync(work, { recursive: true, force: true })
}
