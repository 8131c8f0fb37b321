'use strict'
// Reads a V8 .cpuprofile (node --cpu-prof) and sums sampled time per function:
// self time (where the samples landed) and inclusive time (anywhere on the stack).
const { readFileSync } = require('node:fs')

function frameName (node, root) {
  const { functionName, url, lineNumber } = node.callFrame
  let where = url
  if (where.startsWith('file://')) where = where.slice('file://'.length)
  if (where.startsWith(root)) where = where.slice(root.length + 1)
  where = where.replace(/^.*node_modules\//, '')
  return `${functionName || '(anonymous)'} ${where === '' ? '' : `${where}:${lineNumber + 1}`}`.trim()
}

/**
 * { totalMs, busyMs, self: [{ name, ms, share }], inclusive: [...] }, largest first,
 * `top` of each. Shares are of the busy time: samples in "(idle)" are left out.
 */
function summarizeProfile (file, { root = '', top = 12, match = null } = {}) {
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parentOf = new Map()
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id)
  const sampled = new Map()
  profile.samples.forEach((id, i) => sampled.set(id, (sampled.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const self = new Map()
  const inclusive = new Map()
  let total = 0
  let idle = 0
  for (const [id, micros] of sampled) {
    total += micros
    const name = frameName(byId.get(id), root)
    if (name === '(idle)') {
      idle += micros
      continue
    }
    self.set(name, (self.get(name) ?? 0) + micros)
    const seen = new Set()
    for (let at = id; at !== undefined; at = parentOf.get(at)) {
      const frame = frameName(byId.get(at), root)
      if (seen.has(frame)) continue
      seen.add(frame)
      inclusive.set(frame, (inclusive.get(frame) ?? 0) + micros)
    }
  }
  const list = (map) => [...map]
    .filter(([name]) => match === null || match.test(name))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, micros]) => ({ name, ms: micros / 1000, share: micros / (total - idle) }))
  return { totalMs: total / 1000, busyMs: (total - idle) / 1000, self: list(self), inclusive: list(inclusive) }
}

module.exports = { summarizeProfile }
