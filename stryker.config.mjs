// StrykerJS mutation testing of the safety core: `npm run mutate` (not part of `npm test`).
// Each lib file is mutated on its own, against the fast in-process test files that exercise
// it (a survivor re-runs every covering file, so a small set keeps a run within the hour).
// `npm run mutate` runs every target in turn (test/mutation/run.js); one target alone:
// `MUTATE_TARGET=guard npx stryker run`. Results: docs/testing.md#mutation-testing.

/** lib file → the test files run against its mutants. */
export const targets = {
  names: ['test/names.test.ts', 'test/validation.test.ts'],
  auth: ['test/auth.test.ts', 'test/options.test.ts', 'test/list.test.ts', 'test/faults/refusals-tell-details-to-owner-only.test.ts'],
  guard: [
    'test/guard.test.ts', 'test/guard-host-routes.test.ts', 'test/each-check-on-its-own.test.ts', 'test/delete-lock.test.ts',
    'test/write-lock.test.ts', 'test/holders.test.ts', 'test/refusal-logging.test.ts', 'test/callback-handler-in-flight.test.ts',
    'test/store-unavailable.test.ts', 'test/consistency.test.ts', 'test/host-403-on-write-route.test.ts', 'test/openapi.test.ts',
    'test/faults/refusals-tell-details-to-owner-only.test.ts', 'test/namespaces.test.ts'
  ],
  view: [
    'test/two-instances-one-store.test.ts', 'test/consistency.test.ts', 'test/each-check-on-its-own.test.ts', 'test/view-load.test.ts',
    'test/holders.test.ts', 'test/write-lock.test.ts', 'test/store-unavailable.test.ts', 'test/faults/failed-reload-keeps-locks.test.ts',
    'test/faults/store-file-removed-fails-closed.test.ts', 'test/namespaces.test.ts', 'test/guarded-unlock.test.ts'
  ],
  service: [
    'test/delete-lock.test.ts', 'test/write-lock.test.ts', 'test/holders.test.ts', 'test/list.test.ts', 'test/decorator-input.test.ts',
    'test/consistency.test.ts', 'test/each-check-on-its-own.test.ts', 'test/audit.test.ts', 'test/store-unavailable.test.ts',
    'test/on-lock-event.test.ts', 'test/faults/rolled-back-lock-never-answers-200.test.ts',
    'test/faults/store-error-with-status-code-passes-through.test.ts', 'test/namespaces.test.ts', 'test/guarded-unlock.test.ts'
  ],
  routes: [
    'test/validation.test.ts', 'test/auth.test.ts', 'test/list.test.ts', 'test/holders.test.ts', 'test/options.test.ts', 'test/audit.test.ts',
    'test/guard.test.ts', 'test/each-check-on-its-own.test.ts', 'test/delete-lock.test.ts', 'test/openapi.test.ts',
    'test/namespaces.test.ts', 'test/guarded-unlock.test.ts'
  ]
}

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
