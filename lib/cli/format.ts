// How `dblock` prints locks and events for a person: one line each, server text made safe
// for a terminal.
import type { LockEventPage, LockInfo, LockStatus } from '../../types/index.js'

/** Server text shown on a terminal: control characters escaped so it cannot drive the terminal. */
export function clean (text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (char) => JSON.stringify(char).slice(1, -1))
}

/** `2026-11-23T10:00:00.000Z` → `2026-11-23 10:00 UTC` (with seconds: `10:00:00`). */
function shortTime (iso: string, seconds = false): string {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(iso)) return clean(iso)
  return `${iso.slice(0, 10)} ${iso.slice(11, seconds ? 19 : 16)} UTC`
}

export function lockLine (database: string, lock: LockInfo): string {
  // Seconds matter for an expiry: a short ttl would otherwise read "since 10:00, until 10:00".
  const until = lock.expiresAt === null ? '' : `, until ${shortTime(lock.expiresAt, true)}`
  const reason = lock.reason === null || lock.reason === '' ? '' : ` — ${JSON.stringify(lock.reason)}`
  // The holder is named when it is not simply who locked; inherited and namespace locks say so.
  const holder = lock.holder === lock.lockedBy ? '' : `, held by ${clean(lock.holder)}`
  const scope = lock.inheritedFrom !== null ? `, inherited from ${clean(lock.inheritedFrom)}` : lock.children ? ', with every name below' : ''
  return `${clean(database)}: locked (${lock.mode}) by ${clean(lock.lockedBy)}${holder}${scope} since ${shortTime(lock.lockedAt)}${until}${pending(lock)}${reason}`
}

/** A pending unlock: when it lifts, or how many approvals it still needs. */
function pending (lock: LockInfo): string {
  if (lock.unlockAt !== null) return `, unlock scheduled for ${shortTime(lock.unlockAt, true)}`
  if (lock.unlock !== null && lock.unlock !== 'never' && lock.unlock.approvals !== undefined && lock.approvals.length > 0) {
    return `, unlock approved by ${lock.approvals.map(clean).join(', ')} (${lock.approvals.length} of ${lock.unlock.approvals})`
  }
  return lock.unlock === 'never' ? ', cannot be unlocked before it expires' : ''
}

export function statusLines (status: LockStatus): string[] {
  if (!status.locked || status.locks.length === 0) return [`${clean(status.database)}: unlocked`]
  return status.locks.map((lock) => lockLine(status.database, lock))
}

type EventRow = LockEventPage['events'][number]

// Wide enough for the common types; the rarer unlock-* types simply run longer.
const EVENT_TYPE_WIDTH = 8

/**
 * `2026-11-23 10:14:03 UTC  blocked   delete  bob  DELETE /v1/database/:name  ×3`: a refusal
 * says what was tried; every event says the reason it carries, in quotes.
 */
export function eventLine (event: EventRow): string {
  const fields = [
    shortTime(event.at, true),
    clean(event.type).padEnd(EVENT_TYPE_WIDTH),
    (event.mode ?? '-').padEnd(6),
    event.principal === null || event.principal === '' ? '-' : clean(event.principal)
  ]
  if (event.type === 'blocked' && event.route !== null) fields.push(clean(event.route))
  if (event.reason !== null && event.reason !== '') fields.push(JSON.stringify(event.reason))
  if (event.count > 1) fields.push(`×${event.count}`)
  return fields.join('  ')
}

/** A word as a POSIX shell reads it back: bare when it is safe, else single-quoted. */
export function shellWord (word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${clean(word).replace(/'/g, "'\\''")}'`
}
