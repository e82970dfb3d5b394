/**
 * Requests to one node by id, without flooding: Kademlia peer routing finds
 * where the target is, and the request goes straight to it.
 *
 * - A neighbour is asked on its link. Any other target is asked on a request
 *   link: dialled at the address this node has for it (its routing table, its
 *   address book) or, failing that, at the one an iterative lookup finds
 *   ({@link Lookup}: FIND_NODE by XOR distance of SHA-256 keys, alpha 3, k 20,
 *   over neighbour links and short query links). The link stays open while
 *   requests use it (idle time-out, bounded count), so the next request costs
 *   one message each way.
 * - Nothing on the way is believed: an address from an answer or the book is
 *   dialled with the id it should answer to, and the transport checks that id
 *   (libp2p: Noise), so a lie costs one failed dial, never a wrong target. The
 *   link is encrypted end to end by the transport, so requests and replies
 *   travel on it as they are, with no per-message key exchange.
 * - The routing table holds only nodes this node had an authenticated link
 *   with; answers and book entries are only candidates to dial.
 * - No request payload is ever flooded. A target nobody knows fails as
 *   `no_route`; one that does not answer at its address as `gone`; both
 *   within the request's time-out.
 */
import type { Clock, Logger, NetworkReply, NetworkRequest, TimerHandle } from "../../mod/mod.ts";
import { joinAddress } from "../address.ts";
import type { MaybePromise } from "../authenticator.ts";
import { DIAL_TIMEOUT_MS, MAX_FOUND_ENTRIES, MAX_PENDING_REQUESTS } from "../constants.ts";
import type { Counters, MessageCounts } from "../counters.ts";
import type { Neighbours } from "../neighbours.ts";
import { newNonce } from "../nonce_cache.ts";
import { RequestFailed, type RouteResult } from "./request_result.ts";
import type { Link, Transport } from "../transport.ts";
import type { WireMessage, WireMessageOf } from "../wire.ts";
import {
  CALL_CLEANUP_SLACK_MS,
  INBOUND_SIDE_IDLE_MS,
  MAX_CALLS_PER_LINK,
  MAX_CONCURRENT_LOOKUPS,
  MAX_INBOUND_SIDE_LINKS,
  MAX_PENDING_ANSWERS,
  MAX_REQUEST_LINKS,
  QUERY_TIMEOUT_MS,
  REQUEST_LINK_IDLE_MS,
} from "./constants.ts";
import { type RoutingKey, routingKey } from "./key.ts";
import { Lookup } from "./lookup.ts";
import { nearestContacts } from "./nearest.ts";
import { SideLink } from "./side_link.ts";
import { type Contact, RoutingTable } from "./table.ts";

export type RequestRouterDeps = {
  selfId: string;
  networkId: string;
  /** Where peers dial this node back (sent with each query and call). */
  listenPort: number;
  /** The address this node advertises instead, when it has one (a relay circuit: nat.ts). */
  advertisedAddress?: () => string | undefined;
  transport: Transport;
  clock: Clock;
  log: Logger;
  counters: Counters;
  messageCounts: MessageCounts;
  /** Messages a second one side link may carry (as a neighbour's budget). */
  rateLimitPerS: number;
  neighbours: Neighbours;
  /** The address book's entries: candidates to dial, never contacts. */
  book: { get(id: string): { address: string } | undefined; entries(): Iterable<Contact> };
  handleRequest: (
    origin: string,
    request: NetworkRequest,
    deadline: number,
  ) => MaybePromise<NetworkReply>;
  isDeparted: (id: string) => boolean;
  isBanned: (id: string) => boolean;
};

/** Which way a question goes: a neighbour's link, or a side link. */
type Channel = { kind: "neighbour"; id: string } | { kind: "side"; link: SideLink };

type Waiting = {
  peerId: string;
  link: SideLink | undefined;
  kind: "find" | "call";
  timer: TimerHandle | undefined;
  settle: (answer: WireMessageOf<"found"> | WireMessageOf<"answer"> | Error) => void;
};

const ROUTED_KINDS = new Set<WireMessage["t"]>(["find", "found", "call", "answer"]);

/** True for the messages this module handles (on neighbour links and side links). */
export function isRoutingMessage(
  message: WireMessage,
): message is WireMessageOf<"find" | "found" | "call" | "answer"> {
  return ROUTED_KINDS.has(message.t);
}

/** A call whose link was closed before it could be sent: nothing reached the target. */
class NotSent extends RequestFailed {
  constructor(message: string) {
    super("no_route", message);
  }
}

/** How many times a call that was never sent is tried again on a new link. */
const NOT_SENT_RETRIES = 1;

export class RequestRouter {
  readonly table: RoutingTable;
  #deps: RequestRouterDeps;
  /** Question id -> who must answer it, and how. */
  #waiting = new Map<string, Waiting>();
  /** Entries of `#waiting` per side link, kept with it (a busy client-end has hundreds waiting). */
  #waitingOnLink = new Map<SideLink, number>();
  /** Requests of this node's own waiting for their answer. */
  #requests = 0;
  #answering = 0;
  #lookups = 0;
  /** Target -> the request link to it, least recently used first. */
  #requestLinks = new Map<string, SideLink>();
  #connecting = new Map<string, Promise<Channel>>();
  #inbound = new Set<SideLink>();
  #queryLinks = new Set<SideLink>();
  #closed = false;

  constructor(deps: RequestRouterDeps) {
    this.#deps = deps;
    this.table = new RoutingTable(deps.selfId);
  }

  get pendingCount(): number {
    return this.#requests;
  }

  get requestLinkCount(): number {
    return this.#requestLinks.size;
  }

  /** Sends `request` to `target` and waits for its answer. */
  request(target: string, request: NetworkRequest, timeoutMs: number): Promise<RouteResult> {
    const { selfId, clock } = this.#deps;
    const startedAt = clock.now();
    const deadline = startedAt + timeoutMs;
    if (target === selfId) {
      return Promise.resolve(this.#deps.handleRequest(selfId, request, deadline))
        .then((reply) => ({ reply, rttMs: clock.now() - startedAt, hops: 0, route: "local" }));
    }
    if (this.#closed) return Promise.reject(new RequestFailed("no_route", "the node is stopping"));
    if (this.#deps.isDeparted(target)) {
      return Promise.reject(new RequestFailed("gone", `node ${target} has left the network`));
    }
    if (this.#requests >= MAX_PENDING_REQUESTS) {
      return Promise.reject(
        new RequestFailed("busy", `${MAX_PENDING_REQUESTS} requests are already waiting`),
      );
    }
    this.#requests++;
    return new Promise<RouteResult>((resolve, reject) => {
      let settled = false;
      const finish = (outcome: RouteResult | RequestFailed) => {
        if (settled) return;
        settled = true;
        this.#requests--;
        clock.clearTimeout(timer);
        if (outcome instanceof RequestFailed) reject(outcome);
        else resolve(outcome);
      };
      const timer = clock.setTimeout(() =>
        finish(
          new RequestFailed(
            "timeout",
            `no reply from node ${target} within ${timeoutMs} ms; it may have left the network or be unreachable`,
          ),
        ), timeoutMs);
      const attempt = (retriesLeft: number): Promise<void> =>
        this.#channelTo(target, deadline).then((channel) => {
          if (settled) return;
          const call: WireMessageOf<"call"> = {
            t: "call",
            q: newNonce(),
            ...this.#whereToReachUs(),
            wait: Math.max(0, Math.round(deadline - clock.now())),
            p: request,
          };
          this.#deps.counters.calls_sent++;
          return this.#ask(channel, target, call, deadline - clock.now()).then(
            (answer) => {
              if (answer.t !== "answer") throw new RequestFailed("no_route", "unexpected answer");
              finish({
                reply: answer.p,
                rttMs: clock.now() - startedAt,
                hops: 1,
                route: "direct",
              });
            },
            (error) => {
              // The link closed between being found and the call's send (its connection went
              // with the last query link on it, say): nothing was sent, so a new link may carry it.
              if (error instanceof NotSent && retriesLeft > 0 && !settled) {
                return attempt(retriesLeft - 1);
              }
              throw error;
            },
          );
        });
      attempt(NOT_SENT_RETRIES)
        .catch((error) =>
          finish(
            error instanceof RequestFailed
              ? error
              : new RequestFailed("no_route", `node ${target}: ${(error as Error).message}`),
          )
        );
    });
  }

  /** A message for this module on a neighbour's link. */
  receive(fromId: string, message: WireMessageOf<"find" | "found" | "call" | "answer">): void {
    this.#handle({ kind: "neighbour", id: fromId }, fromId, message);
  }

  /** An inbound link whose first message is a query or a call (no hello): a side link. */
  adoptInbound(link: Link, first: WireMessage): void {
    if (
      this.#closed || this.#deps.isBanned(link.remoteId) || !isRoutingMessage(first) ||
      (first.t !== "find" && first.t !== "call")
    ) {
      link.close();
      return;
    }
    if (this.#inbound.size >= MAX_INBOUND_SIDE_LINKS) {
      // Full: the link used least recently gives way, so idle ones cannot keep busy ones out.
      let idlest: SideLink | undefined;
      for (const other of this.#inbound) {
        if (!idlest || other.usedAt < idlest.usedAt) idlest = other;
      }
      idlest?.close();
    }
    const side = this.#sideLink(link, INBOUND_SIDE_IDLE_MS);
    this.#inbound.add(side);
    side.receive(first, false);
  }

  /** A neighbour link opened: the neighbour is a contact. */
  linked(id: string, address: string): void {
    this.table.heardFrom({ id, address }, this.#deps.clock.now());
  }

  /** A neighbour link closed: questions waiting on it fail now. */
  neighbourClosed(id: string): void {
    for (const [q, waiting] of this.#waiting) {
      if (waiting.peerId === id && !waiting.link) {
        this.#settle(q, new RequestFailed("gone", `the link to node ${id} closed`));
      }
    }
  }

  /** A node left: it is no contact, its request link closes, requests waiting on it fail. */
  targetDeparted(id: string): void {
    this.table.remove(id);
    for (const [q, waiting] of this.#waiting) {
      if (waiting.peerId === id) {
        this.#settle(q, new RequestFailed("gone", `node ${id} left the network`));
      }
    }
    this.#requestLinks.get(id)?.close();
  }

  /** Looks up this node's own id: the nodes nearest it learn of it, and it of them. */
  refresh(): void {
    if (this.#closed || this.#lookups >= MAX_CONCURRENT_LOOKUPS) return;
    this.#lookups++;
    const { run } = this.#startLookup(this.#deps.selfId);
    void run(this.#deps.clock.now() + 4 * QUERY_TIMEOUT_MS).finally(() => this.#lookups--);
  }

  close(): void {
    this.#closed = true;
    for (const q of [...this.#waiting.keys()]) {
      this.#settle(q, new RequestFailed("no_route", "the node is shutting down"));
    }
    for (const link of [...this.#requestLinks.values(), ...this.#inbound, ...this.#queryLinks]) {
      link.close();
    }
  }

  // --- Finding the target -----------------------------------------------------------------------

  #channelTo(target: string, deadline: number): Promise<Channel> {
    if (this.#deps.neighbours.has(target)) {
      return Promise.resolve({ kind: "neighbour", id: target });
    }
    const link = this.#requestLinks.get(target);
    if (link && !link.closed) {
      // Most recently used last: the first one is the one to close when there are too many.
      this.#requestLinks.delete(target);
      this.#requestLinks.set(target, link);
      return Promise.resolve({ kind: "side", link });
    }
    let connecting = this.#connecting.get(target);
    if (!connecting) {
      connecting = this.#connect(target, deadline).finally(() => this.#connecting.delete(target));
      this.#connecting.set(target, connecting);
    }
    return connecting;
  }

  /** The address this node has first; a lookup when there is none or it fails. */
  async #connect(target: string, deadline: number): Promise<Channel> {
    const known = this.table.get(target)?.address ?? this.#deps.book.get(target)?.address;
    const tried = new Set<string>();
    if (known) {
      tried.add(known);
      const link = await this.#dialRequestLink(target, known, deadline);
      if (link) return { kind: "side", link };
    }
    if (this.#deps.neighbours.has(target)) return { kind: "neighbour", id: target };
    if (this.#lookups >= MAX_CONCURRENT_LOOKUPS) {
      throw new RequestFailed("busy", `${MAX_CONCURRENT_LOOKUPS} lookups are already running`);
    }
    this.#lookups++;
    try {
      const { lookup, run } = this.#startLookup(target);
      // Each address an answer gives is dialled in turn (the transport checks the id); when
      // none is left, the lookup goes on.
      for (;;) {
        await run(deadline);
        if (this.#deps.neighbours.has(target)) return { kind: "neighbour", id: target };
        const address = lookup.takeTargetAddress();
        if (address === undefined) break;
        if (tried.has(address)) continue;
        tried.add(address);
        const link = await this.#dialRequestLink(target, address, deadline);
        if (link) return { kind: "side", link };
      }
      if (tried.size > 0) {
        throw new RequestFailed(
          "gone",
          `node ${target} does not answer at ${
            [...tried].join(", ")
          }; it may have left the network`,
        );
      }
      this.#deps.counters.lookups_failed++;
      throw new RequestFailed(
        "no_route",
        `node ${target} was not found: a lookup asked ${lookup.queries} nodes and none knew it`,
      );
    } finally {
      this.#lookups--;
    }
  }

  async #dialRequestLink(
    target: string,
    address: string,
    deadline: number,
  ): Promise<SideLink | undefined> {
    const link = await this.#dial(
      target,
      address,
      Math.min(DIAL_TIMEOUT_MS, deadline - this.#deps.clock.now()),
    );
    if (!link) return undefined;
    const side = this.#sideLink(link, REQUEST_LINK_IDLE_MS);
    const existing = this.#requestLinks.get(target);
    if (existing && !existing.closed) {
      side.close();
      return existing;
    }
    this.#requestLinks.set(target, side);
    this.#deps.counters.request_links_opened++;
    while (this.#requestLinks.size > MAX_REQUEST_LINKS) {
      this.#requestLinks.values().next().value!.close();
    }
    return side;
  }

  /** A link to `id` at `address`, or nothing (and `id` is no contact any more) when the dial fails. */
  async #dial(id: string, address: string, timeoutMs: number): Promise<Link | undefined> {
    if (timeoutMs <= 0 || this.#closed) return undefined;
    try {
      const link = await this.#deps.transport.dial(address, id, timeoutMs);
      if (this.#closed || link.remoteId !== id) {
        link.close();
        return undefined;
      }
      this.table.heardFrom({ id, address }, this.#deps.clock.now());
      return link;
    } catch (error) {
      this.#deps.counters.dials_failed++;
      this.table.remove(id);
      this.#deps.log.debug("dial for a request failed", {
        peer: id,
        address,
        error: String((error as Error)?.message ?? error),
      });
      return undefined;
    }
  }

  /**
   * One iterative lookup of `targetId`, from the nearest contacts this node knows. `run` goes
   * on until it pauses (an address for the target), ends, or `deadline`; it may be called again
   * after a pause. Queries still in flight from an earlier run wake the current one.
   */
  #startLookup(targetId: string): { lookup: Lookup; run: (deadline: number) => Promise<void> } {
    this.#deps.counters.lookups++;
    const lookup = new Lookup(
      { selfId: this.#deps.selfId, targetId },
      this.#closest(routingKey(targetId), MAX_FOUND_ENTRIES, () => false),
    );
    let wake = () => {};
    const run = (deadline: number) =>
      new Promise<void>((resolve) => {
        let ended = false;
        const pump = () => {
          if (ended) return;
          if (lookup.done || this.#closed || this.#deps.clock.now() >= deadline) {
            ended = true;
            wake = () => {};
            return resolve();
          }
          for (const contact of lookup.next()) {
            this.#deps.counters.lookup_queries++;
            this.#query(contact, targetId, deadline).then(
              (contacts) => lookup.answered(contact.id, contacts),
              () => lookup.failed(contact.id),
            ).finally(() => wake());
          }
          // Nothing in flight and nothing left to ask: `done` says so on the next pass.
          if (lookup.done) pump();
        };
        wake = pump;
        pump();
      });
    return { lookup, run };
  }

  /** Asks `contact` for the nodes nearest `targetId` it knows. */
  async #query(contact: Contact, targetId: string, deadline: number): Promise<Contact[]> {
    const { clock } = this.#deps;
    const timeoutMs = Math.min(QUERY_TIMEOUT_MS, deadline - clock.now());
    const find: WireMessageOf<"find"> = {
      t: "find",
      q: newNonce(),
      ...this.#whereToReachUs(),
      key: targetId,
    };
    let channel: Channel;
    let queryLink: SideLink | undefined;
    const open = this.#requestLinks.get(contact.id);
    if (this.#deps.neighbours.has(contact.id)) channel = { kind: "neighbour", id: contact.id };
    else if (open && !open.closed) channel = { kind: "side", link: open };
    else {
      const link = await this.#dial(contact.id, contact.address, timeoutMs);
      if (!link) throw new Error("dial failed");
      queryLink = this.#sideLink(link, QUERY_TIMEOUT_MS);
      this.#deps.counters.query_links_opened++;
      this.#queryLinks.add(queryLink);
      channel = { kind: "side", link: queryLink };
    }
    try {
      const answer = await this.#ask(channel, contact.id, find, deadline - clock.now());
      if (answer.t !== "found") throw new Error("unexpected answer");
      this.table.heardFrom(contact, clock.now());
      return answer.peers.map((peer) => ({ id: peer.id, address: peer.addr }));
    } finally {
      queryLink?.close();
    }
  }

  /** Sends a question and waits for its answer from `peerId` on the same channel. */
  #ask(
    channel: Channel,
    peerId: string,
    question: WireMessageOf<"find" | "call">,
    timeoutMs: number,
  ): Promise<WireMessageOf<"found" | "answer">> {
    const link = channel.kind === "side" ? channel.link : undefined;
    if (link && (this.#waitingOnLink.get(link) ?? 0) >= MAX_CALLS_PER_LINK) {
      return Promise.reject(
        new RequestFailed("busy", `${MAX_CALLS_PER_LINK} calls wait on the link to ${peerId}`),
      );
    }
    return new Promise((resolve, reject) => {
      const waiting: Waiting = {
        peerId,
        link,
        kind: question.t,
        timer: undefined,
        settle: (answer) => (answer instanceof Error ? reject(answer) : resolve(answer)),
      };
      this.#waiting.set(question.q, waiting);
      if (link) this.#waitingOnLink.set(link, (this.#waitingOnLink.get(link) ?? 0) + 1);
      // A call's request fails at its own deadline with its own reason; this only frees the entry.
      const slack = question.t === "call" ? CALL_CLEANUP_SLACK_MS : 0;
      waiting.timer = this.#deps.clock.setTimeout(
        () => this.#settle(question.q, new Error(`no answer from ${peerId} in time`)),
        Math.max(0, timeoutMs) + slack,
      );
      if (!this.#send(channel, question)) {
        this.#settle(question.q, new NotSent(`the link to node ${peerId} is closed`));
      }
    });
  }

  #settle(q: string, answer: WireMessageOf<"found"> | WireMessageOf<"answer"> | Error): void {
    const waiting = this.#waiting.get(q);
    if (!waiting) return;
    this.#waiting.delete(q);
    if (waiting.link) {
      const left = (this.#waitingOnLink.get(waiting.link) ?? 1) - 1;
      if (left > 0) this.#waitingOnLink.set(waiting.link, left);
      else this.#waitingOnLink.delete(waiting.link);
    }
    if (waiting.timer) this.#deps.clock.clearTimeout(waiting.timer);
    waiting.settle(answer);
  }

  // --- Messages ---------------------------------------------------------------------------------

  #handle(
    channel: Channel,
    fromId: string,
    message: WireMessageOf<"find" | "found" | "call" | "answer">,
  ): void {
    switch (message.t) {
      case "find":
      case "call":
        if (message.net !== this.#deps.networkId) return this.#drop(channel);
        if (channel.kind === "side" && !channel.link.outbound) {
          // It dialled us from there and answers under its key: a contact.
          const address = message.addr ?? joinAddress(channel.link.remoteHost, message.port);
          this.table.heardFrom({ id: fromId, address }, this.#deps.clock.now());
        }
        return message.t === "find"
          ? void this.#send(channel, {
            t: "found",
            q: message.q,
            peers: this.#answerFor(message.key, fromId),
          })
          : this.#answerCall(channel, fromId, message);
      case "found":
      case "answer": {
        const waiting = this.#waiting.get(message.q);
        const expected = message.t === "found" ? "find" : "call";
        // Only the node asked, on the channel asked, may answer.
        if (
          !waiting || waiting.peerId !== fromId || waiting.kind !== expected ||
          waiting.link !== (channel.kind === "side" ? channel.link : undefined)
        ) return;
        return this.#settle(message.q, message);
      }
    }
  }

  #answerCall(channel: Channel, origin: string, call: WireMessageOf<"call">): void {
    const reply = (p: NetworkReply) => {
      if (this.#send(channel, { t: "answer", q: call.q, p })) return;
      // Refused by the link (a frame past the limit, say): the caller learns why, not a time-out.
      this.#send(channel, {
        t: "answer",
        q: call.q,
        p: { type: "error", code: "internal", message: "the reply does not fit in one message" },
      });
    };
    if (this.#answering >= MAX_PENDING_ANSWERS) {
      return reply({ type: "error", code: "unavailable", message: "the node is busy" });
    }
    this.#answering++;
    const deadline = this.#deps.clock.now() + call.wait;
    Promise.resolve()
      .then(() => this.#deps.handleRequest(origin, call.p, deadline))
      .catch((error) => ({
        type: "error" as const,
        code: "internal" as const,
        message: String((error as Error)?.message ?? error).slice(0, 1000),
      }))
      .then((answer) => {
        this.#answering--;
        this.#deps.counters.calls_answered++;
        reply(answer);
      });
  }

  /** The contacts nearest `key` this node knows, for an answer (never the asker itself). */
  #answerFor(key: string, askerId: string): WireMessageOf<"found">["peers"] {
    return this.#closest(routingKey(key), MAX_FOUND_ENTRIES, (id) => id === askerId)
      .map((contact) => ({ id: contact.id, addr: contact.address }));
  }

  /** Nearest first, from the routing table and the address book together (never this node). */
  #closest(target: RoutingKey, count: number, skip: (id: string) => boolean): Contact[] {
    const { selfId, book } = this.#deps;
    return nearestContacts(
      target,
      count,
      [this.table.closest(target, count, skip), book.entries()],
      (id) => id === selfId || skip(id),
    );
  }

  /** The network and where this node is dialled back, as each query and call carries them. */
  #whereToReachUs(): { net: string; port: number; addr?: string } {
    const addr = this.#deps.advertisedAddress?.();
    return { net: this.#deps.networkId, port: this.#deps.listenPort, ...(addr ? { addr } : {}) };
  }

  #send(channel: Channel, message: WireMessage): boolean {
    return channel.kind === "neighbour"
      ? this.#deps.neighbours.send(channel.id, message)
      : channel.link.send(message);
  }

  /** A side link that sent what no honest node sends there: closed. Neighbours: ignored. */
  #drop(channel: Channel): void {
    if (channel.kind === "side") channel.link.close();
  }

  #sideLink(link: Link, idleMs: number): SideLink {
    const { clock, counters, messageCounts, rateLimitPerS } = this.#deps;
    return new SideLink(link, {
      clock,
      counters,
      messageCounts,
      rateLimitPerS,
      idleMs,
      onMessage: (side, message) => {
        if (!isRoutingMessage(message)) {
          counters.misbehaving_peers++;
          return side.close();
        }
        this.#handle({ kind: "side", link: side }, side.remoteId, message);
      },
      onClosed: (side) => {
        this.#inbound.delete(side);
        this.#queryLinks.delete(side);
        if (this.#requestLinks.get(side.remoteId) === side) {
          this.#requestLinks.delete(side.remoteId);
        }
        for (const [q, waiting] of this.#waiting) {
          if (waiting.link === side) {
            this.#settle(q, new RequestFailed("gone", `the link to node ${side.remoteId} closed`));
          }
        }
      },
    });
  }
}
