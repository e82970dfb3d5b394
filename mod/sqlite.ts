/**
 * Opens a SQLite database (Deno's built-in `node:sqlite`) in WAL mode and
 * brings its schema up to date with numbered migrations, each applied in its
 * own transaction and recorded in `schema_migrations`. A database written by
 * a newer version of the node is refused instead of being misread.
 *
 * @example
 * ```ts
 * const db = openDatabase("/var/lib/dbc/node_service/node.db", [
 *   { version: 1, name: "events", sql: "CREATE TABLE events (id INTEGER PRIMARY KEY, action TEXT NOT NULL)" },
 * ]);
 * db.prepare("INSERT INTO events (action) VALUES (?)").run("node.start");
 * db.close();
 * ```
 */
import { DatabaseSync } from "node:sqlite";

export type { DatabaseSync };

export type Migration = {
  /** 1, 2, 3, ... with no gaps; the order migrations run in. */
  readonly version: number;
  readonly name: string;
  readonly sql: string;
};

export class MigrationError extends Error {
  constructor(readonly path: string, detail: string) {
    super(`database ${path}: ${detail}`);
    this.name = "MigrationError";
  }
}

/**
 * How far a commit is on disk when it returns. In WAL mode both survive the node's own crash (kill
 * -9); they differ on a power cut or an OS crash:
 * - `full` (`synchronous = FULL`): the WAL is synced at every commit, so a commit that returned is
 *   kept. For what a lost write would cost money, a lease, an instance or an event: the ledger
 *   (balances, rentals, nonces) and the node service (VMs, containers, GPU allocations, leases,
 *   the event log).
 * - `normal` (`synchronous = NORMAL`): synced at checkpoints only; the last commits before a power
 *   cut may be lost, never corrupted. For what the node relearns (the network's address book).
 */
export type Durability = "full" | "normal";

export type OpenDatabaseOptions = {
  /** How long a writer waits for another connection's lock before failing. */
  busyTimeoutMs?: number;
  now?: () => number;
  /** `full` unless the data can be relearned: see {@link Durability}. */
  durability?: Durability;
};

export function openDatabase(
  path: string,
  migrations: readonly Migration[],
  options: OpenDatabaseOptions = {},
): DatabaseSync {
  checkMigrationList(path, migrations);
  const db = new DatabaseSync(path);
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5_000)}`);
    const mode = db.prepare("PRAGMA journal_mode = WAL").get() as
      | { journal_mode: string }
      | undefined;
    if (mode?.journal_mode !== "wal") {
      throw new MigrationError(path, `cannot switch to WAL mode (got ${mode?.journal_mode})`);
    }
    db.exec(`PRAGMA synchronous = ${options.durability === "normal" ? "NORMAL" : "FULL"}`);
    db.exec("PRAGMA foreign_keys = ON");
    migrate(db, path, migrations, options.now ?? Date.now);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

function checkMigrationList(path: string, migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new MigrationError(
        path,
        `migration list out of order: position ${index + 1} holds version ${migration.version}`,
      );
    }
  });
}

function migrate(
  db: DatabaseSync,
  path: string,
  migrations: readonly Migration[],
  now: () => number,
): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const current = schemaVersion(db);
  if (current > migrations.length) {
    throw new MigrationError(
      path,
      `schema version ${current} is newer than this node knows (${migrations.length}); upgrade the node`,
    );
  }
  const record = db.prepare(
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
  );
  for (const migration of migrations.slice(current)) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(migration.sql);
      record.run(migration.version, migration.name, now());
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw new MigrationError(
        path,
        `migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
      );
    }
  }
}

/** The highest migration applied to `db`, 0 for a new database. */
export function schemaVersion(db: DatabaseSync): number {
  const row = db.prepare("SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations")
    .get() as { version: number };
  return row.version;
}

/** Runs `work` in one transaction: all of it lands, or none of it. */
export function transaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = work();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  }
}
