/**
 * The append-only record of every operation: who did what to which target,
 * with what result, when. Rows are never updated or deleted by the node.
 */
import type { DatabaseSync } from "../mod/mod.ts";

export type EventResult = "ok" | "error";

export type NewEvent = {
  /** Who asked: a wallet address, a node id, or `node` for the node's own doing. */
  actor: string;
  /** Dotted verb, e.g. `node.start`, `vm.create`. */
  action: string;
  target?: string;
  result: EventResult;
  detail?: Record<string, unknown>;
};

export type LoggedEvent = Required<Omit<NewEvent, "target">> & {
  id: number;
  at: number;
  target: string | null;
};

export type EventQuery = { action?: string; target?: string; beforeId?: number; limit: number };

type EventRow = {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  result: EventResult;
  detail: string;
};

export class EventLog {
  #insert;

  constructor(private readonly db: DatabaseSync, private readonly now: () => number) {
    this.#insert = db.prepare(
      "INSERT INTO events (at, actor, action, target, result, detail) VALUES (?, ?, ?, ?, ?, ?)",
    );
  }

  record(event: NewEvent): number {
    const info = this.#insert.run(
      this.now(),
      event.actor,
      event.action,
      event.target ?? null,
      event.result,
      JSON.stringify(event.detail ?? {}),
    );
    return Number(info.lastInsertRowid);
  }

  /** Newest first; page with `beforeId` set to the last id of the previous page. */
  list(query: EventQuery): LoggedEvent[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (query.action !== undefined) where.push("action = ?"), args.push(query.action);
    if (query.target !== undefined) where.push("target = ?"), args.push(query.target);
    if (query.beforeId !== undefined) where.push("id < ?"), args.push(query.beforeId);
    const sql = `SELECT id, at, actor, action, target, result, detail FROM events
      ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, query.limit) as EventRow[];
    return rows.map((row) => ({
      ...row,
      detail: JSON.parse(row.detail) as Record<string, unknown>,
    }));
  }
}
