import type { Migration } from "../mod/mod.ts";

/** The network worker's schema, in order; append, never edit a released entry. */
export const NETWORK_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "address book",
    sql: `CREATE TABLE peers (
      node_id TEXT PRIMARY KEY,
      addresses TEXT NOT NULL DEFAULT '[]',
      role TEXT,
      source TEXT NOT NULL,
      first_seen INTEGER NOT NULL,
      last_seen INTEGER NOT NULL,
      last_attempt INTEGER,
      failures INTEGER NOT NULL DEFAULT 0
    );`,
  },
  {
    version: 2,
    name: "address book: incarnation and table",
    sql: `ALTER TABLE peers ADD COLUMN incarnation INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE peers ADD COLUMN tried INTEGER NOT NULL DEFAULT 0;`,
  },
  {
    version: 3,
    name: "seed pins",
    // A bare seed address (host:port) is trusted as the node met there first, for good.
    sql: `CREATE TABLE seed_pins (
      address TEXT PRIMARY KEY,
      node_id TEXT NOT NULL,
      pinned_at INTEGER NOT NULL
    );`,
  },
];
