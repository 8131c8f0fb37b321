// What each route can answer, for the serializer and for the OpenAPI document that
// @fastify/swagger builds from the route schemas: every status with a description, and every
// error status with the `code` values it carries, so generated clients can branch on them.
// Like schemas.ts, built into schemas.generated.js for the plugin (LOCK_ROUTE_RESPONSES, and
// guardResponses of each route class); the demo composes its own answers here at run time.
import { Type, type TSchema } from 'typebox'
import { LockEventPageSchema, LockListSchema, LockStatusSchema, RefusalSchema, UNLOCK_ACCEPTED_CODES, UnlockAnswerSchema } from './schemas.js'

/** Error code → when it is given (one clause, for the document). */
export type ErrorCodes = Readonly<Record<string, string>>

/** `schema` with a description: the response's description in the OpenAPI document. */
export function described<S extends TSchema> (schema: S, description: string): S & { description: string } {
  return { ...schema, description }
}

function codeList (codes: ErrorCodes): string {
  return Object.entries(codes).map(([code, when]) => `\`${code}\`: ${when}`).join('; ')
}

function codeSchema (codes: ErrorCodes) {
  return Type.Enum(Object.keys(codes), { type: 'string', description: 'What went wrong, for programs to branch on' })
}

const errorFields = {
  statusCode: Type.Integer(),
  error: Type.String({ description: 'The HTTP status text' }),
  message: Type.String({ description: 'What went wrong and what to do about it, for people' })
}

/** An error body `{ statusCode, code, error, message }` whose `code` is one of `codes`. */
export function errorResponse (summary: string, codes: ErrorCodes) {
  return Type.Object({ ...errorFields, code: codeSchema(codes) }, { description: `${summary}. ${codeList(codes)}` })
}

/** A refusal by the guard: an error body that also says which database and why. */
export function refusalResponse (summary: string, codes: ErrorCodes) {
  return Type.Object({ ...RefusalSchema.properties, code: codeSchema(codes) }, { description: `${summary}. ${codeList(codes)}` })
}

/**
 * Answers Fastify itself gives before a handler runs, by what a route takes: a URL parameter
 * (a path Fastify cannot decode, or one longer than its `maxParamLength`) and a request body
 * (which Fastify parses for every method that may carry one, schema or not).
 */
export const FASTIFY_CODES = {
  url: { FST_ERR_BAD_URL: 'the path is not valid percent-encoding' },
  body: {
    FST_ERR_CTP_INVALID_JSON_BODY: 'the body is not valid JSON (or sets `__proto__`/`constructor`)',
    FST_ERR_CTP_EMPTY_JSON_BODY: 'Content-Type application/json with an empty body (send `{}` or no Content-Type)',
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'the body is not as long as its Content-Length says'
  },
  tooLarge: { FST_ERR_CTP_BODY_TOO_LARGE: 'the body is larger than the server accepts (Fastify `bodyLimit`, 1 MiB by default)' },
  paramTooLong: { FST_ERR_MAX_PARAM_LENGTH: 'the database name is longer than the server accepts (Fastify `maxParamLength`); names are at most 255 characters' },
  mediaType: { FST_ERR_CTP_INVALID_MEDIA_TYPE: 'the body is neither application/json nor text/plain: send JSON' }
} as const

/** 413 and 415: a route that reads a body. */
export const BODY_RESPONSES = {
  413: errorResponse('The request body is too large', FASTIFY_CODES.tooLarge),
  415: errorResponse('The request body is of a type the server does not read', FASTIFY_CODES.mediaType)
}

/** 414: a route with the database name in its path. */
export const PARAM_RESPONSES = {
  414: errorResponse('The database name in the path is too long', FASTIFY_CODES.paramTooLong)
}

const BAD_NAME = { INVALID_DATABASE_NAME: 'the name breaks the naming rules (the message says which)' }
const BAD_REQUEST = { INVALID_LOCK_REQUEST: 'an unknown field, a wrong type or a value out of range (the message names it)' }
const NO_CREDENTIALS = errorResponse('No credentials', { AUTHENTICATION_REQUIRED: 'send the database owner\'s credentials or an X-Admin-Key header' })
const BAD_ADMIN_KEY = { INVALID_ADMIN_KEY: 'an X-Admin-Key that does not match (or the service has no admin key)' }
const NOT_OWNER_CODES = { NOT_DATABASE_OWNER: 'the caller is neither the database\'s owner nor holds the admin key', ...BAD_ADMIN_KEY }
const NOT_OWNER = errorResponse('Not allowed', NOT_OWNER_CODES)
const NOT_FOUND = errorResponse('No such database', { DATABASE_NOT_FOUND: 'the service knows no database by that name or identity' })
const STORE_DOWN_CODE = { LOCK_STORE_UNAVAILABLE: 'the lock store cannot answer, so the request is refused to keep databases safe; retry shortly' }
const STORE_DOWN = errorResponse('The lock store cannot answer', STORE_DOWN_CODE)

/** The routes of one database (`:name` in the path). */
const ONE_DATABASE = { 401: NO_CREDENTIALS, 403: NOT_OWNER, 404: NOT_FOUND, ...PARAM_RESPONSES, 503: STORE_DOWN }
const LOCK_BODY_ERRORS = errorResponse('The request cannot be read', { ...BAD_NAME, ...BAD_REQUEST, ...FASTIFY_CODES.url, ...FASTIFY_CODES.body })

/** The answers of each lock route. */
export const LOCK_ROUTE_RESPONSES = {
  lock: {
    200: described(LockStatusSchema, 'The lock is in force in every process sharing the store; the database\'s lock status'),
    400: LOCK_BODY_ERRORS,
    ...ONE_DATABASE,
    409: errorResponse('The lock was not taken or changed', {
      LOCK_CONFLICT: 'an operation the lock would block was still running after `drainTimeout`; retry when it has finished',
      UNLOCK_POLICY_CONFLICT: 'the holder\'s live lock has a stronger unlock policy or a later expiry, and a lock can only be strengthened'
    }),
    ...BODY_RESPONSES
  },
  unlock: {
    200: described(UnlockAnswerSchema, 'The lock is lifted (or there was none); the database\'s lock status'),
    // A 202 always says which: its code and message are required here.
    202: Type.Object({ ...UnlockAnswerSchema.properties, code: Type.Enum(UNLOCK_ACCEPTED_CODES, { type: 'string' }), message: Type.String() }, {
      description: 'Accepted, and the lock stays in force under its unlock policy. `UNLOCK_SCHEDULED`: it lifts at `unlockAt`; `UNLOCK_APPROVAL_RECORDED`: it waits for more approvals'
    }),
    400: LOCK_BODY_ERRORS,
    ...ONE_DATABASE,
    403: errorResponse('Not allowed', {
      ...NOT_OWNER_CODES,
      UNLOCK_FORBIDDEN: 'the lock\'s policy is `never`: it lifts only at its expiry, for everyone'
    }),
    ...BODY_RESPONSES
  },
  status: {
    200: described(LockStatusSchema, 'The database\'s live locks'),
    400: errorResponse('The request cannot be read', { ...BAD_NAME, ...FASTIFY_CODES.url }),
    ...ONE_DATABASE
  },
  events: {
    200: described(LockEventPageSchema, 'One page of the audit trail, newest first'),
    400: errorResponse('The request cannot be read', { ...BAD_NAME, ...BAD_REQUEST, ...FASTIFY_CODES.url }),
    ...ONE_DATABASE
  },
  list: {
    200: described(LockListSchema, 'One page of every live lock'),
    400: errorResponse('The query string cannot be read', BAD_REQUEST),
    401: NO_CREDENTIALS,
    403: errorResponse('Not allowed', { ADMIN_REQUIRED: 'listing every lock needs the admin key', ...BAD_ADMIN_KEY }),
    503: STORE_DOWN
  }
}

const LOCKED = { DATABASE_LOCKED: 'a delete lock refuses deletes and resets; the message names the unlock route' }
const WRITE_LOCKED = { DATABASE_WRITE_LOCKED: 'a write lock refuses every guarded write; retry after `retryAfter` seconds (also the Retry-After header)' }
const DETAILS = '(`reason` and `lockedBy` only for the database\'s owner and the admin key)'

/**
 * The refusals the guard adds to a guarded route of the host: 403 where a delete lock refuses
 * (delete and reset routes), 503 everywhere (a write lock, or a lock store that cannot answer).
 */
export function guardResponses (routeClass: 'delete' | 'reset' | 'write') {
  const unavailable = {
    ...refusalResponse(`Refused for now ${DETAILS}`, { ...WRITE_LOCKED, ...STORE_DOWN_CODE }),
    headers: { 'retry-after': Type.Integer({ description: 'Seconds until the write lock expires (DATABASE_WRITE_LOCKED only)' }) }
  }
  if (routeClass === 'write') return { 503: unavailable }
  return { 403: refusalResponse(`Refused while the database is locked ${DETAILS}`, LOCKED), 503: unavailable }
}
