// The admin key is compared in constant time: both values are hashed to digests of one
// length and compared with crypto.timingSafeEqual, with no early return on length. The
// answers alone cannot show that (=== gives the same answers), so the test watches
// timingSafeEqual itself, without replacing what it does.
import crypto from 'node:crypto'
import t from 'tap'
import { safeEqual } from '../lib/compare.js'

t.test('safeEqual compares equal-length digests with timingSafeEqual, whatever the lengths', async (t) => {
  const original = crypto.timingSafeEqual
  const seen: Array<[number, number]> = []
  crypto.timingSafeEqual = (a, b) => {
    seen.push([a.byteLength, b.byteLength])
    return original(a, b)
  }
  t.teardown(() => { crypto.timingSafeEqual = original })
  const key = 'the-admin-key-0123456789'
  const cases: Array<[string, boolean]> = [[key, true], ['the-admin-key-0123456788', false], ['x', false], ['', false], [key.repeat(40), false]]
  for (const [given, expected] of cases) t.equal(safeEqual(given, key), expected, `${given.length} characters against ${key.length}`)
  t.equal(seen.length, cases.length, 'every comparison went through timingSafeEqual (no early return, not even on length)')
  t.ok(seen.every(([a, b]) => a === 32 && b === 32), 'always two 32-byte digests: the key\'s length is not revealed')
})
