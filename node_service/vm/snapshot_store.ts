/**
 * What the node records of each snapshot of a VM's disk (table
 * `vm_snapshots`, migration 5): the snapshot itself lives inside the VM's
 * qcow2 overlay, the row says who took it, when, and why.
 */
import type { DatabaseSync, VmSnapshot } from "../../mod/mod.ts";

const COLUMNS = "vm_id, name, description, disk_bytes, created_at, created_by";

export class VmSnapshotStore {
  constructor(private readonly db: DatabaseSync) {}

  insert(snapshot: VmSnapshot): VmSnapshot {
    this.db.prepare(`INSERT INTO vm_snapshots (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`).run(
      snapshot.vm_id,
      snapshot.name,
      snapshot.description,
      snapshot.disk_bytes,
      snapshot.created_at,
      snapshot.created_by,
    );
    return snapshot;
  }

  get(vmId: string, name: string): VmSnapshot | undefined {
    const row = this.db.prepare(
      `SELECT ${COLUMNS} FROM vm_snapshots WHERE vm_id = ? AND name = ?`,
    ).get(vmId, name) as VmSnapshot | undefined;
    return row ? { ...row } : undefined;
  }

  /** Oldest first. */
  list(vmId: string): VmSnapshot[] {
    return this.db.prepare(
      `SELECT ${COLUMNS} FROM vm_snapshots WHERE vm_id = ? ORDER BY created_at, name`,
    ).all(vmId).map((row) => ({ ...row }) as VmSnapshot);
  }

  count(vmId: string): number {
    const row = this.db.prepare("SELECT count(*) AS n FROM vm_snapshots WHERE vm_id = ?")
      .get(vmId) as { n: number };
    return row.n;
  }

  delete(vmId: string, name: string): void {
    this.db.prepare("DELETE FROM vm_snapshots WHERE vm_id = ? AND name = ?").run(vmId, name);
  }

  /** Forgets every snapshot of a VM whose disk is gone; returns how many there were. */
  deleteAll(vmId: string): number {
    return Number(
      this.db.prepare("DELETE FROM vm_snapshots WHERE vm_id = ?").run(vmId).changes,
    );
  }
}
