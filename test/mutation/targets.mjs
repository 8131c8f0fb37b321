// The targets of `npm run mutate`, apart from stryker.config.mjs so that test/mutation/run.js can
// list them without picking one (the config throws on a list such as MUTATE_TARGET=guard,view).

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
    'test/faults/store-file-removed-fails-closed.test.ts', 'test/namespaces.test.ts', 'test/guarded-unlock.test.ts', 'test/view.test.ts'
  ],
  service: [
    'test/delete-lock.test.ts', 'test/write-lock.test.ts', 'test/holders.test.ts', 'test/list.test.ts', 'test/decorator-input.test.ts',
    'test/consistency.test.ts', 'test/each-check-on-its-own.test.ts', 'test/audit.test.ts', 'test/store-unavailable.test.ts',
    'test/on-lock-event.test.ts', 'test/faults/rolled-back-lock-never-answers-200.test.ts',
    'test/faults/store-error-with-status-code-passes-through.test.ts', 'test/namespaces.test.ts', 'test/guarded-unlock.test.ts',
    'test/callback-handler-in-flight.test.ts'
  ],
  routes: [
    'test/validation.test.ts', 'test/auth.test.ts', 'test/list.test.ts', 'test/holders.test.ts', 'test/options.test.ts', 'test/audit.test.ts',
    'test/guard.test.ts', 'test/each-check-on-its-own.test.ts', 'test/delete-lock.test.ts', 'test/openapi.test.ts',
    'test/namespaces.test.ts', 'test/guarded-unlock.test.ts'
  ]
}
