/**
 * The leases table of `node.db`: what the lease loop knows about each
 * renter's instance, so that a restart resumes where it left off.
 */
import type { DatabaseSync, InstanceKind } from "../../mod/mod.ts";
import type { LeaseRecord } from "./state.ts";

export type StoredLease = {
  instanceId: string;
  kind: InstanceKind;
  renter: string;
  machineId: string;
  record: LeaseRecord;
  checkedAt: number | null;
};

type LeaseRow = {
  instance_id: string;
  instance_kind: InstanceKind;
  renter: string;
  machine_id: string;
  state: LeaseRecord["state"];
  rental_id: string | null;
  ends_at: number | null;
  expired_at: number | null;
  deleted_at: number | null;
  checked_at: number | null;
};

export class LeaseStore {
  constructor(private readonly db: DatabaseSync) {}

  /** Leases not yet deleted, oldest first. */
  open(): StoredLease[] {
    const rows = this.db.prepare(
      `SELECT * FROM leases WHERE state != 'deleted' ORDER BY tracked_at, instance_id`,
    ).all() as LeaseRow[];
    return rows.map(fromRow);
  }

  get(instanceId: string): StoredLease | undefined {
    const row = this.db.prepare("SELECT * FROM leases WHERE instance_id = ?").get(instanceId) as
      | LeaseRow
      | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** Starts following a renter's instance; false when it is already followed. */
  track(lease: Omit<StoredLease, "record" | "checkedAt">, now: number): boolean {
    const info = this.db.prepare(
      `INSERT OR IGNORE INTO leases (instance_id, instance_kind, renter, machine_id, state,
        tracked_at, updated_at) VALUES (?, ?, ?, ?, 'active', ?, ?)`,
    ).run(lease.instanceId, lease.kind, lease.renter, lease.machineId, now, now);
    return Number(info.changes) === 1;
  }

  save(instanceId: string, record: LeaseRecord, checkedAt: number): void {
    this.db.prepare(
      `UPDATE leases SET state = ?, rental_id = ?, ends_at = ?, expired_at = ?, deleted_at = ?,
        checked_at = ?, updated_at = ? WHERE instance_id = ?`,
    ).run(
      record.state,
      record.rentalId,
      record.state === "active" ? record.endsAt : null,
      record.state === "expired" ? record.expiredAt : null,
      record.state === "deleted" ? record.deletedAt : null,
      checkedAt,
      checkedAt,
      instanceId,
    );
  }
}

function fromRow(row: LeaseRow): StoredLease {
  const record: LeaseRecord = row.state === "active"
    ? { state: "active", endsAt: row.ends_at, rentalId: row.rental_id }
    : row.state === "expired"
    ? { state: "expired", expiredAt: row.expired_at!, rentalId: row.rental_id }
    : { state: "deleted", deletedAt: row.deleted_at!, rentalId: row.rental_id };
  return {
    instanceId: row.instance_id,
    kind: row.instance_kind,
    renter: row.renter,
    machineId: row.machine_id,
    record,
    checkedAt: row.checked_at,
  };
}
