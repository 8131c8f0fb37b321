// Waiting for a condition instead of sleeping a fixed time: a fixed pause is either too short on
// a loaded machine (the test fails for nothing) or longer than needed everywhere.

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Resolves once `check()` holds (polled every 5 ms); rejects after `timeout` ms naming `what`. */
export async function until (check: () => boolean | Promise<boolean>, what = 'the condition', timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`waited ${timeout} ms for ${what}`)
    await pause(5)
  }
}
