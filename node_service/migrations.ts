import type { Migration } from "../mod/mod.ts";

/** The node service's schema, in order; append, never edit a released entry. */
export const SERVICE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "event log",
    sql: `CREATE TABLE events (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      at INTEGER NOT NULL,
      actor TEXT NOT NULL,
      action TEXT NOT NULL,
      target TEXT,
      result TEXT NOT NULL CHECK (result IN ('ok', 'error')),
      detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_by_action ON events (action, id);
    CREATE INDEX events_by_target ON events (target, id);`,
  },
];
