/**
 * Delegated sessions on this machine (see mod/schemas/session.ts): made by
 * the renter, resolved on every delegated request, listed and revoked by the
 * renter. Only the SHA-256 of each id is stored, so reading the database does
 * not let anyone act; the id is shown once, when made.
 */
import { createHash } from "node:crypto";
import { base58 } from "@scure/base";
import {
  type DatabaseSync,
  type Handlers,
  MAX_SESSIONS_PER_ACCOUNT,
  RpcError,
  type Session,
} from "../mod/mod.ts";
import type { EventLog } from "./event_log.ts";

type SessionRow = {
  prefix: string;
  account: string;
  label: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
};

const ID_CHARS = 32;
const PREFIX_CHARS = "ses_".length + 6;

const hashOf = (sessionId: string) => createHash("sha256").update(sessionId).digest("hex");

/** A fresh id: base58 of 24 random bytes, trimmed to a fixed length. */
function newSessionId(): string {
  let text = "";
  while (text.length < ID_CHARS) text += base58.encode(crypto.getRandomValues(new Uint8Array(24)));
  return `ses_${text.slice(0, ID_CHARS)}`;
}

export class SessionStore {
  constructor(private readonly db: DatabaseSync, private readonly now: () => number) {}

  create(account: string, ttlS: number, label: string): Session & { session_id: string } {
    const at = this.now();
    const live = this.db.prepare(
      "SELECT COUNT(*) AS n FROM sessions WHERE account = ? AND revoked_at IS NULL AND expires_at > ?",
    ).get(account, at) as { n: number };
    if (live.n >= MAX_SESSIONS_PER_ACCOUNT) {
      throw new RpcError(
        "conflict",
        `${account} already holds ${live.n} live sessions on this machine (at most ${MAX_SESSIONS_PER_ACCOUNT}); revoke one first`,
      );
    }
    for (;;) {
      const sessionId = newSessionId();
      const prefix = sessionId.slice(0, PREFIX_CHARS);
      // The prefix names the session to its renter: it must not be ambiguous among theirs.
      if (
        this.db.prepare("SELECT 1 FROM sessions WHERE account = ? AND prefix = ?").get(
          account,
          prefix,
        )
      ) {
        continue;
      }
      const row: SessionRow = {
        prefix,
        account,
        label,
        created_at: at,
        expires_at: at + ttlS * 1000,
        revoked_at: null,
      };
      this.db.prepare(
        `INSERT INTO sessions (id_hash, prefix, account, label, created_at, expires_at, revoked_at)
         VALUES (?, ?, ?, ?, ?, ?, NULL)`,
      ).run(hashOf(sessionId), prefix, account, label, row.created_at, row.expires_at);
      return { ...row, session_id: sessionId };
    }
  }

  /** The live session `sessionId` names; `not_found` for an unknown, expired or revoked one alike. */
  resolve(sessionId: string): { account: string; prefix: string; expires_at: number } {
    const row = this.db.prepare(
      "SELECT prefix, account, expires_at, revoked_at FROM sessions WHERE id_hash = ?",
    ).get(hashOf(sessionId)) as SessionRow | undefined;
    // One answer for every refusal: a guesser learns nothing about which ids existed.
    if (!row || row.revoked_at !== null || row.expires_at <= this.now()) {
      throw new RpcError("not_found", "no live session with this id on this machine");
    }
    return { account: row.account, prefix: row.prefix, expires_at: row.expires_at };
  }

  list(account: string): Session[] {
    return this.db.prepare(
      `SELECT prefix, account, label, created_at, expires_at, revoked_at FROM sessions
       WHERE account = ? ORDER BY created_at DESC`,
    ).all(account) as SessionRow[];
  }

  revoke(account: string, prefix: string): Session {
    const row = this.db.prepare(
      `SELECT prefix, account, label, created_at, expires_at, revoked_at FROM sessions
       WHERE account = ? AND prefix = ?`,
    ).get(account, prefix) as SessionRow | undefined;
    if (!row) throw new RpcError("not_found", `no session ${prefix} of ${account} on this machine`);
    if (row.revoked_at !== null) return row;
    const at = this.now();
    this.db.prepare("UPDATE sessions SET revoked_at = ? WHERE account = ? AND prefix = ?")
      .run(at, account, prefix);
    return { ...row, revoked_at: at };
  }
}

export function sessionHandlers(
  sessions: SessionStore,
  events: EventLog,
): Pick<
  Handlers<"node_service">,
  "session.create" | "session.resolve" | "session.list" | "session.revoke"
> {
  return {
    "session.create": (params) => {
      const made = sessions.create(params.account, params.ttl_s, params.label ?? "");
      events.record({
        actor: params.account,
        action: "session.create",
        target: made.prefix,
        result: "ok",
        detail: { expires_at: made.expires_at, label: made.label },
      });
      return made;
    },
    "session.resolve": (params) => sessions.resolve(params.session_id),
    "session.list": (params) => ({ sessions: sessions.list(params.account) }),
    "session.revoke": (params) => {
      const revoked = sessions.revoke(params.account, params.prefix);
      events.record({
        actor: params.account,
        action: "session.revoke",
        target: revoked.prefix,
        result: "ok",
      });
      return revoked;
    },
  };
}
