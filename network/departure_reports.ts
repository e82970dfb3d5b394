/**
 * Peers' unsigned reports that a node has left. A report is not believed: a
 * node drops another only on that node's own signed goodbye or when its own
 * dial of it fails. A report is a reason to make that dial (a "check"), and
 * is passed on so that nodes further away check too: that is how a crashed
 * node, which signs nothing, is forgotten network-wide.
 *
 * Each node passes a report on once per incarnation reported, for as long as it
 * remembers the report, and at most once per quiet period whatever the
 * incarnation claimed; it starts checks within a token budget. So a flood of
 * made-up reports costs each node a bounded number of messages and dials and
 * costs the nodes named nothing, and a true report crosses each link about
 * once: a node that does not know the reported node (most of them, in a large
 * network) records no departure, and passing the report on again each time a
 * late copy came by (a new link's list of departures carries them for rounds)
 * started a fresh flood each time.
 *
 * Pure: time comes in as `now`.
 */
import { TokenBucket } from "./rate_limit.ts";
import type { Departure } from "./wire.ts";

export type DepartureReportsOptions = {
  /** A report about a node is passed on (and checked) at most once in this long. */
  quietMs: number;
  /**
   * A reported node is remembered this long (at least `quietMs`), so that a node that learns of
   * it from gossip only after the report went by checks it too: otherwise the entries of a node
   * that vanished live on in the books of those who heard of it late, and spread from there.
   */
  rememberMs?: number;
  /** Nodes remembered at once; the oldest is forgotten first. */
  maxTracked: number;
  /** Reports waiting to be passed on, at most (more are dropped: none is needed for safety). */
  maxQueued: number;
  checksPerS: number;
  checkBurst: number;
};

export type QueuedReport = { departure: Departure; from: string; at: number };

export class DepartureReports {
  #options: DepartureReportsOptions;
  /**
   * id -> the incarnation last reported gone, when that report was passed on, and whether this
   * node has dialled the reported node since (one check a report: a live node reported gone is
   * not dialled again at every copy of the report).
   */
  #reported = new Map<string, { inc: number; at: number; checked: boolean }>();
  #queue: QueuedReport[] = [];
  #checks: TokenBucket;

  constructor(options: DepartureReportsOptions, now: number) {
    this.#options = options;
    this.#checks = new TokenBucket(
      { ratePerS: options.checksPerS, burst: options.checkBurst },
      now,
    );
  }

  get tracked(): number {
    return this.#reported.size;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /**
   * A report from neighbour `from`; true when it is news (then it is queued to be passed on, and
   * the caller may check the node), false when this incarnation's report went by already, or one
   * about that node came within the quiet period.
   */
  hear(departure: Departure, from: string, now: number): boolean {
    const last = this.#reported.get(departure.id);
    if (last !== undefined) {
      const since = now - last.at;
      if (since < this.#options.quietMs) return false;
      if (departure.inc <= last.inc && since < this.#rememberMs) return false;
      this.#reported.delete(departure.id);
    }
    while (this.#reported.size >= this.#options.maxTracked) {
      this.#reported.delete(this.#reported.keys().next().value!);
    }
    this.#reported.set(departure.id, { inc: departure.inc, at: now, checked: false });
    if (this.#queue.length < this.#options.maxQueued) {
      const { id, inc, age } = departure;
      this.#queue.push({ departure: { id, inc, age }, from, at: now });
    }
    return true;
  }

  /** Whether incarnation `inc` of node `id` was reported gone lately (a reason to check it). */
  reportedGone(id: string, inc: number, now: number): boolean {
    const report = this.#reported.get(id);
    return report !== undefined && report.inc >= inc && now - report.at < this.#rememberMs;
  }

  get #rememberMs(): number {
    return Math.max(this.#options.quietMs, this.#options.rememberMs ?? 0);
  }

  /**
   * Whether a report of this departure (this incarnation or a later one) was queued to be
   * passed on after `since`, and is still remembered: every neighbour linked since then has it,
   * or had it from the one who told us.
   */
  passedOnTo(departure: Departure, since: number, now: number): boolean {
    const report = this.#reported.get(departure.id);
    return report !== undefined && report.at >= since && report.inc >= departure.inc &&
      now - report.at < this.#rememberMs;
  }

  /**
   * Whether to dial reported node `id` now to see for ourselves: once a report, within the
   * budget. `"spent"` (the node is kept, unchecked) leaves the check to a later copy of the
   * report, or to a peer that lists the node to us after it was found gone elsewhere.
   */
  check(id: string, now: number): "check" | "checked" | "spent" {
    const report = this.#reported.get(id);
    if (report?.checked) return "checked";
    if (!this.#checks.take(1, now)) return "spent";
    if (report) report.checked = true;
    return "check";
  }

  /** The reports to pass on (ages brought up to `now`), emptying the queue. */
  drain(now: number): QueuedReport[] {
    const queue = this.#queue;
    this.#queue = [];
    return queue.map((report) => ({
      ...report,
      departure: { ...report.departure, age: report.departure.age + (now - report.at) },
    }));
  }

  /** Forgets reports past their memory (called each round, so the map stays small). */
  expire(now: number): void {
    for (const [id, report] of this.#reported) {
      if (now - report.at >= this.#rememberMs) this.#reported.delete(id);
    }
  }
}
