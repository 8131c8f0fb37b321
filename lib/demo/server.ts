// `npm start`: the demo service, configured from the environment.
import { buildDemoApp, parseTokens } from './app.js'

async function main (): Promise<void> {
  const host = process.env.HOST ?? '127.0.0.1'
  const port = Number(process.env.PORT ?? 3000)
  const app = await buildDemoApp({
    dataDir: process.env.DATA_DIR ?? './data',
    tokens: parseTokens(process.env.DEMO_TOKENS ?? 'alice:alice-token,bob:bob-token'),
    adminKey: process.env.ADMIN_KEY === '' ? undefined : process.env.ADMIN_KEY,
    logger: { level: process.env.LOG_LEVEL ?? 'info' },
    // LOCK_STORE_URL (postgres://…) shares locks between hosts; unset, they live in DATA_DIR's SQLite file.
    lockOptions: process.env.LOCK_STORE_URL === undefined || process.env.LOCK_STORE_URL === '' ? undefined : { url: process.env.LOCK_STORE_URL }
  })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.close().then(() => process.exit(0), () => process.exit(1))
    })
  }
  const address = await app.listen({ host, port })
  // One plain line that scripts (and the tests) can wait for.
  process.stdout.write(`demo listening on ${address}\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
