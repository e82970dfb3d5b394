/**
 * The address book on disk (network.db), so a restarted node rejoins through
 * peers it knew instead of only the seeds. Written as a whole every few
 * minutes and at shutdown; at most a few thousand rows.
 */
import { type DatabaseSync, type Role, ROLES, transaction } from "../mod/mod.ts";
import type { BookEntry } from "./address_book.ts";

type Row = {
  node_id: string;
  addresses: string;
  role: string | null;
  last_seen: number;
  incarnation: number;
  tried: number;
};

export function saveAddressBook(db: DatabaseSync, entries: Iterable<BookEntry>, now: number): void {
  transaction(db, () => {
    db.exec("DELETE FROM peers");
    const insert = db.prepare(
      `INSERT INTO peers (node_id, addresses, role, source, first_seen, last_seen, failures, incarnation, tried)
       VALUES (?, ?, ?, 'exchange', ?, ?, ?, ?, ?)`,
    );
    for (const entry of entries) {
      insert.run(
        entry.id,
        JSON.stringify([entry.address]),
        entry.role,
        now,
        entry.lastSeen,
        entry.failures,
        entry.incarnation,
        entry.tried ? 1 : 0,
      );
    }
  });
}

/** The saved entries; rows that no longer parse are skipped. */
export function loadAddressBook(db: DatabaseSync): BookEntry[] {
  const rows = db.prepare(
    "SELECT node_id, addresses, role, last_seen, incarnation, tried FROM peers",
  ).all() as Row[];
  const entries: BookEntry[] = [];
  for (const row of rows) {
    let address: unknown;
    try {
      address = (JSON.parse(row.addresses) as unknown[])[0];
    } catch {
      continue;
    }
    if (typeof address !== "string" || !ROLES.includes(row.role as Role)) continue;
    entries.push({
      id: row.node_id,
      address,
      role: row.role as Role,
      incarnation: row.incarnation,
      lastSeen: row.last_seen,
      tried: row.tried === 1,
      failures: 0,
      retryAt: 0,
    });
  }
  return entries;
}
