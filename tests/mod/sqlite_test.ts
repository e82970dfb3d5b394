import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  DataDirLockedError,
  lockDataDir,
  MigrationError,
  openDatabase,
  schemaVersion,
  transaction,
} from "../../mod/mod.ts";

const V1 = {
  version: 1,
  name: "items",
  sql: "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
};
const V2 = {
  version: 2,
  name: "item price",
  sql: "ALTER TABLE items ADD COLUMN price INTEGER NOT NULL DEFAULT 0",
};

async function withDir(run: (dir: string) => Promise<void> | void) {
  const dir = await Deno.makeTempDir();
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a database opens in WAL mode and migrations apply once, in order, across reopenings", () =>
  withDir((dir) => {
    const path = `${dir}/a.db`;
    let db = openDatabase(path, [V1], { now: () => 42 });
    assert.equal(
      (db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode,
      "wal",
    );
    assert.equal(schemaVersion(db), 1);
    db.prepare("INSERT INTO items (name) VALUES (?)").run("gpu");
    db.close();

    db = openDatabase(path, [V1, V2]);
    assert.equal(schemaVersion(db), 2);
    assert.deepEqual(db.prepare("SELECT name, price FROM items").all().map((row) => ({ ...row })), [
      { name: "gpu", price: 0 },
    ]);
    const applied = db.prepare(
      "SELECT version, name, applied_at FROM schema_migrations ORDER BY version",
    ).all();
    assert.deepEqual(applied.map((row) => ({ ...row })), [
      { version: 1, name: "items", applied_at: 42 },
      {
        version: 2,
        name: "item price",
        applied_at: (applied[1] as { applied_at: number }).applied_at,
      },
    ]);
    db.close();
  }));

Deno.test("a database from a newer node is refused rather than misread", () =>
  withDir((dir) => {
    const path = `${dir}/a.db`;
    openDatabase(path, [V1, V2]).close();
    assert.throws(() => openDatabase(path, [V1]), (error: Error) =>
      error instanceof MigrationError && /newer than this node knows/.test(error.message));
  }));

Deno.test("a failing migration rolls back entirely and names itself", () =>
  withDir((dir) => {
    const path = `${dir}/a.db`;
    const broken = {
      version: 2,
      name: "broken",
      sql: "CREATE TABLE extra (x); INSERT INTO nowhere VALUES (1)",
    };
    assert.throws(() => openDatabase(path, [V1, broken]), /migration 2 \(broken\) failed/);
    const raw = new DatabaseSync(path);
    const tables = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all().map((row) => row.name);
    raw.close();
    assert.deepEqual(tables, ["items", "schema_migrations"]);
  }));

Deno.test("a migration list with a gap is refused before anything is opened", () =>
  withDir((dir) => {
    assert.throws(() => openDatabase(`${dir}/a.db`, [V1, { ...V2, version: 3 }]), /out of order/);
  }));

Deno.test("transaction() commits on success and rolls back on a throw", () =>
  withDir((dir) => {
    const db = openDatabase(`${dir}/a.db`, [V1]);
    transaction(db, () => db.prepare("INSERT INTO items (name) VALUES ('kept')").run());
    assert.throws(() =>
      transaction(db, () => {
        db.prepare("INSERT INTO items (name) VALUES ('lost')").run();
        throw new Error("abort");
      }), /abort/);
    assert.deepEqual(db.prepare("SELECT name FROM items").all().map((row) => row.name), ["kept"]);
    db.close();
  }));

Deno.test("the data-directory lock admits one holder at a time and is free again after release", () =>
  withDir((dir) => {
    const first = lockDataDir(`${dir}/node.lock`);
    assert.throws(() => lockDataDir(`${dir}/node.lock`), DataDirLockedError);
    first.release();
    const second = lockDataDir(`${dir}/node.lock`);
    second.release();
  }));

Deno.test("commits are synced one by one (FULL) unless the data can be relearned (NORMAL)", () =>
  withDir((dir) => {
    const synchronous = (db: DatabaseSync) =>
      (db.prepare("PRAGMA synchronous").get() as { synchronous: number }).synchronous;
    const full = openDatabase(`${dir}/ledger.db`, [V1]);
    const normal = openDatabase(`${dir}/network.db`, [V1], { durability: "normal" });
    try {
      assert.equal(synchronous(full), 2, "FULL by default");
      assert.equal(synchronous(normal), 1, "NORMAL where asked");
    } finally {
      full.close();
      normal.close();
    }
  }));
