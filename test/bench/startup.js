'use strict'
// A process that opens the lock store in LOCK_FILE with the plugin and gets ready
// to serve, then prints one JSON line: how long that took and its memory.
// performance.now() counts from this process's start.
const { readFileSync } = require('node:fs')

const atStart = performance.now()
const Fastify = require('fastify')
const databaseLock = require(require('./helpers.js').DIST)

async function main () {
  const loaded = performance.now()
  const app = Fastify({ logger: false })
  await app.register(databaseLock, {
    path: process.env.LOCK_FILE,
    principal: () => null,
    resolveDatabase: (name) => ({ id: name, owner: 'bench' })
  })
  await app.ready()
  const ready = performance.now()
  const status = readFileSync('/proc/self/status', 'utf8')
  const mib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)[1]) / 1024
  const memory = process.memoryUsage()
  process.stdout.write(JSON.stringify({
    bootMs: atStart,
    requireMs: loaded - atStart,
    registerToReadyMs: ready - loaded,
    processToReadyMs: ready,
    rssMiB: mib('VmRSS'),
    peakRssMiB: mib('VmHWM'),
    heapUsedMiB: memory.heapUsed / 1048576,
    externalMiB: memory.external / 1048576
  }) + '\n')
  await app.close()
}

main().catch((err) => {
  process.stderr.write(`startup failed: ${err.stack}\n`)
  process.exit(1)
})
