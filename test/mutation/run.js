'use strict'
// `npm run mutate`: StrykerJS on each file of the safety core in turn (targets in
// stryker.config.mjs), then one table of the scores. `MUTATE_TARGET=guard,view` runs only
// those; `--report` only prints the table of the last runs' reports/mutation/*.json.
const { spawnSync } = require('node:child_process')
const { existsSync, readFileSync } = require('node:fs')
const { dirname, join } = require('node:path')

const ROOT = join(__dirname, '..', '..')
const STRYKER = join(dirname(require.resolve('@stryker-mutator/core/package.json')), 'bin', 'stryker.js')

/** Stryker's mutation score: detected (killed, timed out) of the valid mutants (compile errors left out). */
function tally (reportFile) {
  const report = JSON.parse(readFileSync(reportFile, 'utf8'))
  const rows = []
  for (const [file, { mutants }] of Object.entries(report.files)) {
    const count = (status) => mutants.filter((mutant) => mutant.status === status).length
    const row = { file, killed: count('Killed'), timeout: count('Timeout'), survived: count('Survived'), noCoverage: count('NoCoverage'), compileErrors: count('CompileError') }
    row.score = 100 * (row.killed + row.timeout) / (row.killed + row.timeout + row.survived + row.noCoverage)
    rows.push(row)
  }
  return rows
}

async function main () {
  const { targets } = await import(join(ROOT, 'test', 'mutation', 'targets.mjs'))
  const chosen = process.env.MUTATE_TARGET === undefined ? Object.keys(targets) : process.env.MUTATE_TARGET.split(',')
  const reportOnly = process.argv.includes('--report')
  let failed = false
  for (const target of chosen) {
    if (reportOnly) break
    const started = Date.now()
    const run = spawnSync(process.execPath, [STRYKER, 'run', 'stryker.config.mjs'], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, MUTATE_TARGET: target } })
    console.log(`mutate ${target}: exit ${run.status}, ${Math.round((Date.now() - started) / 60_000)} min`)
    if (run.status !== 0) failed = true
  }
  const rows = chosen
    .map((target) => join(ROOT, 'reports', 'mutation', `${target}.json`))
    .filter((file) => existsSync(file))
    .flatMap(tally)
  const sum = (key) => rows.reduce((total, row) => total + row[key], 0)
  const total = { file: 'all', killed: sum('killed'), timeout: sum('timeout'), survived: sum('survived'), noCoverage: sum('noCoverage'), compileErrors: sum('compileErrors') }
  total.score = 100 * (total.killed + total.timeout) / (total.killed + total.timeout + total.survived + total.noCoverage)
  console.log('\n| file | score | killed | timeout | survived | no coverage | compile errors |\n|---|---|---|---|---|---|---|')
  for (const row of [...rows, total]) {
    console.log(`| ${row.file} | ${row.score.toFixed(1)} % | ${row.killed} | ${row.timeout} | ${row.survived} | ${row.noCoverage} | ${row.compileErrors} |`)
  }
  process.exitCode = failed ? 1 : 0
}

main().catch((err) => { console.error(err); process.exitCode = 1 })
