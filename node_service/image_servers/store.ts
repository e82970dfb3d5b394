/**
 * The image transfers' records in the node's SQLite database (table
 * `image_transfers`), so that a restart loses none: the running ones are
 * saved as they start, change phase and end (their byte count now and then),
 * and at the next start whatever was still `running` becomes `interrupted`.
 */
import type { DatabaseSync, ImageTransfer } from "../../mod/mod.ts";

/** What a transfer under way at a restart says afterwards. */
export const INTERRUPTED_ERROR = "the node service stopped during the transfer";

type Row = Omit<ImageTransfer, "kind" | "state" | "phase"> & {
  kind: string;
  state: string;
  phase: string;
};

const COLUMNS = [
  "transfer_id",
  "kind",
  "server",
  "remote_name",
  "local",
  "owner",
  "state",
  "phase",
  "done_bytes",
  "total_bytes",
  "resumed",
  "sha256",
  "error",
  "started_at",
  "updated_at",
] as const satisfies readonly (keyof ImageTransfer)[];

export class TransferStore {
  constructor(private readonly db: DatabaseSync) {}

  /** Writes the record whole (a new one, or the new state of one). */
  save(record: ImageTransfer): void {
    this.db.prepare(
      `INSERT OR REPLACE INTO image_transfers (${COLUMNS.join(", ")})
       VALUES (${COLUMNS.map(() => "?").join(", ")})`,
    ).run(...COLUMNS.map((column) => record[column]));
  }

  get(id: string): ImageTransfer | undefined {
    const row = this.db.prepare(
      `SELECT ${COLUMNS.join(", ")} FROM image_transfers WHERE transfer_id = ?`,
    ).get(id) as Row | undefined;
    return row && fromRow(row);
  }

  /** Newest first; only `owner`'s when given. */
  list(owner?: string): ImageTransfer[] {
    const rows = (owner === undefined
      ? this.db.prepare(
        `SELECT ${COLUMNS.join(", ")} FROM image_transfers ORDER BY started_at DESC`,
      ).all()
      : this.db.prepare(
        `SELECT ${COLUMNS.join(", ")} FROM image_transfers WHERE owner = ?
         ORDER BY started_at DESC`,
      ).all(owner)) as Row[];
    return rows.map(fromRow);
  }

  /** At start: the transfers a stop cut off. Returns their ids. */
  markInterrupted(at: number): string[] {
    const rows = this.db.prepare(
      `UPDATE image_transfers
       SET state = 'interrupted', phase = 'finished', error = ?, updated_at = ?
       WHERE state = 'running' RETURNING transfer_id`,
    ).all(INTERRUPTED_ERROR, at) as { transfer_id: string }[];
    return rows.map((row) => row.transfer_id);
  }

  /** Keeps the newest `keep` finished records; a running one always stays. */
  forgetOld(keep: number): void {
    this.db.prepare(
      `DELETE FROM image_transfers WHERE state != 'running' AND transfer_id NOT IN (
         SELECT transfer_id FROM image_transfers WHERE state != 'running'
         ORDER BY started_at DESC LIMIT ?)`,
    ).run(keep);
  }
}

function fromRow(row: Row): ImageTransfer {
  return { ...row } as ImageTransfer;
}
