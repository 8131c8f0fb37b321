// Database-name rules: segments joined by '.' or '/', each 1-63 of [a-z0-9_-],
// starting with a letter or digit; at most 255 characters in all.
export const MAX_NAME_LENGTH = 255
const MAX_SEGMENT_LENGTH = 63
const SEGMENT = /^[a-z0-9][a-z0-9_-]{0,62}$/

/**
 * Whether `name` follows the rules: one pass over its characters, the guard's test on every
 * request (a regular expression costs about twice as much, more on a name the router decoded).
 */
function isValidName (name: string): boolean {
  const length = name.length
  if (length === 0 || length > MAX_NAME_LENGTH) return false
  /** Characters of the current segment so far. */
  let segment = 0
  for (let i = 0; i < length; i++) {
    const char = name.charCodeAt(i)
    if ((char >= 97 /* a */ && char <= 122 /* z */) || (char >= 48 /* 0 */ && char <= 57 /* 9 */)) {
      segment++
    } else if (char === 95 /* _ */ || char === 45 /* - */) {
      // Not first in a segment.
      if (segment === 0) return false
      segment++
    } else if (char === 46 /* . */ || char === 47 /* / */) {
      // Ends a segment, which must not be empty.
      if (segment === 0) return false
      segment = 0
    } else {
      return false
    }
    if (segment > MAX_SEGMENT_LENGTH) return false
  }
  return segment !== 0
}

const CHARACTERS_REASON = 'use lowercase letters, digits, "_" and "-", starting each segment with a letter or digit'

/** Returns why `name` is not a valid database name, or null when it is. */
export function checkDatabaseName (name: unknown): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'a name is required'
  // isValidName alone decides; the reasons are worked out only for a bad name.
  return isValidName(name) ? null : whyInvalid(name)
}

/** Which rule `name` breaks (the first one), for a name isValidName refused. */
function whyInvalid (name: string): string {
  if (name.length > MAX_NAME_LENGTH) return `names are at most ${MAX_NAME_LENGTH} characters, this one has ${name.length}`
  for (const segment of name.split(/[./]/)) {
    if (segment.length === 0) return 'segments joined by "." or "/" must not be empty'
    if (segment.length > MAX_SEGMENT_LENGTH) return 'each segment is at most 63 characters'
    if (!SEGMENT.test(segment)) return CHARACTERS_REASON
  }
  // Not reached while the two agree: the character rule is the only one left.
  return CHARACTERS_REASON
}

/** The route parameter `param` of a request, as the router gave it ('' when absent). */
export function nameParam (params: unknown, param: string): string {
  if (typeof params !== 'object' || params === null) return ''
  const value: unknown = Reflect.get(params, param)
  return typeof value === 'string' ? value : ''
}

/** Shows a rejected name safely in a message: control characters escaped, long names cut. */
export function displayName (name: string): string {
  const shown = name.length > 80 ? `${name.slice(0, 80)}…` : name
  return JSON.stringify(shown).slice(1, -1)
}

/**
 * The names above `name`, nearest last: `acme/prod/eu` → `acme`, `acme/prod`. A `children` lock
 * on any of them covers `name`. Split exactly at segment separators, so `acme` is never above `acme2`.
 */
export function ancestorsOf (name: string): string[] {
  const ancestors: string[] = []
  for (let i = 1; i < name.length; i++) {
    const char = name.charCodeAt(i)
    if (char === 46 /* . */ || char === 47 /* / */) ancestors.push(name.slice(0, i))
  }
  return ancestors
}

/** Whether `name` is `namespace` or below it. */
export function isWithin (name: string, namespace: string): boolean {
  if (!name.startsWith(namespace)) return false
  if (name.length === namespace.length) return true
  const separator = name.charCodeAt(namespace.length)
  return separator === 46 || separator === 47
}
