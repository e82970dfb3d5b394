/**
 * The address book on disk (network.db), so a restarted node rejoins through
 * peers it knew instead of only the seeds. Written as a whole every few
 * minutes and at shutdown; at most a few thousand rows. Next to it, the ids
 * that bare seed addresses were pinned to (see seeds.ts), written once each,
 * when they are pinned.
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

/** address -> node id, for every seed address pinned so far. */
export function loadSeedPins(db: DatabaseSync): Map<string, string> {
  const rows = db.prepare("SELECT address, node_id FROM seed_pins").all() as Array<
    { address: string; node_id: string }
  >;
  return new Map(rows.map((row) => [row.address, row.node_id]));
}

/** Pins `address` to `nodeId`; an address pinned before keeps its first id. */
export function saveSeedPin(db: DatabaseSync, address: string, nodeId: string, now: number): void {
  db.prepare(
    "INSERT INTO seed_pins (address, node_id, pinned_at) VALUES (?, ?, ?) ON CONFLICT (address) DO NOTHING",
  ).run(address, nodeId, now);
}
