/**
 * Broadcast by Plumtree (Leitão, Pereira, Rodrigues, "Epidemic Broadcast Trees", 2007): the
 * full message travels along a spanning tree of the links, and only its id along the others,
 * so a node receives about one copy of each broadcast instead of one per link.
 *
 * - A new link joins the tree ("eager": the next broadcast goes over it in full) while the node
 *   has fewer than {@link MAX_EAGER_ON_OPEN} tree links; past that it starts lazy.
 * - A copy that arrives a second time was sent over a link the tree does not need: the
 *   receiver tells the sender (`prune`), and both announce by id over it from then on ("lazy").
 * - Each node announces what it relays to its lazy peers (`ihave`, batched). An id announced
 *   that has not arrived within {@link GRAFT_TIMEOUT_MS} means the tree is broken (a node left):
 *   the node asks an announcer for it (`graft`), which answers with the message and puts the
 *   link back into the tree.
 *
 * The seed's rules hold: only the origin's signature counts (checked on arrival, see
 * admission.ts), and an id already seen is dropped, never passed on again; a repair only
 * answers a peer that asked, once per peer and id ({@link MessageCache}).
 */
import type { Clock, TimerHandle } from "../../mod/mod.ts";
import { type AdmissionDeps, admit } from "../admission.ts";
import { andThen, type Authenticator, type MaybePromise } from "../authenticator.ts";
import {
  MAX_BROADCAST_HOPS,
  MAX_CLOCK_SKEW_MS,
  MAX_FRAME_BYTES,
  MAX_IHAVE_IDS,
  MAX_RETAINED_PAGE,
} from "../constants.ts";
import type { Counters } from "../counters.ts";
import type { Neighbours } from "../neighbours.ts";
import { newNonce, type NonceCache } from "../nonce_cache.ts";
import {
  type Broadcast,
  broadcastSignedBytes,
  decodeBase64,
  encodeBase64,
  type WireMessageOf,
} from "../wire.ts";
import {
  GRAFT_RETRY_MS,
  GRAFT_TIMEOUT_MS,
  IHAVE_BATCH_MS,
  MAX_ANNOUNCERS,
  MAX_CACHED_BYTES,
  MAX_CACHED_MESSAGES,
  MAX_EAGER_ON_OPEN,
  MAX_MISSING,
  MAX_RETAINED_ASKS,
  MAX_RETAINED_ORIGINS,
  MESSAGE_CACHE_MS,
  RETAINED_ANSWER_MS,
  RETAINED_MAX_AGE_MS,
  RETAINED_PAGE_SLACK_BYTES,
} from "./constants.ts";
import { MessageCache } from "./message_cache.ts";
import { RetainedBroadcasts } from "./retained.ts";
import { MissingIds } from "./missing.ts";

export type BroadcastDelivery = {
  nonce: string;
  origin: string;
  topic: string;
  /** The body as JSON text, exactly as signed. */
  body: string;
  receivedAt: number;
};

export type BroadcasterDeps = {
  selfId: string;
  networkId: string;
  clock: Clock;
  auth: Authenticator;
  nonces: NonceCache;
  neighbours: Neighbours;
  counters: Counters;
  deliver: (delivery: BroadcastDelivery) => void;
  /** A neighbour passed on something no honest relay would. */
  penalise: (fromId: string, reason: string) => void;
  /**
   * Topics whose latest broadcast per origin is kept and handed, once, to a neighbour that
   * joins (the market); none when absent.
   */
  retainTopics?: ReadonlySet<string>;
  /**
   * When this node learnt that `origin` left (its goodbye, or our own dial found it gone), while
   * it remembers: a retained broadcast signed before then is the origin's last word, and handing
   * it over must not bring the origin back to the market. The address book keeps these already
   * (one record per departure, for every node of the network), so the broadcaster keeps no copy.
   */
  departedAt?: (origin: string) => number | undefined;
};

/** The control messages of the lazy push. */
export type TreeMessage = WireMessageOf<"ihave" | "graft" | "prune">;
/** The hand-over of retained broadcasts to a node that joins. */
export type RetainedMessage = WireMessageOf<"retained_req" | "retained">;

export class Broadcaster {
  #deps: BroadcasterDeps;
  #admission: AdmissionDeps;
  /** Neighbours we only announce to; every other open link is in the tree. */
  #lazy = new Set<string>();
  #cache = new MessageCache({
    ttlMs: MESSAGE_CACHE_MS,
    maxEntries: MAX_CACHED_MESSAGES,
    maxBytes: MAX_CACHED_BYTES,
  });
  #missing = new MissingIds<TimerHandle>({ maxIds: MAX_MISSING, maxAnnouncers: MAX_ANNOUNCERS });
  /** Ids waiting to be announced, by lazy neighbour. */
  #announce = new Map<string, string[]>();
  #announceTimer: TimerHandle | undefined;
  /**
   * Ids to ask for, by announcer, sent together at the end of this moment: the ids of one
   * announcement fall due together, and asking for each in a message of its own would let a
   * peer that announces invented ids turn one message into sixty-four.
   */
  #asks = new Map<string, string[]>();
  #askTimer: TimerHandle | undefined;
  #retained = new RetainedBroadcasts({ maxOrigins: MAX_RETAINED_ORIGINS });
  /** The neighbour asked for its retained broadcasts, while its answer is not complete. */
  #retainedAsked: string | undefined;
  /**
   * Every neighbour asked so far: a page from one asked before the current one (its link
   * closed while another to it stayed) is still an answer, not abuse.
   */
  #retainedAskedEver = new Set<string>();
  /** The hand-over happened (or nothing is retained): never asked again. */
  #retainedDone: boolean;
  /** Neighbours answered on their current link: a second request on it is abuse. */
  #retainedAnswered = new Set<string>();
  /** The neighbour whose answer was taken as complete: a lie found in it reopens the hand-over. */
  #retainedFrom: string | undefined;
  #retainedTimer: TimerHandle | undefined;
  #stopped = false;

  constructor(deps: BroadcasterDeps) {
    this.#deps = deps;
    this.#admission = { ...deps, verifying: new Map() };
    this.#retainedDone = (deps.retainTopics?.size ?? 0) === 0;
  }

  /** Origins whose latest retained broadcast is kept here (tests look). */
  get retainedCount(): number {
    return this.#retained.size;
  }

  /**
   * The kept broadcasts on `topics`, as deliveries: a subscriber that comes after they arrived
   * (the market starts after the network worker) gets them all the same.
   */
  retainedDeliveries(topics: ReadonlySet<string>): BroadcastDelivery[] {
    const now = this.#deps.clock.now();
    return this.#retained.pages(now, RETAINED_MAX_AGE_MS, Infinity, Infinity)[0]!
      .filter((message) => topics.has(message.topic))
      .map((message) => ({
        nonce: message.nonce,
        origin: message.origin,
        topic: message.topic,
        body: message.body,
        receivedAt: now,
      }));
  }

  /** The origin said goodbye: its kept broadcast is handed to nobody any more. */
  forgetOrigin(id: string): void {
    this.#retained.forget(id);
  }

  /** A request for the retained broadcasts, or a page of them. */
  receiveRetained(fromId: string, message: RetainedMessage): void {
    if (this.#stopped) return;
    if (message.t === "retained_req") return this.#answerRetained(fromId);
    if (!this.#retainedAskedEver.has(fromId)) {
      return this.#deps.penalise(fromId, "retained broadcasts nobody asked for");
    }
    if (message.last && fromId === this.#retainedAsked) {
      this.#retainedAsked = undefined;
      this.#retainedDone = true;
      this.#retainedFrom = fromId;
      this.#clearRetainedTimer();
    }
    for (const retained of message.msgs) this.#admitRetained(fromId, retained);
  }

  /** Neighbours in the tree right now (tests and the simulation look). */
  eagerPeers(): string[] {
    return [...this.#deps.neighbours.ids()].filter((id) => !this.#lazy.has(id));
  }

  lazyPeers(): string[] {
    return [...this.#lazy].filter((id) => this.#deps.neighbours.has(id));
  }

  /**
   * Signs a message and sends it along the tree; resolves with its nonce and how many
   * neighbours got it or its id (0: none, nobody will have it; counted as originated otherwise).
   */
  originate(topic: string, body: string): MaybePromise<{ nonce: string; sentTo: number }> {
    const { selfId, networkId, clock, auth, nonces, counters } = this.#deps;
    const unsigned = { nonce: newNonce(), origin: selfId, ts: clock.now(), topic, body };
    return andThen(auth.sign(broadcastSignedBytes(networkId, unsigned)), (signature) => {
      const now = clock.now();
      nonces.add(unsigned.nonce, now);
      const message: Broadcast = {
        t: "bcast",
        ...unsigned,
        hops: MAX_BROADCAST_HOPS,
        sig: encodeBase64(signature),
      };
      this.#retain(message);
      const { full, announced } = this.#spread(message, undefined, now);
      const sentTo = full + announced;
      if (sentTo > 0) counters.broadcasts_originated++;
      return { nonce: unsigned.nonce, sentTo };
    });
  }

  /** A full broadcast from a neighbour. */
  receive(fromId: string, message: Broadcast): void {
    const { networkId } = this.#deps;
    const decode = () => {
      const signature = decodeBase64(message.sig);
      // A signature that is not even base64 is as bad as one that fails.
      return signature ? { signature, signed: broadcastSignedBytes(networkId, message) } : "forged";
    };
    andThen(admit(this.#admission, message, decode), (admission) => {
      if (this.#stopped) return;
      if (admission.outcome === "admitted") return this.#accept(fromId, message, admission.at);
      switch (admission.reason) {
        case "forged":
          return this.#deps.penalise(fromId, "broadcast with a bad signature");
        case "own":
        case "duplicate":
          return this.#prune(fromId);
        case "stale":
        case "malformed":
          return;
      }
    });
  }

  /** An announcement, a repair request or a prune from a neighbour. */
  receiveTree(fromId: string, message: TreeMessage): void {
    if (this.#stopped) return;
    const now = this.#deps.clock.now();
    switch (message.t) {
      case "prune":
        this.#lazy.add(fromId);
        return;
      case "graft":
        this.#lazy.delete(fromId);
        for (const id of message.ids) {
          const cached = this.#cache.takeFor(id, fromId, now);
          if (cached && this.#deps.neighbours.send(fromId, cached)) {
            this.#deps.counters.broadcasts_relayed++;
          }
        }
        return;
      case "ihave":
        for (const id of message.ids) {
          if (this.#deps.nonces.has(id, now)) continue;
          if (this.#missing.announce(id, fromId)) {
            this.#missing.setTimer(id, this.#timer(() => this.#repair(id), GRAFT_TIMEOUT_MS));
          }
        }
        return;
    }
  }

  /** A link opened: into the tree while the node has few tree links, else lazy at both ends. */
  linkOpened(id: string): void {
    if (this.#stopped) return;
    const { neighbours, counters } = this.#deps;
    this.#lazy.delete(id);
    let eager = 0;
    for (const other of neighbours.ids()) if (other !== id && !this.#lazy.has(other)) eager++;
    if (eager >= MAX_EAGER_ON_OPEN) {
      this.#lazy.add(id);
      counters.broadcast_prunes++;
      neighbours.send(id, { t: "prune" });
    }
    if (!this.#retainedDone && this.#retainedAsked === undefined) this.#askRetained(id);
  }

  /** A link closed: whatever it was, a new link to that peer starts in the tree again. */
  linkClosed(id: string): void {
    this.#lazy.delete(id);
    this.#announce.delete(id);
    this.#asks.delete(id);
    this.#retainedAnswered.delete(id);
    // A duplicate link to the same peer may stay open: its answer can still come on that one.
    if (this.#retainedAsked !== id || this.#stopped || this.#deps.neighbours.has(id)) return;
    // The answer did not complete: ask the next neighbour (duplicates of what came are skipped).
    this.#retainedAsked = undefined;
    this.#askNextRetained(id);
  }

  stop(): void {
    this.#stopped = true;
    const { clock } = this.#deps;
    for (const timer of this.#missing.clear()) clock.clearTimeout(timer);
    if (this.#announceTimer) clock.clearTimeout(this.#announceTimer);
    if (this.#askTimer) clock.clearTimeout(this.#askTimer);
    this.#announceTimer = this.#askTimer = undefined;
    this.#clearRetainedTimer();
    this.#announce.clear();
    this.#asks.clear();
  }

  #accept(fromId: string, message: Broadcast, now: number): void {
    const { counters, clock } = this.#deps;
    const timer = this.#missing.received(message.nonce);
    if (timer) clock.clearTimeout(timer);
    // It came over this link, first: the link is part of the tree (it may have been grafted).
    this.#lazy.delete(fromId);
    counters.broadcasts_delivered++;
    this.#retain(message);
    this.#deps.deliver({
      nonce: message.nonce,
      origin: message.origin,
      topic: message.topic,
      body: message.body,
      receivedAt: now,
    });
    if (message.hops <= 1) return;
    this.#spread({ ...message, hops: message.hops - 1 }, fromId, now);
  }

  /** Pushes a message to the tree and announces it to the rest; counts both. */
  #spread(
    message: Broadcast,
    fromId: string | undefined,
    now: number,
  ): { full: number; announced: number } {
    const { neighbours, counters, selfId } = this.#deps;
    this.#cache.add(message, now);
    let full = 0;
    let announced = 0;
    for (const id of neighbours.ids()) {
      if (id === fromId || id === message.origin || id === selfId) continue;
      if (this.#lazy.has(id)) {
        this.#queueAnnouncement(id, message.nonce);
        announced++;
      } else if (neighbours.send(id, message)) {
        this.#cache.sent(message.nonce, id);
        full++;
      }
    }
    counters.broadcasts_relayed += full;
    return { full, announced };
  }

  /**
   * A copy came twice: the link it came over last is not needed in the tree. Said even when
   * the link is lazy here already: the sender pushed, so it has not heard (links open and
   * prune from both ends at once).
   */
  #prune(fromId: string): void {
    const { neighbours, counters } = this.#deps;
    if (!neighbours.has(fromId)) return;
    this.#lazy.add(fromId);
    counters.broadcast_prunes++;
    neighbours.send(fromId, { t: "prune" });
  }

  /** An announced id has not come along the tree: ask an announcer, and take it into the tree. */
  #repair(id: string): void {
    if (this.#stopped) return;
    const { neighbours, counters, nonces, clock } = this.#deps;
    this.#missing.setTimer(id, undefined);
    if (nonces.has(id, clock.now())) {
      this.#missing.received(id);
      return;
    }
    const peer = this.#missing.nextAnnouncer(id, (candidate) => neighbours.has(candidate));
    if (peer === undefined) return;
    this.#lazy.delete(peer);
    counters.broadcast_grafts++;
    this.#ask(peer, id);
    this.#missing.setTimer(id, this.#timer(() => this.#repair(id), GRAFT_RETRY_MS));
  }

  #ask(peer: string, id: string): void {
    let ids = this.#asks.get(peer);
    if (!ids) this.#asks.set(peer, ids = []);
    ids.push(id);
    if (ids.length >= MAX_IHAVE_IDS) {
      this.#asks.delete(peer);
      this.#deps.neighbours.send(peer, { t: "graft", ids });
    }
    this.#askTimer ??= this.#timer(() => {
      this.#askTimer = undefined;
      for (const [to, asked] of this.#asks) {
        this.#deps.neighbours.send(to, { t: "graft", ids: asked });
      }
      this.#asks.clear();
    }, 0);
  }

  #queueAnnouncement(peer: string, id: string): void {
    let ids = this.#announce.get(peer);
    if (!ids) this.#announce.set(peer, ids = []);
    ids.push(id);
    if (ids.length >= MAX_IHAVE_IDS) {
      this.#announce.delete(peer);
      this.#deps.neighbours.send(peer, { t: "ihave", ids });
    }
    this.#announceTimer ??= this.#timer(() => {
      this.#announceTimer = undefined;
      this.#flushAnnouncements();
    }, IHAVE_BATCH_MS);
  }

  #flushAnnouncements(): void {
    const { neighbours } = this.#deps;
    for (const [peer, ids] of this.#announce) {
      if (this.#lazy.has(peer)) neighbours.send(peer, { t: "ihave", ids });
    }
    this.#announce.clear();
  }

  #retain(message: Broadcast): void {
    if (this.#deps.retainTopics?.has(message.topic)) this.#retained.keep(message);
  }

  #askRetained(peer: string): void {
    if (this.#retainedAskedEver.size >= MAX_RETAINED_ASKS) return;
    if (!this.#deps.neighbours.send(peer, { t: "retained_req" })) return;
    this.#retainedAsked = peer;
    this.#retainedAskedEver.add(peer);
    this.#clearRetainedTimer();
    this.#retainedTimer = this.#timer(() => {
      this.#retainedTimer = undefined;
      if (this.#stopped || this.#retainedAsked !== peer) return;
      // Slow or stalling, no proof of a lie: nobody is blamed, its late pages still count.
      this.#retainedAsked = undefined;
      this.#askNextRetained(peer);
    }, RETAINED_ANSWER_MS);
  }

  /** Asks a neighbour other than `except`, one not asked before where there is one. */
  #askNextRetained(except: string): void {
    const others = [...this.#deps.neighbours.ids()].filter((id) => id !== except);
    const next = others.find((id) => !this.#retainedAskedEver.has(id)) ?? others[0];
    if (next !== undefined) this.#askRetained(next);
  }

  #clearRetainedTimer(): void {
    if (this.#retainedTimer) this.#deps.clock.clearTimeout(this.#retainedTimer);
    this.#retainedTimer = undefined;
  }

  /**
   * A retained page from `fromId` held a lie: it is cut off, and if its answer was the one taken
   * as complete, its `last` is worth nothing either: the hand-over is asked of another.
   */
  #distrustRetained(fromId: string, reason: string): void {
    this.#deps.penalise(fromId, reason);
    if (this.#stopped || this.#retainedFrom !== fromId) return;
    this.#retainedFrom = undefined;
    this.#retainedDone = false;
    if (this.#retainedAsked === undefined) this.#askNextRetained(fromId);
  }

  #answerRetained(fromId: string): void {
    const { neighbours, clock, penalise } = this.#deps;
    if (this.#retainedAnswered.has(fromId)) {
      return penalise(fromId, "retained broadcasts asked for twice on one link");
    }
    this.#retainedAnswered.add(fromId);
    const pages = this.#retained.pages(
      clock.now(),
      RETAINED_MAX_AGE_MS,
      MAX_RETAINED_PAGE,
      MAX_FRAME_BYTES - RETAINED_PAGE_SLACK_BYTES,
    );
    pages.forEach((msgs, index) =>
      neighbours.send(fromId, { t: "retained", msgs, last: index === pages.length - 1 })
    );
  }

  /**
   * A retained broadcast is checked as a relayed one (origin, id, signature) but may be older,
   * up to {@link RETAINED_MAX_AGE_MS}: it is the origin's latest, not news. It is delivered
   * here only, never passed on: every other node had it when it was broadcast.
   */
  #admitRetained(fromId: string, message: Broadcast): void {
    const { selfId, networkId, clock, auth, nonces, counters, retainTopics } = this.#deps;
    const now = clock.now();
    if (!retainTopics?.has(message.topic)) {
      return this.#distrustRetained(fromId, "a retained broadcast on a topic nobody retains");
    }
    if (message.origin === selfId || nonces.has(message.nonce, now)) return;
    if (message.ts > now + MAX_CLOCK_SKEW_MS || now - message.ts > RETAINED_MAX_AGE_MS) {
      counters.stale_dropped++;
      return;
    }
    // Signed before its origin's goodbye: stale, though a neighbour may not have heard of it yet.
    if (message.ts <= (this.#deps.departedAt?.(message.origin) ?? -Infinity)) {
      counters.stale_dropped++;
      return;
    }
    const signature = decodeBase64(message.sig);
    const verified = signature
      ? auth.verify(message.origin, broadcastSignedBytes(networkId, message), signature)
      : false;
    andThen(verified, (ok) => {
      if (this.#stopped) return;
      if (!ok) {
        counters.forged_dropped++;
        return this.#distrustRetained(fromId, "retained broadcast with a bad signature");
      }
      const at = clock.now();
      if (!nonces.add(message.nonce, at)) return;
      this.#retained.keep(message);
      counters.retained_delivered++;
      this.#deps.deliver({
        nonce: message.nonce,
        origin: message.origin,
        topic: message.topic,
        body: message.body,
        receivedAt: at,
      });
    });
  }

  #timer(run: () => void, delayMs: number): TimerHandle {
    return this.#deps.clock.setTimeout(run, delayMs);
  }
}
