// The published package ships the JavaScript its entry points load, and nothing else: npm's own
// list of the tarball (`npm pack --dry-run`, which reads package.json's `files`) against the
// files reached by following relative require()s from `main`, `exports` and `bin` in dist/.
// A file missing from the list breaks an install; a file that nothing loads (the TypeBox
// sources of the generated schemas, for one) is dead weight that looks like part of the API.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import t from 'tap'
import { ROOT } from '../helpers/processes.js'

interface PackedFile { path: string }
interface PackResult { files: PackedFile[] }

function isPackResult (value: unknown): value is PackResult[] {
  return Array.isArray(value) && value.every((entry: unknown) =>
    typeof entry === 'object' && entry !== null && 'files' in entry && Array.isArray(entry.files))
}

/** Every string leaf of package.json's `exports`, `main` and `bin`: the files a consumer can load. */
function entryPoints (): string[] {
  const manifest: unknown = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
  const leaves: string[] = []
  const collect = (value: unknown): void => {
    if (typeof value === 'string') leaves.push(value)
    else if (typeof value === 'object' && value !== null) Object.values(value).forEach(collect)
  }
  if (typeof manifest === 'object' && manifest !== null) {
    for (const field of ['main', 'exports', 'bin']) collect(Reflect.get(manifest, field))
  }
  return leaves.filter((file) => file.endsWith('.js')).map((file) => normalize(file))
}

/** The .js files reached from `entries` through relative require() calls, as paths from ROOT. */
function reachable (entries: string[]): Set<string> {
  const seen = new Set<string>()
  const pending = [...entries]
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (seen.has(file)) continue
    seen.add(file)
    const source = readFileSync(join(ROOT, file), 'utf8')
    for (const [, target] of source.matchAll(/require\(["'](\.{1,2}\/[^"']+)["']\)/g)) {
      if (target !== undefined) pending.push(relative(ROOT, join(ROOT, dirname(file), target)))
    }
  }
  return seen
}

t.test('the tarball holds exactly the JavaScript that main, exports and bin load', async (t) => {
  if (!existsSync(join(ROOT, 'dist', 'lib', 'index.js'))) {
    t.fail('dist/ is not built: run `npm run build` (npm test does) before this test')
    return
  }
  // --ignore-scripts: list what `files` selects from today's dist/ without running prepack's build.
  const output = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const parsed: unknown = JSON.parse(output)
  if (!isPackResult(parsed) || parsed.length !== 1) {
    t.fail(`npm pack --dry-run --json printed an unexpected shape: ${output.slice(0, 200)}`)
    return
  }
  const packedScripts = parsed[0]?.files.map((entry) => normalize(entry.path)).filter((file) => file.endsWith('.js')).sort() ?? []
  const loaded = [...reachable(entryPoints())].sort()

  t.ok(loaded.length > 20, `the walk from the entry points reached the plugin's files (${loaded.length})`)
  t.same(packedScripts.filter((file) => !loaded.includes(file)), [], 'no shipped .js file is left that no entry point loads')
  t.same(loaded.filter((file) => !packedScripts.includes(file)), [], 'every .js file an entry point loads is in the tarball')
})
