#!/usr/bin/env node
// The `dblock` bin: lock, unlock, check and list database locks from a terminal or a
// script, read a database's audit trail, and run a command under a lock that is released
// however the command ends. The command itself is run() in ./cli/run.ts.
import { run } from './cli/run.js'

// A reader that goes away (`dblock list | head`) is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err
})

run(process.argv.slice(2), {
  stdout: (text) => { process.stdout.write(text) },
  stderr: (text) => { process.stderr.write(text) },
  env: process.env,
  cwd: process.cwd(),
  signals: process
}).then((code) => { process.exitCode = code })
