/**
 * Renters' LANs on this machine, in the node's SQLite database (table `lans`, migration 12). The
 * unique indexes are the rules "one name per renter" and "one VNI per host", whatever the code does.
 */
import type { DatabaseSync } from "../../mod/mod.ts";
import type { LanRecord } from "./plan.ts";

type Row = {
  id: string;
  account: string;
  name: string;
  cidr: string;
  serves_dhcp: number;
  vni: number;
  peers: string;
  created_at: number;
};

const COLUMNS = "id, account, name, cidr, serves_dhcp, vni, peers, created_at";

function fromRow(row: Row): LanRecord {
  return {
    id: row.id,
    account: row.account,
    name: row.name,
    cidr: row.cidr,
    servesDhcp: row.serves_dhcp === 1,
    vni: row.vni,
    peers: JSON.parse(row.peers) as string[],
    createdAt: row.created_at,
  };
}

export class LanStore {
  constructor(private readonly db: DatabaseSync) {}

  /** Every LAN, oldest first. */
  all(): LanRecord[] {
    return (this.db.prepare(`SELECT ${COLUMNS} FROM lans ORDER BY created_at, id`).all() as Row[])
      .map(fromRow);
  }

  ofAccount(account: string): LanRecord[] {
    return (this.db.prepare(
      `SELECT ${COLUMNS} FROM lans WHERE account = ? ORDER BY created_at, id`,
    ).all(account) as Row[]).map(fromRow);
  }

  get(account: string, name: string): LanRecord | undefined {
    const row = this.db.prepare(`SELECT ${COLUMNS} FROM lans WHERE account = ? AND name = ?`)
      .get(account, name) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  vniInUse(vni: number): boolean {
    return this.db.prepare("SELECT 1 FROM lans WHERE vni = ?").get(vni) !== undefined;
  }

  insert(record: LanRecord): void {
    this.db.prepare(`INSERT INTO lans (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(
      record.id,
      record.account,
      record.name,
      record.cidr,
      record.servesDhcp ? 1 : 0,
      record.vni,
      JSON.stringify(record.peers),
      record.createdAt,
    );
  }

  setPeers(id: string, peers: readonly string[]): void {
    this.db.prepare("UPDATE lans SET peers = ? WHERE id = ?").run(JSON.stringify(peers), id);
  }

  delete(id: string): void {
    this.db.prepare("DELETE FROM lans WHERE id = ?").run(id);
  }
}
