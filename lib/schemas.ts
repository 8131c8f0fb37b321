// TypeBox schemas of the lock routes: request validation, response
// serialization and the OpenAPI that @fastify/swagger builds from them.
// The one definition, and where the public types come from; at run time the plugin loads the
// same schemas as plain objects from schemas.generated.js, which `npm run schemas` writes from
// this file (lib/generate-schemas.js; `npm run build` checks it is current), so that no TypeBox is loaded.
import { Type, type Static } from 'typebox'
import {
  ALL_HOLDERS, DEFAULT_EVENTS_LIMIT, DEFAULT_LIST_LIMIT, HOLDER_PATTERN, LOCK_EVENT_TYPES, LOCK_MODES, MAX_APPROVALS, MAX_EVENTS_LIMIT,
  MAX_LIST_LIMIT, MAX_REASON_LENGTH, MAX_TTL_SECONDS, MAX_UNLOCK_DELAY_SECONDS, MIN_APPROVALS
} from './limits.js'

export {
  DEFAULT_EVENTS_LIMIT, DEFAULT_LIST_LIMIT, MAX_EVENTS_LIMIT, MAX_LIST_LIMIT, MAX_REASON_LENGTH, MAX_TTL_SECONDS
} from './limits.js'

export const LockModeSchema = Type.Enum(LOCK_MODES, {
  description: '`delete` refuses deletes and resets (403); `write` refuses every guarded write (503)'
})

export const DatabaseParams = Type.Object({
  name: Type.String({ description: 'Database name or identity; a "/" inside it travels as %2F' })
})

const Holder = Type.String({
  pattern: HOLDER_PATTERN,
  description: 'Whose lock: 1–64 of letters, digits and `._:@-`, starting with a letter or digit. ' +
    'Default: the caller\'s principal (`admin` with the admin key)'
})

export const UnlockPolicySchema = Type.Union([
  Type.Literal('never', { description: 'Nobody may unlock it, the admin key included: it lifts only at its expiry (needs a ttl)' }),
  Type.Object({
    delay: Type.Optional(Type.Integer({
      minimum: 1, maximum: MAX_UNLOCK_DELAY_SECONDS, description: 'Seconds between the unlock request and the lock lifting; until then it is fully in force'
    })),
    approvals: Type.Optional(Type.Integer({
      minimum: MIN_APPROVALS, maximum: MAX_APPROVALS, description: 'Distinct principals allowed to unlock who must ask (the admin key counts as `admin`)'
    }))
  }, { additionalProperties: false, minProperties: 1 })
], { description: 'How the lock may be lifted; a policy can only be strengthened by locking again' })

export const LockBody = Type.Object({
  mode: Type.Optional(LockModeSchema),
  holder: Type.Optional(Holder),
  unlock: Type.Optional(UnlockPolicySchema),
  children: Type.Optional(Type.Boolean({
    description: 'Also lock every database whose name is below this one (`acme` covers `acme.prod` and `acme/prod/eu`, never `acme2`). ' +
      'Locking again without it keeps what the holder\'s lock covers'
  })),
  reason: Type.Optional(Type.String({ maxLength: MAX_REASON_LENGTH, description: 'Why the lock is held; shown to refused callers' })),
  ttl: Type.Optional(Type.Integer({
    minimum: 1,
    maximum: MAX_TTL_SECONDS,
    description: 'Seconds until the lock lifts by itself. Default: never for `delete`, 7200 for `write`'
  }))
}, { additionalProperties: false })
export type LockBodyType = Static<typeof LockBody>

export const UnlockBody = Type.Object({
  mode: Type.Optional(LockModeSchema),
  holder: Type.Optional(Type.Union([Holder, Type.Literal(ALL_HOLDERS)], {
    description: 'Whose lock to lift (default: the caller\'s principal, `admin` with the admin key); `*` lifts every holder\'s lock of the mode'
  }))
}, { additionalProperties: false })
export type UnlockBodyType = Static<typeof UnlockBody>

const Timestamp = Type.String({ format: 'date-time' })

export const LockInfoSchema = Type.Object({
  mode: LockModeSchema,
  holder: Type.String({ description: 'Whose lock it is; each holder lifts only its own' }),
  reason: Type.Union([Type.String(), Type.Null()]),
  lockedBy: Type.String(),
  lockedAt: Timestamp,
  expiresAt: Type.Union([Timestamp, Type.Null()]),
  children: Type.Boolean({ description: 'The lock also covers every name below its own' }),
  unlock: Type.Union([UnlockPolicySchema, Type.Null()]),
  unlockAt: Type.Union([Timestamp, Type.Null()], { description: 'When a requested unlock lifts it; the lock is fully in force until then' }),
  approvals: Type.Array(Type.String(), { description: 'Who has asked to unlock it so far, under an `approvals` policy' }),
  inheritedFrom: Type.Union([Type.String(), Type.Null()], { description: 'The namespace whose `children` lock this is; null for the database\'s own locks' })
})

export const LockStatusSchema = Type.Object({
  database: Type.String({ description: 'Canonical id of the database' }),
  locked: Type.Boolean({ description: 'True while any live lock exists' }),
  locks: Type.Array(LockInfoSchema)
})

export const UNLOCK_ACCEPTED_CODES = ['UNLOCK_SCHEDULED', 'UNLOCK_APPROVAL_RECORDED'] as const

/** The unlock answer: the status; with 202, also why the lock is still in force. */
export const UnlockAnswerSchema = Type.Object({
  ...LockStatusSchema.properties,
  code: Type.Optional(Type.Enum(UNLOCK_ACCEPTED_CODES, {
    description: '202 only. UNLOCK_SCHEDULED: it lifts at `unlockAt`; UNLOCK_APPROVAL_RECORDED: it waits for more approvals'
  })),
  message: Type.Optional(Type.String())
})

export const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIST_LIMIT, default: DEFAULT_LIST_LIMIT })),
  cursor: Type.Optional(Type.String({ maxLength: 2048, description: 'The `nextCursor` of the previous page' }))
}, { additionalProperties: false })
export type ListQueryType = Static<typeof ListQuery>

/** A lock in the list of every lock: a status entry plus the database it is on. */
export const ListedLockSchema = Type.Object({
  database: Type.String(),
  ...LockInfoSchema.properties
})

export const LockListSchema = Type.Object({
  locks: Type.Array(ListedLockSchema),
  nextCursor: Type.Union([Type.String(), Type.Null()])
})

/** Every error body: `{ statusCode, code, error, message }`. */
export const ErrorSchema = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  error: Type.String(),
  message: Type.String()
})

/** Refusals by the guard carry which database and why. */
export const RefusalSchema = Type.Object({
  statusCode: Type.Integer(),
  code: Type.Enum(['DATABASE_LOCKED', 'DATABASE_WRITE_LOCKED', 'LOCK_STORE_UNAVAILABLE'], { type: 'string' }),
  error: Type.String(),
  message: Type.String(),
  database: Type.Optional(Type.String()),
  operation: Type.Optional(Type.String()),
  reason: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Why the lock is held: only to its owner and the admin key' })),
  lockedBy: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Who took the lock: only to its owner and the admin key' })),
  retryAfter: Type.Optional(Type.Integer()),
  locks: Type.Optional(Type.Array(LockInfoSchema, { description: 'The locks that refuse it, each holder\'s: only to the owner and the admin key' }))
})

export const LockEventTypeSchema = Type.Enum(LOCK_EVENT_TYPES)

export const EventsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_EVENTS_LIMIT, default: DEFAULT_EVENTS_LIMIT })),
  cursor: Type.Optional(Type.String({ maxLength: 64, description: 'The `nextCursor` of the previous page' })),
  type: Type.Optional(LockEventTypeSchema)
}, { additionalProperties: false })
export type EventsQueryType = Static<typeof EventsQuery>

const Nullable = (schema: ReturnType<typeof Type.String>) => Type.Union([schema, Type.Null()])

export const LockEventPageSchema = Type.Object({
  events: Type.Array(Type.Object({
    id: Type.Integer(),
    type: LockEventTypeSchema,
    database: Type.String(),
    mode: Type.Union([LockModeSchema, Type.Null()]),
    holder: Nullable(Type.String({ description: 'Whose lock (null for a refusal)' })),
    principal: Nullable(Type.String({ description: 'Who acted: a principal, `admin-key`, or null (expiry)' })),
    reason: Nullable(Type.String()),
    requestId: Nullable(Type.String()),
    client: Nullable(Type.String({ description: 'Client address' })),
    route: Nullable(Type.String({ description: 'Method and URL pattern' })),
    at: Timestamp,
    count: Type.Integer({ description: 'Refusals folded into this event (within one second); 1 otherwise' })
  })),
  nextCursor: Type.Union([Type.String(), Type.Null()])
})
