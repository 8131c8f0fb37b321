// Holds answers to the OpenAPI document they claim to follow: an answer's status must be listed
// for its operation, and its body must validate against the schema listed for that status.
import Ajv, { type ValidateFunction } from 'ajv'

export type Schema = Record<string, unknown>

export interface Parameter { name: string, in: string, required?: boolean, schema: Schema }

interface Response { description: string, content?: Record<string, { schema: Schema }> }

export interface Operation {
  /** `POST /v1/database/{name}/lock` */
  key: string
  method: string
  path: string
  parameters: Parameter[]
  /** The JSON request body's schema, when the operation documents one. */
  body: Schema | null
  bodyRequired: boolean
  responses: Record<string, Response>
}

export interface Answer { statusCode: number, body: string }

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options']

/** Every operation of an OpenAPI 3 document. */
export function operationsOf (document: { paths: Record<string, Record<string, Record<string, unknown>>> }): Operation[] {
  const operations: Operation[] = []
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, raw] of Object.entries(item)) {
      if (!METHODS.includes(method)) continue
      const requestBody = raw.requestBody as { required?: boolean, content: Record<string, { schema: Schema }> } | undefined
      operations.push({
        key: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        parameters: (raw.parameters ?? []) as Parameter[],
        body: requestBody?.content['application/json']?.schema ?? null,
        bodyRequired: requestBody?.required === true,
        responses: raw.responses as Record<string, Response>
      })
    }
  }
  return operations
}

/** The `code` values a response schema lists (its `code` enum) when every body carries one. */
function documentedCodes (response: Response): string[] {
  const schema = response.content?.['application/json']?.schema
  const codes = (schema?.properties as Record<string, Schema> | undefined)?.code?.enum
  const required = Array.isArray(schema?.required) && schema.required.includes('code')
  return required && Array.isArray(codes) ? codes.map(String) : []
}

export class ContractChecker {
  requests = 0
  undocumented = 0
  offSchema = 0
  readonly failures: string[] = []
  /** Per operation: `status code` pairs seen. */
  readonly seen = new Map<string, Set<string>>()
  private readonly ajv = new Ajv({ strict: false, allErrors: true })
  private readonly validators = new WeakMap<Schema, ValidateFunction>()

  constructor () {
    // What the serializer writes for a date: an ISO 8601 UTC timestamp.
    this.ajv.addFormat('date-time', (value: string) => !Number.isNaN(Date.parse(value)) && new Date(value).toISOString() === value)
  }

  /** Checks one answer; `what` says which request it was, for the failure report. */
  check (operation: Operation, answer: Answer, what: string): void {
    this.requests++
    const status = answer.statusCode
    const response = operation.responses[String(status)] ?? operation.responses[`${String(status)[0]}XX`] ?? operation.responses.default
    let code = ''
    let body: unknown
    try {
      body = answer.body === '' ? undefined : JSON.parse(answer.body)
      if (typeof body === 'object' && body !== null && 'code' in body) code = String(body.code)
    } catch {
      body = answer.body
    }
    const seen = this.seen.get(operation.key) ?? new Set()
    seen.add(`${status} ${code}`.trim())
    this.seen.set(operation.key, seen)
    if (response === undefined) {
      this.undocumented++
      this.failures.push(`${operation.key} (${what}): ${status} is not documented; body ${answer.body.slice(0, 200)}`)
      return
    }
    const schema = response.content?.['application/json']?.schema
    if (schema === undefined) {
      if (answer.body !== '') {
        this.offSchema++
        this.failures.push(`${operation.key} (${what}): ${status} documents no body but has ${answer.body.slice(0, 200)}`)
      }
      return
    }
    let validate = this.validators.get(schema)
    if (validate === undefined) {
      validate = this.ajv.compile(schema)
      this.validators.set(schema, validate)
    }
    if (!validate(body)) {
      this.offSchema++
      this.failures.push(`${operation.key} (${what}): ${status} body ${answer.body.slice(0, 200)} does not match its schema: ${this.ajv.errorsText(validate.errors)}`)
    }
  }

  /** Documented `status code` pairs (a status alone when it lists no codes) that no answer showed. */
  unseen (operations: Operation[]): string[] {
    const missing: string[] = []
    for (const operation of operations) {
      const seen = this.seen.get(operation.key) ?? new Set()
      for (const [status, response] of Object.entries(operation.responses)) {
        const codes = documentedCodes(response)
        const expected = codes.length === 0 ? [status] : codes.map((code) => `${status} ${code}`)
        for (const pair of expected) {
          const found = codes.length === 0 ? [...seen].some((entry) => entry.split(' ')[0] === status) : seen.has(pair)
          if (!found) missing.push(`${operation.key}: ${pair}`)
        }
      }
    }
    return missing
  }
}

/** A valid value for `schema`: the first enum value, the minimum, a short string, every property. */
export function sample (schema: Schema): unknown {
  if (Array.isArray(schema.enum)) return schema.enum[0]
  if (Array.isArray(schema.anyOf)) return sample(schema.anyOf[0] as Schema)
  switch (schema.type) {
    case 'string': return 'x'.repeat(Number(schema.minLength ?? 1))
    case 'integer':
    case 'number': return Number(schema.minimum ?? 1)
    case 'boolean': return true
    case 'array': return []
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Schema>
      const value: Record<string, unknown> = {}
      for (const [name, property] of Object.entries(properties)) value[name] = sample(property)
      if (Object.keys(properties).length === 0 && schema.additionalProperties !== false) value.note = 'x'
      return value
    }
    default: return 'x'
  }
}

/** Values that break `schema`, each with what is wrong with it. */
export function violations (schema: Schema): Array<[what: string, value: unknown]> {
  const found: Array<[string, unknown]> = []
  if (Array.isArray(schema.enum)) found.push(['a value not in the enum', 'not-a-listed-value'])
  if (Array.isArray(schema.anyOf)) found.push(...violations(schema.anyOf[0] as Schema))
  switch (schema.type) {
    case 'string':
      found.push(['a number for a string', 12345], ['null for a string', null])
      if (typeof schema.maxLength === 'number') found.push([`a string over ${schema.maxLength} characters`, 'x'.repeat(schema.maxLength + 1)])
      if (typeof schema.minLength === 'number' && schema.minLength > 0) found.push(['an empty string', ''])
      if (typeof schema.pattern === 'string') found.push(['a string off the pattern', ' not/allowed '])
      break
    case 'integer':
    case 'number':
      found.push(['a string for a number', 'abc'], ['an object for a number', { n: 1 }])
      if (schema.type === 'integer') found.push(['a fraction for an integer', 1.5])
      if (typeof schema.minimum === 'number') found.push(['below the minimum', schema.minimum - 1])
      if (typeof schema.maximum === 'number') found.push(['above the maximum', schema.maximum + 1])
      break
    case 'boolean':
      found.push(['a string for a boolean', 'yes'])
      break
    case 'object':
      found.push(['a string for an object', 'text'], ['an array for an object', [1]])
      break
  }
  return found
}
