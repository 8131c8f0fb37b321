// Database-name rules: segments joined by '.' or '/', each 1-63 of [a-z0-9_-],
// starting with a letter or digit; at most 255 characters in all.
export const MAX_NAME_LENGTH = 255
const SEGMENT = /^[a-z0-9][a-z0-9_-]{0,62}$/
const VALID = /^[a-z0-9][a-z0-9_-]{0,62}(?:[./][a-z0-9][a-z0-9_-]{0,62})*$/

/** Returns why `name` is not a valid database name, or null when it is. */
export function checkDatabaseName (name: unknown): string | null {
  // One regular expression on the request path; the reasons are worked out only for a bad name.
  if (typeof name === 'string' && name.length <= MAX_NAME_LENGTH && VALID.test(name)) return null
  if (typeof name !== 'string' || name.length === 0) return 'a name is required'
  if (name.length > MAX_NAME_LENGTH) return `names are at most ${MAX_NAME_LENGTH} characters, this one has ${name.length}`
  const segments = name.split(/[./]/)
  for (const segment of segments) {
    if (segment.length === 0) return 'segments joined by "." or "/" must not be empty'
    if (segment.length > 63) return 'each segment is at most 63 characters'
    if (!SEGMENT.test(segment)) {
      return 'use lowercase letters, digits, "_" and "-", starting each segment with a letter or digit'
    }
  }
  return null
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
