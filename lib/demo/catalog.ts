// The demo service's own data: which databases exist, who owns them, and their rows.
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { retryWhileBusy } from '../store/sqlite/sqlite-busy.js'

export interface HostedDatabase {
  name: string
  id: string
  owner: string
  description: string | null
  createdAt: string
  updatedAt: string
  rowCount: number
}

interface DatabaseRow {
  name: string
  id: string
  owner: string
  description: string | null
  created_at: number
  updated_at: number
}

function parseJson (text: string): unknown {
  return JSON.parse(text)
}

export class Catalog {
  private readonly db: Database.Database
  private readonly statements

  /** `maxPages`: a size quota for the catalog file, in SQLite pages (tests of a full disk). */
  constructor (dataDir: string, maxPages?: number) {
    mkdirSync(dataDir, { recursive: true })
    this.db = new Database(join(dataDir, 'demo.db'), { timeout: 5000 })
    retryWhileBusy(() => this.prepareSchema(), 5000)
    if (maxPages !== undefined) this.db.pragma(`max_page_count = ${Math.trunc(maxPages)}`)
    const db = this.db
    this.statements = {
      byNameOrId: db.prepare<[string, string], DatabaseRow>('SELECT * FROM databases WHERE name = ? OR id = ?'),
      // Another process may create the same name between our look-up and this insert: no error, no row.
      insert: db.prepare('INSERT INTO databases (name, id, owner, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING'),
      update: db.prepare('UPDATE databases SET description = ?, updated_at = ? WHERE name = ?'),
      remove: db.prepare('DELETE FROM databases WHERE name = ?'),
      clearRows: db.prepare('DELETE FROM rows WHERE database = ?'),
      countRows: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM rows WHERE database = ?'),
      insertRow: db.prepare('INSERT INTO rows (database, data, created_at) VALUES (?, ?, ?)'),
      listRows: db.prepare<[string, number], { seq: number, data: string, created_at: number }>(
        'SELECT seq, data, created_at FROM rows WHERE database = ? ORDER BY seq LIMIT ?'
      )
    }
  }

  private prepareSchema (): void {
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = FULL')
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS databases (
        name TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,
        description TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS rows (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, database TEXT NOT NULL, data TEXT NOT NULL, created_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS rows_by_database ON rows (database, seq);
    `)
  }

  private toDatabase (row: DatabaseRow): HostedDatabase {
    return {
      name: row.name,
      id: row.id,
      owner: row.owner,
      description: row.description,
      createdAt: new Date(row.created_at).toISOString(),
      updatedAt: new Date(row.updated_at).toISOString(),
      rowCount: this.statements.countRows.get(row.name)?.n ?? 0
    }
  }

  /** A database by its name or its identity (`db_…`). */
  get (nameOrId: string): HostedDatabase | null {
    const row = this.statements.byNameOrId.get(nameOrId, nameOrId)
    return row === undefined ? null : this.toDatabase(row)
  }

  /** Just the name and owner, for the lock plugin's resolveDatabase. */
  find (nameOrId: string): { name: string, owner: string } | null {
    const row = this.statements.byNameOrId.get(nameOrId, nameOrId)
    return row === undefined ? null : { name: row.name, owner: row.owner }
  }

  /** Creates the database; null when the name exists already (another process may just have created it). */
  create (name: string, owner: string, description: string | null): HostedDatabase | null {
    const now = Date.now()
    const { changes } = this.statements.insert.run(name, `db_${randomBytes(8).toString('hex')}`, owner, description, now, now)
    return changes === 0 ? null : this.get(name)
  }

  publish (name: string, description: string | null): HostedDatabase {
    this.statements.update.run(description, Date.now(), name)
    return this.get(name) as HostedDatabase
  }

  remove (name: string): void {
    this.db.transaction(() => {
      this.statements.clearRows.run(name)
      this.statements.remove.run(name)
    })()
  }

  reset (name: string): number {
    return this.statements.clearRows.run(name).changes
  }

  insertRow (name: string, data: unknown): { seq: number } {
    const info = this.statements.insertRow.run(name, JSON.stringify(data), Date.now())
    return { seq: Number(info.lastInsertRowid) }
  }

  rows (name: string, limit: number): Array<{ seq: number, data: unknown, createdAt: string }> {
    return this.statements.listRows.all(name, limit).map((row) => ({
      seq: row.seq,
      data: parseJson(row.data),
      createdAt: new Date(row.created_at).toISOString()
    }))
  }

  close (): void {
    if (this.db.open) this.db.close()
  }
}
