// The facts every part of the package agrees on: lock modes, audit event types and the
// limits of request fields. No imports, so the client and the `dblock` command load it
// without Fastify or TypeBox.

export const LOCK_MODES = ['delete', 'write'] as const

export const LOCK_EVENT_TYPES = [
  'locked', 'relocked', 'unlocked', 'expired', 'blocked', 'conflict', 'unlock-requested', 'unlock-approved', 'unlock-cancelled'
] as const

/** Longest `reason` a lock may carry, characters. */
export const MAX_REASON_LENGTH = 1024
/** Longest `ttl` a lock may be given, seconds (one year). */
export const MAX_TTL_SECONDS = 31_536_000

export const DEFAULT_LIST_LIMIT = 100
export const MAX_LIST_LIMIT = 1000

export const DEFAULT_EVENTS_LIMIT = 50
export const MAX_EVENTS_LIMIT = 500

/** A lock's holder: 1–64 characters, a letter or digit first. */
export const HOLDER_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$'
/** On unlock: every holder's lock of the mode. */
export const ALL_HOLDERS = '*'
/** Guarded unlock: the longest `delay`, seconds (30 days), and the range of `approvals`. */
export const MAX_UNLOCK_DELAY_SECONDS = 2_592_000
export const MIN_APPROVALS = 2
export const MAX_APPROVALS = 5

/** The holder of a lock taken with the admin key, when the body names none. */
export const ADMIN_HOLDER = 'admin'
