// StrykerJS mutation testing of the safety core: `npm run mutate` (not part of `npm test`).
// Each lib file is mutated on its own, against the fast in-process test files that exercise
// it (a survivor re-runs every covering file, so a small set keeps a run within the hour).
// `npm run mutate` runs every target in turn (test/mutation/run.js); one target alone:
// `MUTATE_TARGET=guard npx stryker run`. Results: docs/testing.md#mutation-testing.

import { targets } from './test/mutation/targets.mjs'

// Stryker runs each test file with node, not through tap: give it .taprc's timeout (seconds).
process.env.TAP_TIMEOUT ??= '180'

const target = process.env.MUTATE_TARGET ?? 'names'
const testFiles = targets[target]
if (testFiles === undefined) throw new Error(`MUTATE_TARGET=${target}: use one of ${Object.keys(targets).join(', ')}`)

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: [`lib/${target}.ts`],
  testRunner: 'tap',
  tap: {
    testFiles,
    // tap's own TypeScript loader (ts-node, transpile only), as `tap` runs the files.
    nodeArgs: ['--import=@tapjs/typescript/import', '-r', '{{hookFile}}', '{{testFile}}']
  },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  // Two cores shared with other work: one test process at a time.
  concurrency: 1,
  // Generous: the machine is shared, and a mutant that only runs slower than the dry run under
  // someone else's load must not count as a timeout (detected).
  timeoutFactor: 2.5,
  timeoutMS: 20000,
  // Only what the tests need goes into the sandbox.
  ignorePatterns: ['dist', 'coverage', '.tap', 'data', 'docs', 'reports', '*.tgz'],
  incremental: true,
  incrementalFile: `reports/mutation/${target}-incremental.json`,
  reporters: ['clear-text', 'progress-append-only', 'json', 'html'],
  jsonReporter: { fileName: `reports/mutation/${target}.json` },
  htmlReporter: { fileName: `reports/mutation/${target}.html` },
  clearTextReporter: { allowColor: false, logTests: false }
}
