/**
 * The append-only record of every operation: who did what to which target,
 * with what result, when. Rows are never updated or deleted by the node.
 */
import { type DatabaseSync, DEFAULT_EVENT_PAGE, type Handlers } from "../mod/mod.ts";

export type EventResult = "ok" | "error";

export type NewEvent = {
  /** Who asked: a wallet address, a node id, or `node` for the node's own doing. */
  actor: string;
  /** Dotted verb, e.g. `node.start`, `vm.create`. */
  action: string;
  target?: string;
  result: EventResult;
  detail?: Record<string, unknown>;
  /** When the operation began (the log's clock), so the metrics learn its duration; not stored. */
  startedAt?: number;
};

/** Told of every event as it is recorded, with the operation's duration where it is known. */
export type EventObserver = (event: NewEvent, durationMs: number | undefined) => void;

export type LoggedEvent = Required<Omit<NewEvent, "target" | "startedAt">> & {
  id: number;
  at: number;
  target: string | null;
};

export type EventQuery = {
  /** An exact action, or a prefix ending in `.` (`vm.` matches every VM action). */
  action?: string;
  actor?: string;
  target?: string;
  result?: EventResult;
  /** Time range in ms since the epoch: `since` inclusive, `until` exclusive. */
  since?: number;
  until?: number;
  beforeId?: number;
  limit: number;
};

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

  constructor(
    private readonly db: DatabaseSync,
    readonly now: () => number,
    private readonly observer?: EventObserver,
  ) {
    this.#insert = db.prepare(
      "INSERT INTO events (at, actor, action, target, result, detail) VALUES (?, ?, ?, ?, ?, ?)",
    );
  }

  record(event: NewEvent): number {
    const at = this.now();
    const info = this.#insert.run(
      at,
      event.actor,
      event.action,
      event.target ?? null,
      event.result,
      JSON.stringify(event.detail ?? {}),
    );
    try {
      this.observer?.(event, event.startedAt === undefined ? undefined : at - event.startedAt);
    } catch {
      // Counting an operation must never fail it.
    }
    return Number(info.lastInsertRowid);
  }

  /** Newest first; page with `beforeId` set to the last id of the previous page. */
  list(query: EventQuery): LoggedEvent[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (query.action?.endsWith(".")) {
      // A range instead of LIKE: the index on action serves it, and `_`/`%` in names mean nothing.
      where.push("action >= ? AND action < ?");
      args.push(query.action, `${query.action.slice(0, -1)}/`);
    } else if (query.action !== undefined) where.push("action = ?"), args.push(query.action);
    if (query.actor !== undefined) where.push("actor = ?"), args.push(query.actor);
    if (query.target !== undefined) where.push("target = ?"), args.push(query.target);
    if (query.result !== undefined) where.push("result = ?"), args.push(query.result);
    if (query.since !== undefined) where.push("at >= ?"), args.push(query.since);
    if (query.until !== undefined) where.push("at < ?"), args.push(query.until);
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

/** `events.list`: one page, and where the next (older) one starts. */
export function eventHandlers(events: EventLog): Pick<Handlers<"node_service">, "events.list"> {
  return {
    "events.list": (params) => {
      const limit = params.limit ?? DEFAULT_EVENT_PAGE;
      // One row more than asked says whether an older page exists.
      const rows = events.list({
        action: params.action,
        actor: params.actor,
        target: params.target,
        result: params.result,
        since: params.since,
        until: params.until,
        beforeId: params.before_id,
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      return {
        events: page,
        next_before_id: rows.length > limit ? page[page.length - 1]!.id : null,
      };
    },
  };
}
