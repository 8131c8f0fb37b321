// `fastify-database-lock/testing`: the LockStore conformance suite, for the built-in
// stores and for anybody writing another one. With tap, pass the test object:
//   storeConformance(t, async (t) => ({ open: async () => new MyStore(...) }))
// With node:test, pass nodeTestSuite(test).
import assert from 'node:assert/strict'
import type { ConformanceSuite, ConformanceTest } from './store/conformance.js'

export { storeConformance, type ConformanceSuite, type ConformanceTest, type FixtureFactory, type StoreFixture } from './store/conformance.js'

/** node:test's `test`, or any function of that shape whose context has `after`. */
export type NodeTest = (name: string, fn: (context: { after (fn: () => unknown): void }) => Promise<void>) => unknown

/**
 * Fails unless `found` has every field of `pattern` with a matching value: objects match
 * field by field (more fields are fine), arrays element by element, anything else exactly.
 */
function assertMatch (found: unknown, pattern: unknown, message?: string): void {
  if (Array.isArray(pattern)) {
    assert.ok(Array.isArray(found) && found.length === pattern.length, message ?? `expected ${pattern.length} elements, got ${JSON.stringify(found)}`)
    pattern.forEach((wanted, index) => { assertMatch(found[index], wanted, message) })
  } else if (typeof pattern === 'object' && pattern !== null) {
    assert.ok(typeof found === 'object' && found !== null, message ?? `expected an object, got ${String(found)}`)
    const record: Record<string, unknown> = { ...found }
    for (const [key, wanted] of Object.entries(pattern)) assertMatch(record[key], wanted, message ?? `field "${key}"`)
  } else {
    assert.deepStrictEqual(found, pattern, message)
  }
}

/** The suite's assertions on node:assert, its teardown on the context's `after`. */
export function nodeTestSuite (test: NodeTest): ConformanceSuite {
  return {
    test: (name, fn) => test(name, async (context) => {
      const t: ConformanceTest = {
        equal: (found, wanted, ...message) => { assert.strictEqual(found, wanted, message[0]) },
        not: (found, notWanted, ...message) => { assert.notStrictEqual(found, notWanted, message[0]) },
        ok: (value, ...message) => { assert.ok(value, message[0]) },
        same: (found, wanted, ...message) => { assert.deepStrictEqual(found, wanted, message[0]) },
        match: (found, pattern, ...message) => { assertMatch(found, pattern, message[0]) },
        rejects: (promise, ...message) => assert.rejects(promise, Error, message[0]),
        pass: () => {},
        fail: (...message) => { assert.fail(message[0]) },
        teardown: (fn) => { context.after(fn) }
      }
      await fn(t)
    })
  }
}
