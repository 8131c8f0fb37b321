// lib/schemas.generated.js, which the plugin loads instead of TypeBox, is what the TypeBox
// sources (lib/schemas.ts, lib/responses.ts) build today: the same objects, TypeBox's hidden
// marks included, and the very text lib/generate-schemas.js writes.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import * as responses from '../lib/responses.js'
import * as generated from '../lib/schemas.generated.js'
import * as schemas from '../lib/schemas.js'
import { renderSchemaModules } from '../lib/generate-schemas.js'
import { ROOT } from './helpers/processes.js'

const REGENERATE = 'out of date: run `npm run schemas` and commit lib/schemas.generated.*'

/** A value as JSON that also shows each hidden (non-enumerable) key, so that a comparison sees them. */
function withMarks (value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return value.map(withMarks)
  const shown: Record<string, unknown> = {}
  for (const key of Reflect.ownKeys(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key)
    shown[`${descriptor?.enumerable === true ? '' : '(hidden) '}${String(key)}`] = withMarks(descriptor?.value)
  }
  return shown
}

t.test('the committed files are what the generator writes from the TypeBox sources', async (t) => {
  const { js, dts } = renderSchemaModules(schemas, responses)
  t.equal(readFileSync(join(ROOT, 'lib', 'schemas.generated.js'), 'utf8'), js, `lib/schemas.generated.js: ${REGENERATE}`)
  t.equal(readFileSync(join(ROOT, 'lib', 'schemas.generated.d.ts'), 'utf8'), dts, `lib/schemas.generated.d.ts: ${REGENERATE}`)
})

t.test('each generated schema is the TypeBox schema, hidden marks and key order included', async (t) => {
  const expected: Record<string, unknown> = {
    ...Object.fromEntries(Object.entries(schemas).filter(([, value]) => typeof value === 'object' && !Array.isArray(value))),
    LOCK_ROUTE_RESPONSES: responses.LOCK_ROUTE_RESPONSES,
    GUARD_RESPONSES: { delete: responses.guardResponses('delete'), reset: responses.guardResponses('reset'), write: responses.guardResponses('write') }
  }
  // (`default` is the CommonJS module itself, as TypeScript imports one.)
  const built = Object.entries(generated).filter(([name]) => name !== 'default')
  t.same(built.map(([name]) => name).sort(), Object.keys(expected).sort(), 'the same names')
  for (const [name, value] of built) {
    t.strictSame(withMarks(value), withMarks(expected[name]), `${name}: ${REGENERATE}`)
    t.equal(JSON.stringify(value), JSON.stringify(expected[name]), `${name}: the same JSON, byte for byte`)
  }
})
