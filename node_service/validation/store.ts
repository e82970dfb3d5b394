/**
 * Check VM records in SQLite (table `check_vms`, migration 9). A record
 * outlives its VM: deleting marks it `deleted` with the reason and keeps the
 * row. At most one record per validator, machine and round is `live` (a
 * unique index says so).
 */
import {
  type CheckDeleteReason,
  type CheckSize,
  type DatabaseSync,
  RpcError,
  type TimeSlot,
} from "../../mod/mod.ts";

/** Whether the check's VM should exist, or why it no longer does. */
export type CheckRecordState =
  | { state: "live" }
  | { state: "deleted"; reason: CheckDeleteReason; at: number; error: string | null };

export type CheckRecord = {
  id: string;
  validator: string;
  machineId: string;
  round: number;
  slot: TimeSlot;
  size: CheckSize;
  image: string;
  status: CheckRecordState;
  createdAt: number;
  updatedAt: number;
};

type CheckRow = {
  id: string;
  validator: string;
  machine_id: string;
  round: number;
  slot_starts_at: number;
  slot_ends_at: number;
  size: string;
  image: string;
  state: "live" | "deleted";
  deleted_reason: string | null;
  deleted_at: number | null;
  error: string | null;
  created_at: number;
  updated_at: number;
};

function fromRow(row: CheckRow): CheckRecord {
  return {
    id: row.id,
    validator: row.validator,
    machineId: row.machine_id,
    round: row.round,
    slot: { starts_at: row.slot_starts_at, ends_at: row.slot_ends_at },
    size: JSON.parse(row.size) as CheckSize,
    image: row.image,
    status: row.state === "live" ? { state: "live" } : {
      state: "deleted",
      reason: (row.deleted_reason ?? "vm_gone") as CheckDeleteReason,
      at: row.deleted_at ?? row.updated_at,
      error: row.error,
    },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export type NewCheck = Omit<CheckRecord, "status" | "createdAt" | "updatedAt">;

export class CheckVmStore {
  constructor(private readonly db: DatabaseSync, private readonly now: () => number) {}

  /** Records a live check; `conflict` when the validator has a live one in this round already. */
  insert(check: NewCheck): CheckRecord {
    const now = this.now();
    try {
      this.db.prepare(
        `INSERT INTO check_vms (id, validator, machine_id, round, slot_starts_at, slot_ends_at,
          size, image, state, created_at, updated_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'live', ?, ?)`,
      ).run(
        check.id,
        check.validator,
        check.machineId,
        check.round,
        check.slot.starts_at,
        check.slot.ends_at,
        JSON.stringify(check.size),
        check.image,
        now,
        now,
      );
    } catch (error) {
      if (/UNIQUE constraint failed: check_vms\.validator/.test(String(error))) {
        throw new RpcError(
          "conflict",
          `${check.validator} already has a live check VM on this machine in round ${check.round}`,
        );
      }
      throw error;
    }
    return this.get(check.id)!;
  }

  get(id: string): CheckRecord | undefined {
    const row = this.db.prepare("SELECT * FROM check_vms WHERE id = ?").get(id) as
      | CheckRow
      | undefined;
    return row && fromRow(row);
  }

  /** A validator's checks, newest first. */
  listFor(validator: string): CheckRecord[] {
    const rows = this.db.prepare(
      "SELECT * FROM check_vms WHERE validator = ? ORDER BY created_at DESC, id",
    ).all(validator) as CheckRow[];
    return rows.map(fromRow);
  }

  /** Every live check, the earliest slot end first. */
  live(): CheckRecord[] {
    const rows = this.db.prepare(
      "SELECT * FROM check_vms WHERE state = 'live' ORDER BY slot_ends_at, id",
    ).all() as CheckRow[];
    return rows.map(fromRow);
  }

  /** Marks a live check deleted; a deleted one keeps its first reason. */
  markDeleted(id: string, reason: CheckDeleteReason, error: string | null = null): CheckRecord {
    const now = this.now();
    this.db.prepare(
      `UPDATE check_vms SET state = 'deleted', deleted_reason = ?, deleted_at = ?, error = ?,
        updated_at = ? WHERE id = ? AND state = 'live'`,
    ).run(reason, now, error, now, id);
    return this.get(id)!;
  }
}
