// Opening a SQLite file that other processes open at the same moment: switching
// to WAL and creating tables can meet SQLITE_BUSY without the busy handler being
// consulted, so the open sequence itself is retried for a bounded time.
const pause = new Int32Array(new SharedArrayBuffer(4))

function isBusy (err: unknown): boolean {
  const code: unknown = typeof err === 'object' && err !== null ? Reflect.get(err, 'code') : undefined
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code === 'SQLITE_BUSY_SNAPSHOT'
}

/** Runs `open` until it succeeds or `timeout` ms pass; only BUSY errors are retried. */
export function retryWhileBusy<T> (open: () => T, timeout: number): T {
  const deadline = Date.now() + timeout
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    try {
      return open()
    } catch (err) {
      if (!isBusy(err) || Date.now() >= deadline) throw err
      // Start-up only, never the request path: a synchronous pause keeps the open synchronous.
      Atomics.wait(pause, 0, 0, wait)
    }
  }
}

/**
 * Runs `attempt` until it succeeds or `budget` ms pass, pausing between BUSY errors without
 * blocking the event loop: another connection's long write never freezes this process.
 */
export async function whenNotBusy<T> (attempt: () => T, budget: number): Promise<T> {
  const deadline = Date.now() + budget
  for (let pause = 1; ; pause = Math.min(pause * 2, 25)) {
    try {
      return attempt()
    } catch (err) {
      const left = deadline - Date.now()
      if (!isBusy(err) || left <= 0) throw err
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)))
    }
  }
}
