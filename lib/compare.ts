// Constant-time comparison of secrets, whatever their lengths.
import { createHash, timingSafeEqual } from 'node:crypto'

function digest (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

/** True when `given` equals `expected`; time does not depend on where they differ or on length. */
export function safeEqual (given: string, expected: string): boolean {
  // Hashing first gives equal-length buffers, so timingSafeEqual never throws
  // and the comparison does not reveal the expected key's length.
  return timingSafeEqual(digest(given), digest(expected))
}
