// The demo's OpenAPI document (/docs/json): its settings for @fastify/swagger, and the answers
// its server gives on every route, which the routes therefore do not declare one by one.
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { markOptionalBodies, OPTIONAL_BODY_OPERATIONS } from '../openapi.js'
import { errorResponse } from '../responses.js'

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The demo's create-or-publish reads a missing body as "no description". */
const OPTIONAL_BODIES = [...OPTIONAL_BODY_OPERATIONS, 'createOrPublishDatabase']

export const SWAGGER_OPTIONS: FastifyDynamicSwaggerOptions = {
  openapi: {
    info: {
      title: 'fastify-database-lock demo',
      version: '0.1.0',
      description: 'A database-hosting API guarded by fastify-database-lock. Error bodies are `{ statusCode, code, error, message }`: branch on `code`.',
      license: { name: 'MIT', url: 'https://opensource.org/licenses/MIT' }
    },
    // Relative: the document is served by the service it describes, wherever that listens.
    servers: [{ url: '/', description: 'This service' }],
    tags: [
      { name: 'databases', description: 'Create, read, delete and reset hosted databases' },
      { name: 'rows', description: 'The rows of a hosted database' },
      { name: 'database locks', description: 'Delete and write locks (fastify-database-lock)' },
      { name: 'service', description: 'Monitoring' }
    ],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        adminKey: { type: 'apiKey', in: 'header', name: 'X-Admin-Key' }
      }
    },
    security: [{ bearer: [] }, { adminKey: [] }]
  },
  transformObject: (document) => 'openapiObject' in document ? markOptionalBodies(document.openapiObject, OPTIONAL_BODIES) : document.swaggerObject
}

const HEADERS_TOO_LARGE = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  message: Type.String()
}, { description: 'The request headers are over the server\'s limit (16 KiB, Node\'s maxHeaderSize); answered before any route runs' })

const INVALID_TOKEN = { INVALID_TOKEN: 'a bearer token the service does not know' }

/** A 401 response that also lists INVALID_TOKEN (the demo's check of every bearer token). */
function withInvalidToken (declared: unknown): unknown {
  if (!isRecord(declared) || !isRecord(declared.properties) || !isRecord(declared.properties.code)) {
    return errorResponse('No valid credentials', INVALID_TOKEN)
  }
  const code = declared.properties.code
  const listed = Array.isArray(code.enum) ? code.enum : []
  if (listed.includes('INVALID_TOKEN')) return declared
  return {
    ...declared,
    description: `${String(declared.description ?? 'No valid credentials')}; \`INVALID_TOKEN\`: ${INVALID_TOKEN.INVALID_TOKEN}`,
    properties: { ...declared.properties, code: { ...code, enum: [...listed, 'INVALID_TOKEN'] } }
  }
}

/**
 * Documents on every route, the lock plugin's included (register this first), what the demo's
 * server answers whatever the route: 431 for oversized headers, and 401 INVALID_TOKEN from its
 * bearer-token check (which /health skips).
 */
export function documentServerAnswers (app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const schema = route.schema ?? {}
    if (schema.hide === true) return
    const declared: unknown = schema.response
    const response: Record<string, unknown> = isRecord(declared) ? { ...declared } : {}
    response[431] = HEADERS_TOO_LARGE
    if (route.url !== '/health') response[401] = withInvalidToken(response[401])
    route.schema = { ...schema, response }
  })
}
