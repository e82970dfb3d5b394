/**
 * A link outside the neighbour overlay: a request link (a client-end to the
 * GPU node it serves renters of, kept while in use) or a query link (one
 * lookup question, closed after the answer). No hello: the transport has
 * authenticated the remote id (libp2p: the Noise handshake), so the first
 * message is the question itself. Each has its own message budget (over it
 * messages are dropped, far over it the link is cut) and an idle time-out.
 */
import type { Clock, TimerHandle } from "../../mod/mod.ts";
import type { Counters, MessageCounts } from "../counters.ts";
import { TokenBucket } from "../rate_limit.ts";
import type { Link } from "../transport.ts";
import type { WireMessage } from "../wire.ts";

/** As in peer_node.ts: a peer at this many times its budget is flooding. */
const FLOOD_FACTOR = 4;

export type SideLinkDeps = {
  clock: Clock;
  counters: Counters;
  messageCounts: MessageCounts;
  rateLimitPerS: number;
  idleMs: number;
  onMessage(link: SideLink, message: WireMessage): void;
  onClosed(link: SideLink): void;
};

export class SideLink {
  readonly remoteId: string;
  readonly remoteHost: string;
  readonly outbound: boolean;
  #link: Link;
  #deps: SideLinkDeps;
  #budget: TokenBucket;
  #ceiling: TokenBucket;
  #usedAt: number;
  #idleTimer: TimerHandle | undefined;
  #closed = false;

  constructor(link: Link, deps: SideLinkDeps) {
    this.#link = link;
    this.#deps = deps;
    this.remoteId = link.remoteId;
    this.remoteHost = link.remoteHost;
    this.outbound = link.direction === "outbound";
    const now = deps.clock.now();
    const rate = deps.rateLimitPerS;
    this.#budget = new TokenBucket({ ratePerS: rate, burst: rate * 2 }, now);
    this.#ceiling = new TokenBucket(
      { ratePerS: rate * FLOOD_FACTOR, burst: rate * FLOOD_FACTOR },
      now,
    );
    this.#usedAt = now;
    this.#armIdle(deps.idleMs);
    link.attach({
      message: (message) => this.receive(message, true),
      malformed: () => {
        deps.counters.malformed_frames++;
        this.close();
      },
      closed: () => this.#finish(),
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  get usedAt(): number {
    return this.#usedAt;
  }

  /** A message from the peer; `count` false for one already counted (the first, handed over). */
  receive(message: WireMessage, count: boolean): void {
    if (this.#closed) return;
    const { counters, messageCounts, clock } = this.#deps;
    const now = clock.now();
    if (count) {
      counters.messages_received++;
      messageCounts.received[message.t]++;
      if (!this.#ceiling.take(1, now)) {
        counters.rate_limited++;
        return this.close();
      }
      if (!this.#budget.take(1, now)) {
        counters.messages_shed++;
        messageCounts.shed[message.t]++;
        return;
      }
    }
    this.#usedAt = now;
    this.#deps.onMessage(this, message);
  }

  send(message: WireMessage): boolean {
    if (this.#closed || !this.#link.send(message)) return false;
    this.#usedAt = this.#deps.clock.now();
    this.#deps.counters.messages_sent++;
    this.#deps.messageCounts.sent[message.t]++;
    return true;
  }

  close(): void {
    if (this.#closed) return;
    this.#link.close();
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#idleTimer) this.#deps.clock.clearTimeout(this.#idleTimer);
    this.#deps.onClosed(this);
  }

  /** One timer per link, re-armed for the rest of the idle time when it fires early. */
  #armIdle(delayMs: number): void {
    this.#idleTimer = this.#deps.clock.setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#closed) return;
      const idleFor = this.#deps.clock.now() - this.#usedAt;
      if (idleFor >= this.#deps.idleMs) return this.close();
      this.#armIdle(this.#deps.idleMs - idleFor);
    }, delayMs);
  }
}
