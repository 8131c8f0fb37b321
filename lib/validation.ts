// Strict validation for the lock routes. Fastify's default Ajv silently drops
// unknown fields and coerces types; a lock request with a typo must fail instead.
import Ajv, { type ErrorObject } from 'ajv'
import type { FastifySchema, FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify'
import type { Static, TSchema } from 'typebox'
import { InvalidRequestError } from './errors.js'

const strict = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: false, removeAdditional: false, strict: false })
// Query strings arrive as text; numbers there are coerced, nothing else.
const lenient = new Ajv({ allErrors: false, coerceTypes: true, useDefaults: true, removeAdditional: false, strict: false })

export const validatorCompiler: FastifySchemaCompiler<FastifySchema> = ({ schema, httpPart }) => {
  const validate = (httpPart === 'querystring' ? lenient : strict).compile(schema as object)
  if (httpPart !== 'body') return validate
  // The body is optional: no body at all stands for an empty object.
  const validateBody = (data: unknown): boolean | { value: unknown } => {
    if (data === undefined || data === null) return { value: {} }
    const valid = validate(data)
    validateBody.errors = validate.errors
    return valid
  }
  validateBody.errors = null as typeof validate.errors
  return validateBody
}

const PART_NAMES: Record<string, string> = { body: 'request body', querystring: 'query string', params: 'URL', headers: 'headers', options: 'options' }

function fieldOf (error: ErrorObject | FastifySchemaValidationError): string {
  const path = error.instancePath.replace(/^\//, '').replace(/\//g, '.')
  return path === '' ? '' : `"${path}"`
}

/** One clear sentence for the first validation error. */
export function describeValidationError (error: ErrorObject | FastifySchemaValidationError, part: string, schema?: { properties?: Record<string, unknown> }): string {
  const where = PART_NAMES[part] ?? part
  const field = fieldOf(error)
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'additionalProperties': {
      const allowed = Object.keys(schema?.properties ?? {})
      const hint = allowed.length > 0 ? `; allowed fields are ${allowed.join(', ')}` : ''
      return `Unknown field "${String(params.additionalProperty)}" in the ${where}${hint}`
    }
    case 'type':
      return field === ''
        ? `The ${where} must be a JSON ${String(params.type)}`
        : `Field ${field} in the ${where} must be of type ${String(params.type)}`
    case 'enum':
      return `Field ${field} in the ${where} must be one of: ${(params.allowedValues as unknown[]).join(', ')}`
    case 'maxLength':
      return `Field ${field} in the ${where} must be at most ${String(params.limit)} characters`
    case 'minLength':
      return `Field ${field} in the ${where} must be at least ${String(params.limit)} characters`
    case 'minimum':
    case 'maximum':
      return `Field ${field} in the ${where} must be ${error.keyword === 'minimum' ? 'at least' : 'at most'} ${String(params.limit)}`
    case 'required':
      return `Field "${String(params.missingProperty)}" is required in the ${where}`
    default:
      return `The ${where} is invalid: ${field === '' ? '' : `${field} `}${error.message ?? 'does not match the schema'}`
  }
}

/** The `schemaErrorFormatter` of the lock routes; it needs the route's schema to list allowed fields. */
export function errorFormatterFor (schema: FastifySchema) {
  return (errors: FastifySchemaValidationError[], dataVar: string): Error => {
    const partSchema = (schema as Record<string, unknown>)[dataVar] as { properties?: Record<string, unknown> } | undefined
    return new InvalidRequestError(describeValidationError(errors[0], dataVar, partSchema))
  }
}

/**
 * A check of a program's input against a route's schema, with the route's strict rules and
 * its 400 message: `fastify.databaseLock` refuses what the route would refuse.
 */
export function strictChecker<S extends TSchema> (schema: S, part: string): (data: unknown) => Static<S> {
  const validate = strict.compile<Static<S>>(schema)
  return (data) => {
    if (validate(data)) return data
    const [error] = validate.errors ?? []
    throw new InvalidRequestError(error === undefined ? `The ${part} are invalid` : describeValidationError(error, part, schema))
  }
}
