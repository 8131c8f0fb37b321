// `fastify.databaseLock`: the operations of the routes for programs. Input is checked with
// the routes' own compiled schemas, so a program gets the same 400 a request would.
import type { DatabaseLockDecorator, ResolvedDatabase } from '../types/index.js'
import { PROGRAM_ORIGIN, type EventOrigin } from './audit.js'
import { ALL_HOLDERS, DEFAULT_EVENTS_LIMIT, DEFAULT_LIST_LIMIT } from './limits.js'
import { EventsQuery, ListQuery, LockBody, UnlockBody } from './schemas.generated.js'
import type { LockService } from './service.js'
import { strictChecker } from './validation.js'

const checkLock = strictChecker(LockBody, 'options')
const checkUnlock = strictChecker(UnlockBody, 'options')
const checkEvents = strictChecker(EventsQuery, 'options')
const checkList = strictChecker(ListQuery, 'options')

function programOrigin (by: string, target: ResolvedDatabase): EventOrigin {
  return { ...PROGRAM_ORIGIN, principal: by, owner: target.owner }
}

export function createDecorator (service: LockService): DatabaseLockDecorator {
  return {
    async lock (database, options = {}) {
      const by = options.by ?? 'program'
      const { mode = 'delete', reason, ttl, holder = by, children, unlock } = checkLock({
        mode: options.mode, reason: options.reason, ttl: options.ttl, holder: options.holder, children: options.children, unlock: options.unlock
      })
      const target = await service.resolve(database)
      return service.lock(target, { mode, reason, ttl, by, holder, children, unlock }, programOrigin(by, target))
    },
    async unlock (database, options = {}) {
      const by = options.by ?? 'program'
      const { mode = 'delete', holder = by } = checkUnlock({ mode: options.mode, holder: options.holder })
      const target = await service.resolve(database)
      // A program is held to the same policy as an HTTP caller: it approves as `by`, once.
      const result = await service.unlock(target, mode, holder === ALL_HOLDERS ? null : holder, programOrigin(by, target), by)
      return result.body
    },
    async events (database, options = {}) {
      const { type, limit = DEFAULT_EVENTS_LIMIT, cursor } = checkEvents({ type: options.type, limit: options.limit, cursor: options.cursor })
      // A program reads the whole trail, as the admin key does.
      return service.events(await service.resolve(database), type ?? null, limit, cursor, null)
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
