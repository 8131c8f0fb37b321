// What @fastify/swagger cannot know from the route schemas: the lock and unlock bodies may be
// left out. It marks every documented request body `required`, because Fastify's own validator
// refuses a missing one; the lock routes' validator reads a missing body as `{}`.

/** operationIds of the plugin's routes whose request body is optional. */
export const OPTIONAL_BODY_OPERATIONS: readonly string[] = ['lockDatabase', 'unlockDatabase']

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Marks the request body of the listed operations optional (`required: false`) in an OpenAPI 3
 * document, in place, and returns it. For @fastify/swagger's `transformObject` option:
 * `transformObject: ({ openapiObject }) => markOptionalBodies(openapiObject)`.
 */
export function markOptionalBodies<D extends { paths?: object }> (document: D, operationIds: Iterable<string> = OPTIONAL_BODY_OPERATIONS): D {
  const optional = new Set(operationIds)
  for (const item of Object.values(document.paths ?? {})) {
    if (!isRecord(item)) continue
    for (const operation of Object.values(item)) {
      if (!isRecord(operation) || typeof operation.operationId !== 'string' || !optional.has(operation.operationId)) continue
      if (isRecord(operation.requestBody)) operation.requestBody.required = false
    }
  }
  return document
}
