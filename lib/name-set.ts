// A set of database names kept in flat typed arrays: the permanent delete locks of a large
// store. A million names cost about 30 MB here and load without a string or a map entry per
// name (a Set of strings: about 100 MB of heap, and most of a second to build).
import { randomInt } from 'node:crypto'

const EMPTY = -1
const DELETED = -2
const NEWLINE = 0x0a
/** A name's reference: its page in the high bits, its position in the page in the low ones. */
const POSITION_BITS = 21
const PAGE_SIZE = 2 ** POSITION_BITS
const POSITION_MASK = PAGE_SIZE - 1
const MAX_PAGES = 2 ** (31 - POSITION_BITS)
/** Pages the set fills itself, with names added one by one or moved by a compaction. */
const OWN_PAGE_SIZE = 64 * 1024
const FNV_PRIME = 0x01000193

/**
 * Open addressing with linear probing. Each slot is two Int32s side by side, the name's
 * reference and its hash, so that a probe touches one cache line. Names are bytes in pages,
 * each followed by '\n' or the end of its page; the buffers a store hands over in bulk become
 * pages as they are, so a bulk load copies no name. Names of ASCII characters without '\n'
 * live in the table; any other name (rare: the default name rules allow ASCII only) is kept
 * in a plain Set beside it.
 */
export class NameSet {
  /** [reference, hash] per slot; reference EMPTY or DELETED for a free slot. */
  private table = new Int32Array(2 * 64).fill(EMPTY)
  private mask = 63
  private pages: Uint8Array[] = []
  /** Where the next name added one by one goes: pages[ownPage] at ownUsed (-1: no own page yet). */
  private ownPage = -1
  private ownUsed = 0
  private bytes = 0
  private garbage = 0
  private live = 0
  private deleted = 0
  private readonly others = new Set<string>()
  /** Per process, so that nobody can choose names that collide. */
  private readonly seed = randomInt(0, 2 ** 31)

  get size (): number {
    return this.live + this.others.size
  }

  has (name: string): boolean {
    if (this.size === 0) return false
    const hash = this.hashOf(name)
    if (hash === null) return this.others.has(name)
    return this.find(name, hash) >= 0
  }

  add (name: string): void {
    const hash = this.hashOf(name)
    if (hash === null) {
      this.others.add(name)
      return
    }
    if (this.find(name, hash) >= 0) return
    this.makeRoom(1)
    this.place(this.append(name), hash)
  }

  delete (name: string): boolean {
    const hash = this.hashOf(name)
    if (hash === null) return this.others.delete(name)
    const slot = this.find(name, hash)
    if (slot < 0) return false
    this.table[2 * slot] = DELETED
    this.garbage += name.length + 1
    this.live--
    this.deleted++
    return true
  }

  /**
   * Adds the names in `chunks`, each a buffer of names separated by '\n' (UTF-8): how a store
   * hands over a million names without making a string of each. The buffers are kept as they
   * are (the caller must not change them); the table is sized once for all of them.
   */
  addChunks (chunks: Uint8Array[]): void {
    let lines = 0
    for (const chunk of chunks) {
      for (let i = 0; i < chunk.length; i++) if (chunk[i] === NEWLINE) lines++
      lines++
    }
    this.makeRoom(lines)
    for (const chunk of chunks) {
      // Pages of at most PAGE_SIZE bytes, cut after a '\n': views of the chunk, no copies.
      for (let start = 0; start < chunk.length;) {
        let end = Math.min(start + PAGE_SIZE, chunk.length)
        if (end < chunk.length) {
          const cut = chunk.lastIndexOf(NEWLINE, end - 1)
          // A single name longer than a page stays out of the table.
          end = cut >= start ? cut + 1 : chunk.indexOf(NEWLINE, end) + 1 || chunk.length
        }
        this.addPage(chunk.subarray(start, end))
        start = end
      }
    }
  }

  private addPage (page: Uint8Array): void {
    if (this.pages.length >= MAX_PAGES) throw new RangeError('too many names for one NameSet')
    const pageIndex = this.pages.length
    this.pages.push(page)
    this.bytes += page.length
    for (let from = 0; from < page.length;) {
      // One pass over each name: its end, its hash, whether it is ASCII.
      let hash = this.seed
      let ascii = true
      let to = from
      for (; to < page.length; to++) {
        const byte = page[to]
        if (byte === NEWLINE) break
        if (byte >= 0x80) ascii = false
        hash = Math.imul(hash ^ byte, FNV_PRIME)
      }
      if (ascii && to - from < OWN_PAGE_SIZE) {
        // addChunks made room for every name: no rebuild here, which could move this page.
        if (this.findBytes(page, from, to, hash) < 0) {
          this.place(pageIndex * PAGE_SIZE + from, hash)
        } else {
          this.garbage += to - from + 1
        }
      } else {
        this.others.add(Buffer.from(page.buffer, page.byteOffset + from, to - from).toString('utf8'))
        this.garbage += to - from + 1
      }
      from = to + 1
    }
  }

  /** FNV-1a over the char codes, or null when the name does not belong in the table. */
  private hashOf (name: string): number | null {
    if (name.length >= OWN_PAGE_SIZE) return null
    let hash = this.seed
    for (let i = 0; i < name.length; i++) {
      const code = name.charCodeAt(i)
      if (code >= 0x80 || code === NEWLINE) return null
      hash = Math.imul(hash ^ code, FNV_PRIME)
    }
    return hash
  }

  /** The slot holding `name`, or -1. */
  private find (name: string, hash: number): number {
    const { table, mask, pages } = this
    const length = name.length
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const reference = table[2 * slot]
      if (reference === EMPTY) return -1
      if (reference >= 0 && table[2 * slot + 1] === hash) {
        const page = pages[reference >>> POSITION_BITS]
        const at = reference & POSITION_MASK
        let same = at + length <= page.length && (at + length === page.length || page[at + length] === NEWLINE)
        for (let i = 0; i < length && same; i++) same = page[at + i] === name.charCodeAt(i)
        if (same) return slot
      }
    }
  }

  private findBytes (bytes: Uint8Array, from: number, to: number, hash: number): number {
    const { table, mask, pages } = this
    const length = to - from
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const reference = table[2 * slot]
      if (reference === EMPTY) return -1
      if (reference >= 0 && table[2 * slot + 1] === hash) {
        const page = pages[reference >>> POSITION_BITS]
        const at = reference & POSITION_MASK
        let same = at + length <= page.length && (at + length === page.length || page[at + length] === NEWLINE)
        for (let i = 0; i < length && same; i++) same = page[at + i] === bytes[from + i]
        if (same) return slot
      }
    }
  }

  /** Copies a name into the own page (a new one when it is full); returns its reference. */
  private append (name: string): number {
    if (this.ownPage === -1 || this.ownUsed + name.length + 1 > OWN_PAGE_SIZE) {
      if (this.pages.length >= MAX_PAGES) throw new RangeError('too many names for one NameSet')
      this.ownPage = this.pages.length
      this.pages.push(new Uint8Array(OWN_PAGE_SIZE))
      this.ownUsed = 0
      this.bytes += OWN_PAGE_SIZE
    }
    const page = this.pages[this.ownPage]
    const at = this.ownUsed
    for (let i = 0; i < name.length; i++) page[at + i] = name.charCodeAt(i)
    page[at + name.length] = NEWLINE
    this.ownUsed += name.length + 1
    return this.ownPage * PAGE_SIZE + at
  }

  private place (reference: number, hash: number): void {
    const { table, mask } = this
    let slot = hash & mask
    while (table[2 * slot] >= 0) slot = (slot + 1) & mask
    if (table[2 * slot] === DELETED) this.deleted--
    table[2 * slot] = reference
    table[2 * slot + 1] = hash
    this.live++
  }

  /**
   * Before `names` names are placed: at most half the slots in use, deleted ones included, so
   * probes stay short. Grows when the live names need it (one by one: to twice that, so growth
   * is rare); else rebuilds at the same size without the deleted slots.
   */
  private makeRoom (names: number): void {
    const slots = this.mask + 1
    if ((this.live + this.deleted + names) * 2 <= slots) return
    let capacity = slots
    while ((this.live + names) * 2 > capacity) capacity *= 2
    if (names === 1 && (this.live + 1) * 4 > capacity) capacity *= 2
    this.rebuild(capacity)
  }

  /** A new table of `capacity` slots without the deleted ones; the names move to fresh pages when most page bytes are garbage. */
  private rebuild (capacity: number): void {
    const old = this.table
    const oldPages = this.pages
    const compact = this.garbage * 2 > this.bytes
    if (compact) {
      this.pages = []
      this.ownPage = -1
      this.bytes = 0
      this.garbage = 0
    }
    this.table = new Int32Array(2 * capacity).fill(EMPTY)
    this.mask = capacity - 1
    this.live = 0
    this.deleted = 0
    for (let slot = 0; slot < old.length / 2; slot++) {
      const reference = old[2 * slot]
      if (reference < 0) continue
      this.place(compact ? this.append(nameAt(oldPages, reference)) : reference, old[2 * slot + 1])
    }
  }
}

function nameAt (pages: Uint8Array[], reference: number): string {
  const page = pages[reference >>> POSITION_BITS]
  const at = reference & POSITION_MASK
  let end = page.indexOf(NEWLINE, at)
  if (end === -1) end = page.length
  return Buffer.from(page.buffer, page.byteOffset + at, end - at).toString('latin1')
}
