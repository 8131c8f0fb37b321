// dblock.json: the server and database a project's scripts use, found from the current
// directory upwards. It may never hold credentials.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { UsageError } from './parse-args.js'

const CONFIG_FILE = 'dblock.json'

export interface ConfigFile {
  path: string
  server?: string
  database?: string
}

/** dblock.json in `dir` or the nearest parent that has one. */
export function findConfig (dir: string): string | null {
  for (let current = resolve(dir); ; current = dirname(current)) {
    const candidate = join(current, CONFIG_FILE)
    if (existsSync(candidate)) return candidate
    if (dirname(current) === current) return null
  }
}

function isErrno (err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && 'code' in err
}

export function readConfig (path: string): ConfigFile {
  let value: unknown
  try {
    value = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    const why = isErrno(err) && err.code === 'ENOENT' ? 'it does not exist' : err instanceof Error ? err.message : String(err)
    throw new UsageError(`cannot read config file ${path}: ${why}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`config file ${path} must hold a JSON object like {"server": "https://…", "database": "prod"}`)
  }
  const config: ConfigFile = { path }
  for (const [key, field] of Object.entries(value)) {
    if (key === 'server' || key === 'database') {
      if (typeof field !== 'string' || field === '') throw new UsageError(`"${key}" in ${path} must be a non-empty string`)
      config[key] = field
    } else if (key === 'token' || key === 'adminKey') {
      // The file usually lives in a repository; credentials do not belong there.
      throw new UsageError(`${path} may not hold "${key}": keep credentials out of project files and set DBLOCK_TOKEN / DBLOCK_ADMIN_KEY instead`)
    } else if (key !== '$schema') {
      throw new UsageError(`unknown key "${key}" in ${path}; it may hold "server" and "database"`)
    }
  }
  return config
}
