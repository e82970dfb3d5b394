/**
 * Each renter's monitoring servers on this machine, in the node's SQLite
 * database (table `monitor_servers`). A renter's list is replaced whole, in
 * one transaction: a reader sees the old list or the new one, never a mix.
 */
import { type DatabaseSync, transaction } from "../../mod/mod.ts";
import type { MonitorServer } from "./address.ts";

type Row = { account: string; host: string; port: number };

export class MonitorStore {
  constructor(private readonly db: DatabaseSync, private readonly now: () => number) {}

  /** The account's servers in the order it named them; empty when none. */
  list(account: string): MonitorServer[] {
    const rows = this.db.prepare(
      "SELECT account, host, port FROM monitor_servers WHERE account = ? ORDER BY position",
    ).all(account) as Row[];
    return rows.map(({ host, port }) => ({ host, port }));
  }

  /** Every account that named servers, with them. */
  all(): Map<string, MonitorServer[]> {
    const rows = this.db.prepare(
      "SELECT account, host, port FROM monitor_servers ORDER BY account, position",
    ).all() as Row[];
    const byAccount = new Map<string, MonitorServer[]>();
    for (const { account, host, port } of rows) {
      byAccount.set(account, [...(byAccount.get(account) ?? []), { host, port }]);
    }
    return byAccount;
  }

  /** Replaces the account's servers (none: it has no more). */
  set(account: string, servers: readonly MonitorServer[]): void {
    const at = this.now();
    transaction(this.db, () => {
      this.db.prepare("DELETE FROM monitor_servers WHERE account = ?").run(account);
      const insert = this.db.prepare(
        "INSERT INTO monitor_servers (account, position, host, port, set_at) VALUES (?, ?, ?, ?, ?)",
      );
      servers.forEach((server, position) =>
        insert.run(account, position, server.host, server.port, at)
      );
    });
  }
}
