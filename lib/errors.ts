// Every error the plugin answers with, one line each. Messages say what to do next.
import createError from '@fastify/error'

export const DatabaseLockedError = createError<'DATABASE_LOCKED', 403, [string, string]>(
  'DATABASE_LOCKED',
  'Database "%s" is locked against deletion and reset. Its owner can lift the lock with POST %s',
  403,
  // A refusal is an answer, not a fault: no stack trace to capture on this path.
  Error,
  false
)

export const DatabaseWriteLockedError = createError<'DATABASE_WRITE_LOCKED', 503, [string, string, number]>(
  'DATABASE_WRITE_LOCKED',
  'Database "%s" is locked for %s; writes are refused until it is unlocked. Retry after %s seconds',
  503,
  Error,
  false
)

export const NotDatabaseOwnerError = createError<'NOT_DATABASE_OWNER', 403, [string]>(
  'NOT_DATABASE_OWNER',
  'Only the owner of database "%s" or a service holding the admin key may do this',
  403
)

export const AuthenticationRequiredError = createError<'AUTHENTICATION_REQUIRED', 401, []>(
  'AUTHENTICATION_REQUIRED',
  'Authentication required: send the database owner\'s credentials or an X-Admin-Key header',
  401
)

export const InvalidAdminKeyError = createError<'INVALID_ADMIN_KEY', 403, [string]>(
  'INVALID_ADMIN_KEY',
  'The X-Admin-Key header was refused: %s',
  403
)

export const AdminRequiredError = createError<'ADMIN_REQUIRED', 403, []>(
  'ADMIN_REQUIRED',
  'Listing every lock needs the service admin key in the X-Admin-Key header',
  403
)

export const DatabaseNotFoundError = createError<'DATABASE_NOT_FOUND', 404, [string]>(
  'DATABASE_NOT_FOUND',
  'Database "%s" does not exist; check the name',
  404
)

export const InvalidDatabaseNameError = createError<'INVALID_DATABASE_NAME', 400, [string, string]>(
  'INVALID_DATABASE_NAME',
  'Invalid database name "%s": %s',
  400
)

export const InvalidRequestError = createError<'INVALID_LOCK_REQUEST', 400, [string]>(
  'INVALID_LOCK_REQUEST',
  '%s',
  400
)

export const LockStoreUnavailableError = createError<'LOCK_STORE_UNAVAILABLE', 503, []>(
  'LOCK_STORE_UNAVAILABLE',
  'The lock store cannot answer right now, so this request is refused to keep databases safe. Retry shortly; if it persists, the service operator should check the lock store',
  503
)

export const LockConflictError = createError<'LOCK_CONFLICT', 409, [string, number]>(
  'LOCK_CONFLICT',
  'Database "%s" still had an operation in flight that the lock would block after waiting %s ms, so the lock was not taken. Retry when that operation has finished',
  409
)

export const InvalidOptionError = createError<'FST_DATABASE_LOCK_INVALID_OPTION', [string]>(
  'FST_DATABASE_LOCK_INVALID_OPTION',
  'fastify-database-lock: %s',
  500
)

export const StoreTooNewError = createError<'LOCK_STORE_TOO_NEW', [string, number, number]>(
  'LOCK_STORE_TOO_NEW',
  'The lock store %s has schema version %s, newer than this version of fastify-database-lock understands (%s). Upgrade the package; the store was left untouched',
  500
)
