// Every error the plugin answers with, one line each. Messages say what to do next.
import createError, { type FastifyError } from '@fastify/error'

/** The prototype of every error class made here. */
const ownPrototypes: FastifyError[] = []

/** createError, remembering the class: isDatabaseLockError knows every error made here. */
function define<C extends string, SC extends number, Arg extends unknown[]> (code: C, message: string, statusCode: SC, captureStackTrace = true) {
  const ErrorClass = createError<C, SC, Arg>(code, message, statusCode, Error, captureStackTrace)
  ownPrototypes.push(ErrorClass.prototype)
  return ErrorClass
}

/**
 * True for an error this package made on purpose (a refusal, a bad request, a bad option): an
 * answer the plugin chose, as opposed to a failure underneath it (a store, the host's code).
 */
export function isDatabaseLockError (err: unknown): err is FastifyError {
  return typeof err === 'object' && err !== null && ownPrototypes.some((prototype) => Object.prototype.isPrototypeOf.call(prototype, err))
}

export const DatabaseLockedError = define<'DATABASE_LOCKED', 403, [string, string]>(
  'DATABASE_LOCKED',
  'Database "%s" is locked against deletion and reset. Its owner can lift the lock with POST %s',
  403,
  // A refusal is an answer, not a fault: no stack trace to capture on this path.
  false
)

export const DatabaseWriteLockedError = define<'DATABASE_WRITE_LOCKED', 503, [string, string, number]>(
  'DATABASE_WRITE_LOCKED',
  'Database "%s" is locked for %s; writes are refused until it is unlocked. Retry after %s seconds',
  503,
  false
)

export const NotDatabaseOwnerError = define<'NOT_DATABASE_OWNER', 403, [string]>(
  'NOT_DATABASE_OWNER',
  'Only the owner of database "%s" or a service holding the admin key may do this',
  403
)

export const AuthenticationRequiredError = define<'AUTHENTICATION_REQUIRED', 401, []>(
  'AUTHENTICATION_REQUIRED',
  'Authentication required: send the database owner\'s credentials or an X-Admin-Key header',
  401
)

export const InvalidAdminKeyError = define<'INVALID_ADMIN_KEY', 403, [string]>(
  'INVALID_ADMIN_KEY',
  'The X-Admin-Key header was refused: %s',
  403
)

export const AdminRequiredError = define<'ADMIN_REQUIRED', 403, []>(
  'ADMIN_REQUIRED',
  'Listing every lock needs the service admin key in the X-Admin-Key header',
  403
)

export const DatabaseNotFoundError = define<'DATABASE_NOT_FOUND', 404, [string]>(
  'DATABASE_NOT_FOUND',
  'Database "%s" does not exist; check the name',
  404
)

export const InvalidDatabaseNameError = define<'INVALID_DATABASE_NAME', 400, [string, string]>(
  'INVALID_DATABASE_NAME',
  'Invalid database name "%s": %s',
  400
)

export const InvalidRequestError = define<'INVALID_LOCK_REQUEST', 400, [string]>(
  'INVALID_LOCK_REQUEST',
  '%s',
  400
)

export const LockStoreUnavailableError = define<'LOCK_STORE_UNAVAILABLE', 503, []>(
  'LOCK_STORE_UNAVAILABLE',
  'The lock store cannot answer right now, so this request is refused to keep databases safe. Retry shortly; if it persists, the service operator should check the lock store',
  503
)

export const LockConflictError = define<'LOCK_CONFLICT', 409, [string, number]>(
  'LOCK_CONFLICT',
  'Database "%s" still had an operation in flight that the lock would block after waiting %s ms, so the lock was not taken. Retry when that operation has finished',
  409
)

export const InvalidOptionError = define<'INVALID_LOCK_OPTION', 500, [string]>(
  'INVALID_LOCK_OPTION',
  'fastify-database-lock: %s',
  500
)

export const StoreTooNewError = define<'LOCK_STORE_TOO_NEW', 500, [string, number, number]>(
  'LOCK_STORE_TOO_NEW',
  'The lock store %s has schema version %s, newer than this version of fastify-database-lock understands (%s). Upgrade the package; the store was left untouched',
  500
)

export const UnlockPolicyConflictError = define<'UNLOCK_POLICY_CONFLICT', 409, [string, string]>(
  'UNLOCK_POLICY_CONFLICT',
  'The lock on "%s" was not changed: %s. A live lock can only be strengthened; unlock it (under its policy) to take a weaker one',
  409
)

export const UnlockForbiddenError = define<'UNLOCK_FORBIDDEN', 403, [string, string]>(
  'UNLOCK_FORBIDDEN',
  'The lock on "%s" can never be unlocked, by anyone: it lifts by itself at its expiry (%s)',
  403,
  false
)
