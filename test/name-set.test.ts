// The name set that holds a large store's permanent delete locks: it must answer exactly as a
// Set of strings would, through growth, deletions and names the table does not keep itself.
import t, { type Test } from 'tap'
import { NameSet } from '../lib/name-set.js'

/** Applies the same operations to a NameSet and a Set and compares every answer. */
function compare (t: Test, operations: Array<['add' | 'delete', string]>, probes: string[]): void {
  const names = new NameSet()
  const reference = new Set<string>()
  const wrongDeletes: string[] = []
  for (const [operation, name] of operations) {
    if (operation === 'add') {
      names.add(name)
      reference.add(name)
    } else if (names.delete(name) !== reference.delete(name)) {
      wrongDeletes.push(name)
    }
  }
  t.same(wrongDeletes, [], 'every delete answers as a Set does')
  t.equal(names.size, reference.size, 'same size')
  const wrong = [...new Set([...probes, ...reference])].filter((name) => names.has(name) !== reference.has(name))
  t.same(wrong, [], 'every probe answers as a Set does')
}

t.test('add, has and delete answer as a Set of strings does', async (t) => {
  const operations: Array<['add' | 'delete', string]> = []
  for (let i = 0; i < 5000; i++) operations.push(['add', `tenant-${i}`])
  for (let i = 0; i < 5000; i += 3) operations.push(['delete', `tenant-${i}`])
  for (let i = 0; i < 5000; i += 6) operations.push(['add', `tenant-${i}`])
  operations.push(['delete', 'never-added'], ['add', 'team/prod'], ['add', 'team.prod'], ['add', ''], ['delete', 'team.prod'])
  const probes = ['tenant-5000', 'tenant-', 'tenant-00', 'team/prod', 'team.prod', 'team', '', 'Tenant-1', 'tenant-1 ']
  compare(t, operations, probes)
})

t.test('names the table does not hold itself: non-ASCII, very long; prefixes and near misses', async (t) => {
  const long = 'a'.repeat(70_000)
  const operations: Array<['add' | 'delete', string]> = [
    ['add', 'prød'], ['add', 'db🔥'], ['add', long], ['add', 'prod'], ['add', 'pro'], ['delete', 'db🔥'], ['add', 'prod\u0000x']
  ]
  compare(t, operations, ['prød', 'prod', 'pro', 'pr', 'prodd', 'db🔥', long, long.slice(1), 'prod\u0000x', 'prod\u0000', 'prod\u0100'])
})

t.test('churn: deleted slots are reused and the arrays rebuilt without losing a name', async (t) => {
  const operations: Array<['add' | 'delete', string]> = []
  // Far more adds and deletes than live names: the table must compact instead of filling up.
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 500; i++) operations.push(['add', `r${round}-db${i}`])
    for (let i = 0; i < 500; i++) if (i % 50 !== 0) operations.push(['delete', `r${round}-db${i}`])
  }
  compare(t, operations, ['r0-db0', 'r0-db1', 'r39-db450', 'r39-db451', 'r40-db0'])
})

t.test('addChunks takes newline-separated UTF-8 names as a store hands them over', async (t) => {
  const names = new NameSet()
  names.add('before')
  const list = ['alpha', 'beta', 'prød', 'team/prod', 'alpha', 'x'.repeat(300), 'y'.repeat(70_000)]
  names.addChunks([Buffer.from(list.join('\n')), Buffer.from(''), Buffer.from('gamma\n')])
  const expected = new Set([...list, 'gamma', 'before'])
  t.equal(names.size, expected.size, 'duplicates count once')
  for (const name of expected) t.ok(names.has(name), `has ${name.slice(0, 20)}`)
  t.notOk(names.has('alph'), 'a prefix is not a member')
  t.notOk(names.has(''), 'an empty line is not a name')
  t.ok(names.delete('prød'), 'a non-ASCII name from bytes can be deleted by its string')
  t.notOk(names.has('prød'))
  t.ok(names.delete('alpha'), 'a name from a chunk can be deleted')
  t.notOk(names.has('alpha'))
  names.add('alpha')
  t.ok(names.has('alpha'), 'and added again')
})

t.test('a chunk larger than a page is cut between names', async (t) => {
  const names = new NameSet()
  // About 5 MB of names: more than two pages of 2 MiB.
  const list = Array.from({ length: 300_000 }, (_, i) => `tenant-${i}-${'n'.repeat(i % 7)}`)
  names.addChunks([Buffer.from(list.join('\n'))])
  t.equal(names.size, list.length)
  const missing = list.filter((name) => !names.has(name))
  t.same(missing, [], 'every name is found, on whichever page it landed')
  t.notOk(names.has('tenant-300000-'), 'and nothing else')
})

t.test('names loaded in bulk survive churn that compacts them onto new pages', async (t) => {
  const names = new NameSet()
  const bulk = Array.from({ length: 20_000 }, (_, i) => `bulk-${i}`)
  names.addChunks([Buffer.from(bulk.join('\n'))])
  // Delete most of them and add others one by one: the garbage outgrows the names kept.
  const kept = bulk.filter((_, i) => i % 10 === 0)
  for (let i = 0; i < bulk.length; i++) if (i % 10 !== 0) names.delete(bulk[i])
  const added = Array.from({ length: 30_000 }, (_, i) => `added-${i}`)
  for (const name of added) names.add(name)
  t.equal(names.size, kept.length + added.length)
  t.same([...kept, ...added].filter((name) => !names.has(name)), [], 'every kept and added name is found')
  t.same(bulk.filter((_, i) => i % 10 === 1).filter((name) => names.has(name)), [], 'no deleted name is')
})
