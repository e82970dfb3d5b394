/**
 * The GPU nodes this node has heard announce themselves, free of I/O: each
 * `service.summary` broadcast is offered with its origin (the node id whose
 * key signed it, checked by the network layer) and the time it arrived.
 *
 * - A summary must describe its own origin: no node speaks for another.
 * - A later `signed_at` replaces an earlier one; an older one is ignored
 *   (broadcasts may arrive out of order along different paths).
 * - An entry lives for {@link SUMMARY_LIFETIME_INTERVALS} of the announcing
 *   node's interval after it arrived; a departure the network reports drops
 *   it at once.
 * - The table is bounded: when full, expired entries go first, then the one
 *   closest to expiry.
 *
 * @example
 * ```ts
 * const table = new MarketTable();
 * table.offer(origin, body, Date.now());
 * table.list(Date.now()); // MarketNode[]
 * ```
 */
import { type MarketNode, type ServiceSummary, ServiceSummarySchema } from "../../mod/mod.ts";
import {
  MAX_MARKET_NODES,
  MAX_SUMMARY_CLOCK_SKEW_MS,
  SUMMARY_LIFETIME_INTERVALS,
} from "./constants.ts";

/** What became of an offered summary. */
export type OfferOutcome =
  | { kind: "added" }
  | { kind: "updated" }
  /** Not newer than the summary already held. */
  | { kind: "stale" }
  | { kind: "refused"; reason: string };

type Entry = { summary: ServiceSummary; receivedAt: number; expiresAt: number };

export class MarketTable {
  readonly maxEntries: number;
  #entries = new Map<string, Entry>();

  constructor(options: { maxEntries?: number } = {}) {
    this.maxEntries = options.maxEntries ?? MAX_MARKET_NODES;
  }

  /** Entries held, expired ones included until the next read prunes them. */
  get size(): number {
    return this.#entries.size;
  }

  /** Takes a summary broadcast by `origin` at `now` (or this node's own, with its own id). */
  offer(origin: string, body: unknown, now: number): OfferOutcome {
    const parsed = ServiceSummarySchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return {
        kind: "refused",
        reason: `not a service summary: ${issue?.path.join(".") || "(whole)"}: ${issue?.message}`,
      };
    }
    const summary = parsed.data;
    if (summary.node_id !== origin) {
      return { kind: "refused", reason: `node ${origin} sent a summary for ${summary.node_id}` };
    }
    if (summary.signed_at > now + MAX_SUMMARY_CLOCK_SKEW_MS) {
      return { kind: "refused", reason: "signed in the future" };
    }
    const held = this.#entries.get(origin);
    if (held && held.expiresAt > now && summary.signed_at <= held.summary.signed_at) {
      return { kind: "stale" };
    }
    const entry: Entry = {
      summary,
      receivedAt: now,
      expiresAt: now + SUMMARY_LIFETIME_INTERVALS * summary.announce_interval_s * 1_000,
    };
    if (held) {
      this.#entries.set(origin, entry);
      return { kind: "updated" };
    }
    if (this.#entries.size >= this.maxEntries) this.#makeRoom(now);
    this.#entries.set(origin, entry);
    return { kind: "added" };
  }

  /** Forgets a node (the network reports it left); true when it was held. */
  remove(nodeId: string): boolean {
    return this.#entries.delete(nodeId);
  }

  /** Every live entry, ordered by node id. */
  list(now: number): MarketNode[] {
    this.prune(now);
    return [...this.#entries.values()]
      .map(toMarketNode)
      .sort((a, b) => (a.node_id < b.node_id ? -1 : a.node_id > b.node_id ? 1 : 0));
  }

  get(nodeId: string, now: number): MarketNode | undefined {
    const entry = this.#entries.get(nodeId);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.#entries.delete(nodeId);
      return undefined;
    }
    return toMarketNode(entry);
  }

  /** Drops expired entries; returns how many went. */
  prune(now: number): number {
    let dropped = 0;
    for (const [id, entry] of this.#entries) {
      if (entry.expiresAt <= now) {
        this.#entries.delete(id);
        dropped++;
      }
    }
    return dropped;
  }

  #makeRoom(now: number): void {
    if (this.prune(now) > 0) return;
    let soonest: [string, number] | undefined;
    for (const [id, entry] of this.#entries) {
      if (!soonest || entry.expiresAt < soonest[1]) soonest = [id, entry.expiresAt];
    }
    if (soonest) this.#entries.delete(soonest[0]);
  }
}

function toMarketNode(entry: Entry): MarketNode {
  return { ...entry.summary, received_at: entry.receivedAt, expires_at: entry.expiresAt };
}
