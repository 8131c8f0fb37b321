// `fastify.databaseLock`: the operations of the routes for programs. Input is checked with
// the routes' own compiled schemas, so a program gets the same 400 a request would.
import type { DatabaseLockDecorator } from '../types/index.js'
import { PROGRAM_ORIGIN, type EventOrigin } from './audit.js'
import { DEFAULT_EVENTS_LIMIT, DEFAULT_LIST_LIMIT } from './limits.js'
import { EventsQuery, ListQuery, LockBody, UnlockBody } from './schemas.js'
import type { LockService } from './service.js'
import { strictChecker } from './validation.js'

const checkLock = strictChecker(LockBody, 'options')
const checkUnlock = strictChecker(UnlockBody, 'options')
const checkEvents = strictChecker(EventsQuery, 'options')
const checkList = strictChecker(ListQuery, 'options')

function programOrigin (by: string): EventOrigin {
  return { ...PROGRAM_ORIGIN, principal: by }
}

export function createDecorator (service: LockService): DatabaseLockDecorator {
  return {
    async lock (database, options = {}) {
      const { mode = 'delete', reason, ttl } = checkLock({ mode: options.mode, reason: options.reason, ttl: options.ttl })
      const target = await service.resolve(database)
      const by = options.by ?? 'program'
      return service.lock(target, { mode, reason, ttl, by }, programOrigin(by))
    },
    async unlock (database, options = {}) {
      const { mode = 'delete' } = checkUnlock({ mode: options.mode })
      return service.unlock(await service.resolve(database), mode, programOrigin(options.by ?? 'program'))
    },
    async events (database, options = {}) {
      const { type, limit = DEFAULT_EVENTS_LIMIT, cursor } = checkEvents({ type: options.type, limit: options.limit, cursor: options.cursor })
      return service.events(await service.resolve(database), type ?? null, limit, cursor)
    },
    async status (database) {
      return service.status(await service.resolve(database))
    },
    async list (options = {}) {
      const { limit = DEFAULT_LIST_LIMIT, cursor } = checkList({ limit: options.limit, cursor: options.cursor })
      return service.list(limit, cursor)
    }
  }
}
