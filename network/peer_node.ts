/**
 * One node's side of the peer-to-peer protocol, free of sockets: it gets
 * links from a {@link Transport} (libp2p in the node, memory in tests and the
 * simulation) and time from a {@link Clock}, so the simulation runs exactly
 * this code for thousands of nodes.
 *
 * What it does:
 * - handshake on every link: network id, protocol version, and a signed proof
 *   that binds the sender's key to this link's two ends; refuses wrong
 *   networks, bad proofs, duplicates and, past the inbound cap, anyone (with a
 *   sample of other peers to try);
 * - keeps `targetOutbound` outbound links through the {@link Dialer};
 * - every exchange interval (with jitter) sends each neighbour its own
 *   neighbours, a sample of the address book and the departures it learned;
 * - nothing a peer says about another node is believed on its word: a
 *   departure counts only when the node signed its own goodbye (passed on
 *   with the signature, so every book forgets it) or when this node's own
 *   dial of it failed: a former neighbour whose link broke (or that missed
 *   `pingMisses` pings) is re-dialled once (a probe); an unsigned report that
 *   a node left is passed on once and makes every node that lists it dial it
 *   to see (a check; see departure_reports.ts). Numbers a peer sends are
 *   range-checked by the wire schema and incarnations against the clock
 *   (incarnation.ts); a "seed" role counts only for configured or pinned
 *   seeds (seeds.ts); a request goes to its target on a link to the target
 *   itself, found by a lookup (routing/), never through a neighbour's claim;
 *   gossip never rewrites a known entry, but for the address of
 *   one our dial failed at (address_book.ts); a node's own word over its link
 *   sets its address (a relay circuit when it is behind a NAT: nat.ts);
 * - broadcast along a tree with lazy repair ({@link Broadcaster}: Plumtree) and
 *   requests to one node on a link of their own ({@link RequestRouter}), never flooded;
 * - every peer has a message budget: what comes over it is dropped (a busy
 *   relay is still a good neighbour, and its senders retry); a peer far over
 *   it ({@link FLOOD_FACTOR} times), or sending anything malformed, is
 *   disconnected and refused for a while.
 */
import type {
  ActivePeer,
  Clock,
  GlobalPeer,
  Logger,
  NetworkReply,
  NetworkRequest,
  Role,
  TimerHandle,
} from "../mod/mod.ts";
import { SERVICE_SUMMARY_TOPIC } from "../mod/mod.ts";
import { isMultiaddrAddress, joinAddress, splitAddress } from "./address.ts";
import { AddressBook, type DepartureGap, wireDeparture } from "./address_book.ts";
import { andThen, type Authenticator, type MaybePromise } from "./authenticator.ts";
import { type BroadcastDelivery, Broadcaster } from "./broadcast/mod.ts";
import {
  BAN_MS,
  DEPARTURE_ANNOUNCE_ROUNDS,
  DEPARTURE_CHECK_BURST,
  DEPARTURE_CHECKS_PER_S,
  DEPARTURE_PUSH_DELAY_MS,
  DEPARTURE_PUSH_INTERVAL_MS,
  DIAL_TICK_MS,
  DIAL_TIMEOUT_MS,
  EXCHANGE_JITTER,
  EXCHANGE_SAMPLE_SIZE,
  FULL_BACKOFF_ROUNDS,
  HANDSHAKE_TIMEOUT_MS,
  MAX_AGE_MS,
  MAX_BANNED,
  MAX_BROADCAST_BODY_BYTES,
  MAX_CLOCK_SKEW_MS,
  MAX_DEPARTURE_REPORTS,
  MAX_EXCHANGE_DEPARTURES,
  MAX_GONE_HEARD,
  MAX_HANDSHAKING_LINKS,
  MAX_INCARNATION,
  MAX_QUEUED_DURING_HANDSHAKE,
  MAX_STALE_TOLD,
  PEER_EXPIRY_ROUNDS,
  PING_TIMEOUT_MS,
  PROTOCOL_VERSION,
  REFUSAL_SAMPLE_SIZE,
} from "./constants.ts";
import {
  type Counters,
  createCounters,
  createMessageCounts,
  type MessageCounts,
} from "./counters.ts";
import { DepartureReports } from "./departure_reports.ts";
import { Dialer, type DialTarget } from "./dialer.ts";
import { nextIncarnation, plausibleIncarnation } from "./incarnation.ts";
import type { Neighbours } from "./neighbours.ts";
import { NonceCache } from "./nonce_cache.ts";
import { TokenBucket } from "./rate_limit.ts";
import {
  isRoutingMessage,
  JOIN_LOOKUP_DELAY_MS,
  REFRESH_LOOKUP_ROUNDS,
  RequestRouter,
  type RouteResult,
  type RoutingTable,
} from "./routing/mod.ts";
import { parseSeeds, SeedTrust } from "./seeds.ts";
import type { Link, LinkDirection, Transport } from "./transport.ts";
import {
  decodeBase64,
  type Departure,
  encodeBase64,
  type Goodbye,
  goodbyeBytes,
  type Hello,
  helloProofBytes,
  type PeerEntry,
  type RefusalReason,
  type WireMessage,
  type WireMessageOf,
} from "./wire.ts";

/**
 * How many times its message budget a peer may send before it counts as
 * flooding. Between the budget and this, messages are only dropped: a relay
 * carrying many nodes' requests can run over for a while without being
 * mistaken for an attacker, while a flood is still cut off in well under a
 * second.
 */
export const FLOOD_FACTOR = 4;
export type PeerNodeConfig = {
  networkId: string;
  role: Role;
  /** The port peers dial to reach this node (sent in the handshake). */
  listenPort: number;
  /** `host:port`, `host:port/p2p/<id>` or `/ip4/<ip>/tcp/<port>/ws/p2p/<id>` (see seeds.ts). */
  seeds: readonly string[];
  /** Seed address -> the id it was pinned to by an earlier run (network.db). */
  seedPins?: ReadonlyMap<string, string>;
  targetOutbound: number;
  maxInbound: number;
  exchangeIntervalMs: number;
  pingIntervalMs: number;
  pingMisses: number;
  nonceCacheSize: number;
  nonceTtlMs: number;
  /** Messages a second one peer may send, on average (twice that in a burst). */
  rateLimitPerS: number;
  /** Address-book table sizes (defaults in constants.ts); the simulation shrinks them. */
  maxNewEntries?: number;
  maxTriedEntries?: number;
};

export type PeerNodeDeps = {
  selfId: string;
  transport: Transport;
  auth: Authenticator;
  clock: Clock;
  log: Logger;
  /** Software version, reported in pongs. */
  version: string;
  random?: () => number;
  /** Grows with every start; a node that learns of its own "death" raises it. */
  incarnation?: number;
  onBroadcast?: (delivery: BroadcastDelivery) => void;
  /** Answers `app` requests addressed to this node. */
  onAppRequest?: (
    origin: string,
    request: Extract<NetworkRequest, { type: "app" }>,
    deadline: number,
  ) => MaybePromise<NetworkReply>;
  /** A node is known to have left (its signed goodbye, or a dial of ours that failed). */
  onDeparture?: (id: string) => void;
  /** A bare seed address was met for the first time, as node `id`: keep the pin (network.db). */
  onSeedPinned?: (address: string, id: string) => void;
};

type CloseKind = "ours" | "bye" | "remote";
/** One push's reads of the departure log, by mark and limit (see `#pushDepartures`). */
type DeparturesMemo = Map<string, { departures: Departure[]; mark: number }>;

type LinkRecord = {
  readonly link: Link;
  readonly remoteId: string;
  readonly direction: LinkDirection;
  readonly dial: DialTarget | undefined;
  state: "handshake" | "open" | "closed";
  /** Set while the peer's hello is being verified; messages that arrive meanwhile wait here. */
  queue: WireMessage[] | undefined;
  helloReceived: boolean;
  peer: { id: string; role: Role; incarnation: number; address: string } | undefined;
  openedAt: number;
  rttMs: number | null;
  missedPings: number;
  pingInFlight: boolean;
  departureMark: number;
  /**
   * Departures this peer sent us since our last push to it (id -> {@link goneRank}): it has
   * them, so they are not sent back (a flood would otherwise cross every link both ways).
   * Kept through one more push (`goneHeardBefore`): a report becomes a departure of our own
   * only when our check of it fails, which may be after the next push.
   */
  goneHeard: Map<string, number> | undefined;
  goneHeardBefore: Map<string, number> | undefined;
  /**
   * Departed nodes this peer listed to us as if about (it missed their departures): their
   * departures go with the next push to it, at most {@link MAX_STALE_TOLD} at a time.
   */
  staleListed: Set<string> | undefined;
  /** Messages over it are dropped. */
  budget: TokenBucket;
  /** Messages over it, {@link FLOOD_FACTOR} times the budget, cut the link: that is a flood. */
  floodCeiling: TokenBucket;
  handshakeTimer: TimerHandle | undefined;
  closeKind: CloseKind | undefined;
  /** Re-dial once after the close to find out whether the peer is still there. */
  probeAfterClose: boolean;
};

export type PeerNodeStatus = {
  nodeId: string;
  incarnation: number;
  outbound: number;
  inbound: number;
  targetOutbound: number;
  maxInbound: number;
  knownPeers: number;
  departedPeers: number;
  nonceCache: { size: number; max: number; evictedEarly: number };
  pendingRequests: number;
  /** Kademlia contacts, and request links this node keeps open (network/routing/). */
  routingContacts: number;
  requestLinks: number;
  counters: Counters;
};

export class PeerNode {
  readonly selfId: string;
  readonly counters: Counters = createCounters();
  /** Messages by wire kind, for the metrics (network/metrics.ts). */
  readonly messageCounts: MessageCounts = createMessageCounts();
  #config: PeerNodeConfig;
  #deps: PeerNodeDeps;
  #clock: Clock;
  #log: Logger;
  #random: () => number;
  #incarnation: number;
  #book: AddressBook;
  #trust: SeedTrust;
  #reports: DepartureReports;
  #dialer: Dialer;
  #nonces: NonceCache;
  #broadcaster: Broadcaster;
  /** Requests to nodes by id: Kademlia lookups and direct request links (network/routing/). */
  #requests: RequestRouter;
  #open = new Map<string, LinkRecord>();
  #handshaking = new Set<LinkRecord>();
  /** Inbound links past their checks, whose own hello is still being signed: they hold a slot. */
  #acceptedInbound = new Set<LinkRecord>();
  #dialing = new Map<string, DialTarget>();
  #banned = new Map<string, number>();
  #timers = new Set<TimerHandle>();
  #dialTimer: TimerHandle | undefined;
  #departurePush: TimerHandle | undefined;
  #lastDeparturePushAt = -Infinity;
  #started = false;
  #stopped = false;
  #nextEvictionAt = 0;
  #nextRefutationAt = 0;
  /** Departures and reports older than this are no longer passed on. */
  #announceMs: number;
  /** Our goodbye for the current incarnation, signed ahead (stopping cannot wait for a signature). */
  #goodbye: Goodbye | undefined;
  /** Where to reach us when peers cannot dial what they see (a relay circuit; see nat.ts). */
  #advertised: string | undefined;

  constructor(config: PeerNodeConfig, deps: PeerNodeDeps) {
    this.#config = config;
    this.#deps = deps;
    this.selfId = deps.selfId;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#random = deps.random ?? Math.random;
    this.#incarnation = deps.incarnation ?? deps.clock.now();
    if (!(this.#incarnation >= 0 && this.#incarnation <= MAX_INCARNATION)) {
      throw new RangeError(`an incarnation is from 0 to ${MAX_INCARNATION}`);
    }
    const rounds = (count: number) => count * config.exchangeIntervalMs;
    this.#announceMs = rounds(DEPARTURE_ANNOUNCE_ROUNDS);
    this.#book = new AddressBook({
      selfId: deps.selfId,
      expiryMs: rounds(PEER_EXPIRY_ROUNDS),
      departureAnnounceMs: rounds(DEPARTURE_ANNOUNCE_ROUNDS),
      departureTtlMs: rounds(PEER_EXPIRY_ROUNDS + DEPARTURE_ANNOUNCE_ROUNDS),
      isLinked: (id) => this.#open.has(id),
      random: this.#random,
      ...(config.maxNewEntries ? { maxNew: config.maxNewEntries } : {}),
      ...(config.maxTriedEntries ? { maxTried: config.maxTriedEntries } : {}),
    });
    const seeds = parseSeeds(config.seeds);
    this.#trust = new SeedTrust(seeds, config.seedPins);
    this.#dialer = new Dialer(
      seeds.map((seed) => seed.address),
      (address) => this.#trust.idOf(address),
      this.#random,
    );
    this.#reports = new DepartureReports({
      quietMs: config.exchangeIntervalMs,
      rememberMs: this.#announceMs,
      maxTracked: MAX_DEPARTURE_REPORTS,
      maxQueued: MAX_EXCHANGE_DEPARTURES,
      checksPerS: DEPARTURE_CHECKS_PER_S,
      checkBurst: DEPARTURE_CHECK_BURST,
    }, deps.clock.now());
    this.#nonces = new NonceCache({ maxEntries: config.nonceCacheSize, ttlMs: config.nonceTtlMs });
    const neighbours: Neighbours = {
      ids: () => this.#open.keys(),
      has: (id) => this.#open.has(id),
      send: (id, message) => {
        const record = this.#open.get(id);
        return record ? this.#send(record, message) : false;
      },
    };
    const penalise = (fromId: string, reason: string) => {
      const record = this.#open.get(fromId);
      if (record) this.#misbehave(record, reason);
    };
    this.#broadcaster = new Broadcaster({
      selfId: deps.selfId,
      networkId: config.networkId,
      clock: deps.clock,
      auth: deps.auth,
      nonces: this.#nonces,
      neighbours,
      counters: this.counters,
      deliver: (delivery) => deps.onBroadcast?.(delivery),
      penalise,
      // The market: a client-end that joins late lists every GPU node at once, not at its refresh.
      retainTopics: new Set([SERVICE_SUMMARY_TOPIC]),
      departedAt: (origin) => this.#book.departure(origin)?.at,
    });
    this.#requests = new RequestRouter({
      selfId: deps.selfId,
      networkId: config.networkId,
      listenPort: config.listenPort,
      advertisedAddress: () => this.#advertised,
      transport: deps.transport,
      clock: deps.clock,
      log: deps.log,
      counters: this.counters,
      messageCounts: this.messageCounts,
      rateLimitPerS: config.rateLimitPerS,
      neighbours,
      book: this.#book,
      handleRequest: (origin, request, deadline) => this.#answer(origin, request, deadline),
      isDeparted: (id) => this.#book.departure(id) !== undefined && !this.#open.has(id),
      isBanned: (id) => this.#isBanned(id),
    });
  }

  get incarnation(): number {
    return this.#incarnation;
  }

  /** The address book, read-only use (tests and the simulation look inside). */
  get book(): AddressBook {
    return this.#book;
  }

  /** The Kademlia contacts (network/routing/), read-only use (tests and the simulation). */
  get routingTable(): RoutingTable {
    return this.#requests.table;
  }

  /** Which ids count as seeds here (configured or pinned). */
  get seeds(): SeedTrust {
    return this.#trust;
  }

  get outboundCount(): number {
    let count = 0;
    for (const record of this.#open.values()) if (record.direction === "outbound") count++;
    return count;
  }

  get inboundCount(): number {
    return this.#open.size - this.outboundCount;
  }

  /** Ids of the open links. */
  neighbourIds(): string[] {
    return [...this.#open.keys()];
  }

  isLinked(id: string): boolean {
    return this.#open.has(id);
  }

  /** Whether a report that `id` (this incarnation or a later one) left is remembered here. */
  reportedGone(id: string, incarnation: number): boolean {
    return this.#reports.reportedGone(id, incarnation, this.#clock.now());
  }

  /** Neighbours in the broadcast tree (sent broadcasts in full) and the others (sent ids only). */
  broadcastTree(): { eager: string[]; lazy: string[] } {
    return { eager: this.#broadcaster.eagerPeers(), lazy: this.#broadcaster.lazyPeers() };
  }

  /** Puts entries saved by an earlier run back into the book. */
  restore(entries: Parameters<AddressBook["restore"]>[0]): void {
    this.#book.restore(entries, this.#clock.now());
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#signGoodbye();
    this.#scheduleDialTick(0);
    this.#every(() => this.#jittered(this.#config.exchangeIntervalMs), () => this.#exchangeRound());
    this.#every(() => this.#jittered(this.#config.pingIntervalMs), () => this.#pingRound());
    // A self-lookup soon after joining puts this node in the tables of the nodes nearest it.
    let joined = false;
    const refreshMs = this.#config.exchangeIntervalMs * REFRESH_LOOKUP_ROUNDS;
    this.#every(() => this.#jittered(joined ? refreshMs : JOIN_LOOKUP_DELAY_MS), () => {
      joined = true;
      this.#requests.refresh();
    });
  }

  /** Says goodbye to every neighbour and closes every link. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const timer of this.#timers) this.#clock.clearTimeout(timer);
    this.#timers.clear();
    if (this.#dialTimer) this.#clock.clearTimeout(this.#dialTimer);
    if (this.#departurePush) this.#clock.clearTimeout(this.#departurePush);
    const goodbye = this.#goodbye?.inc === this.#incarnation ? this.#goodbye : undefined;
    for (const record of [...this.#open.values()]) {
      this.#send(record, { t: "bye", reason: "shutdown", ...(goodbye ? { goodbye } : {}) });
      this.#closeLink(record, "ours");
    }
    for (const record of [...this.#handshaking]) this.#closeLink(record, "ours");
    this.#requests.close();
    this.#broadcaster.stop();
  }

  /** A link a remote node opened to us. */
  acceptInbound(link: Link): void {
    if (this.#stopped || this.#isBanned(link.remoteId) || link.remoteId === this.selfId) {
      link.close();
      return;
    }
    if (this.#handshaking.size >= MAX_HANDSHAKING_LINKS) {
      link.close();
      return;
    }
    this.#track(this.#newRecord(link, "inbound", undefined));
  }

  /** The latest broadcast of each origin on the retained topics among `topics` (the market). */
  retainedBroadcasts(topics: readonly string[]): BroadcastDelivery[] {
    return this.#broadcaster.retainedDeliveries(new Set(topics));
  }

  /** Sends a message to the whole network (network/broadcast/); `body` is any JSON value. */
  broadcast(topic: string, body: unknown): MaybePromise<{ nonce: string; sentTo: number }> {
    const text = JSON.stringify(body);
    if (new TextEncoder().encode(text).length > MAX_BROADCAST_BODY_BYTES) {
      throw new RangeError(`a broadcast body is at most ${MAX_BROADCAST_BODY_BYTES} bytes`);
    }
    return this.#broadcaster.originate(topic, text);
  }

  /**
   * Sends a request to a node by id and waits for its reply: on the neighbour link, or on a
   * request link dialled after a lookup (network/routing/); never flooded.
   */
  request(target: string, request: NetworkRequest, timeoutMs: number): Promise<RouteResult> {
    return this.#requests.request(target, request, timeoutMs);
  }

  /**
   * The address this node is reached at changed (the transport found it is behind a NAT, or
   * moved to another relay): `undefined` for "where you see me". Every neighbour is told at
   * once, so the address they gossip is the new one.
   */
  advertise(address: string | undefined): void {
    if (address === this.#advertised) return;
    this.#advertised = address;
    for (const record of this.#open.values()) {
      this.#send(record, { t: "peers", peers: [this.#selfEntry()], gone: [] });
    }
  }

  #selfEntry(): PeerEntry {
    return {
      id: this.selfId,
      addr: this.#advertised ?? `0.0.0.0:${this.#config.listenPort}`,
      role: this.#config.role,
      inc: this.#incarnation,
      age: 0,
    };
  }

  activePeers(): ActivePeer[] {
    return [...this.#open.values()].map((record) => {
      const { host, port } = splitAddress(record.peer!.address);
      return {
        id: record.remoteId,
        ip: host,
        port,
        node_type: this.#trust.roleOf(record.remoteId, record.peer!.role),
        state: "connected",
        direction: record.direction,
        connected_since: record.openedAt,
        rtt_ms: record.rttMs,
      };
    });
  }

  knownPeers(): GlobalPeer[] {
    return [...this.#book.entries()].map((entry) => {
      const { host, port } = splitAddress(entry.address);
      return {
        id: entry.id,
        ip: host,
        port,
        node_type: this.#trust.roleOf(entry.id, entry.role),
        state: this.#open.has(entry.id)
          ? "in_use"
          : entry.failures > 0
          ? "unreachable"
          : entry.tried
          ? "available"
          : "new",
        last_seen: entry.lastSeen,
        failures: entry.failures,
      };
    });
  }

  status(): PeerNodeStatus {
    const outbound = this.outboundCount;
    return {
      nodeId: this.selfId,
      incarnation: this.#incarnation,
      outbound,
      inbound: this.#open.size - outbound,
      targetOutbound: this.#config.targetOutbound,
      maxInbound: this.#config.maxInbound,
      knownPeers: this.#book.size,
      departedPeers: this.#book.departureCount,
      nonceCache: {
        size: this.#nonces.size,
        max: this.#nonces.maxEntries,
        evictedEarly: this.#nonces.evictedEarly,
      },
      pendingRequests: this.#requests.pendingCount,
      routingContacts: this.#requests.table.size,
      requestLinks: this.#requests.requestLinkCount,
      counters: { ...this.counters },
    };
  }

  // --- Links ----------------------------------------------------------------------------------

  #newRecord(link: Link, direction: LinkDirection, dial: DialTarget | undefined): LinkRecord {
    const rate = this.#config.rateLimitPerS;
    return {
      link,
      remoteId: link.remoteId,
      direction,
      dial,
      state: "handshake",
      queue: undefined,
      helloReceived: false,
      peer: undefined,
      openedAt: 0,
      rttMs: null,
      missedPings: 0,
      pingInFlight: false,
      departureMark: 0,
      goneHeard: undefined,
      goneHeardBefore: undefined,
      staleListed: undefined,
      budget: new TokenBucket({ ratePerS: rate, burst: rate * 2 }, this.#clock.now()),
      floodCeiling: new TokenBucket(
        { ratePerS: rate * FLOOD_FACTOR, burst: rate * FLOOD_FACTOR },
        this.#clock.now(),
      ),
      handshakeTimer: undefined,
      closeKind: undefined,
      probeAfterClose: false,
    };
  }

  #track(record: LinkRecord): void {
    this.#handshaking.add(record);
    record.handshakeTimer = this.#clock.setTimeout(() => {
      record.handshakeTimer = undefined;
      if (record.state === "handshake") {
        this.#log.debug("handshake timed out", { peer: record.remoteId });
        this.#closeLink(record, "ours");
      }
    }, HANDSHAKE_TIMEOUT_MS);
    record.link.attach({
      message: (message) => this.#onMessage(record, message),
      malformed: (reason) => {
        this.counters.malformed_frames++;
        this.#misbehave(record, `malformed frame: ${reason}`);
      },
      closed: () => this.#onClosed(record, record.closeKind ?? "remote"),
    });
  }

  #send(record: LinkRecord, message: WireMessage): boolean {
    if (record.state === "closed") return false;
    const sent = record.link.send(message);
    if (sent) {
      this.counters.messages_sent++;
      this.messageCounts.sent[message.t]++;
    }
    return sent;
  }

  #closeLink(record: LinkRecord, kind: CloseKind): void {
    if (record.state === "closed") return;
    record.closeKind ??= kind;
    this.#onClosed(record, record.closeKind);
    record.link.close();
  }

  #onClosed(record: LinkRecord, kind: CloseKind): void {
    if (record.state === "closed") return;
    const wasOpen = record.state === "open";
    record.state = "closed";
    record.queue = undefined;
    if (record.handshakeTimer) this.#clock.clearTimeout(record.handshakeTimer);
    this.#handshaking.delete(record);
    this.#acceptedInbound.delete(record);
    if (!wasOpen) {
      // A dial that connected but never completed its handshake failed, unless we ended it.
      // (A probe that connected at all found the peer alive.)
      if (record.dial && record.dial.kind !== "probe" && kind === "remote" && !this.#stopped) {
        this.#dialFailed(record.dial);
      }
      return;
    }
    if (this.#open.get(record.remoteId) === record) this.#open.delete(record.remoteId);
    this.#requests.neighbourClosed(record.remoteId);
    this.#broadcaster.linkClosed(record.remoteId);
    if (this.#stopped) return;
    this.#log.debug("link closed", { peer: record.remoteId, kind });
    if ((kind === "remote" || record.probeAfterClose) && record.peer) this.#probe(record.peer);
    this.#scheduleDialTick(0);
  }

  /** Re-dials a former neighbour once: if it does not answer, it has left. */
  #probe(peer: NonNullable<LinkRecord["peer"]>): void {
    this.#startDial({
      kind: "probe",
      address: peer.address,
      expectedId: peer.id,
      incarnation: peer.incarnation,
    });
  }

  #misbehave(record: LinkRecord, reason: string): void {
    if (record.state === "closed") return;
    this.counters.misbehaving_peers++;
    this.#log.warn("disconnecting a misbehaving peer", { peer: record.remoteId, reason });
    const until = this.#clock.now() + BAN_MS;
    while (this.#banned.size >= MAX_BANNED) {
      this.#banned.delete(this.#banned.keys().next().value!);
    }
    this.#banned.set(record.remoteId, until);
    this.#book.deferDial(record.remoteId, until);
    this.#send(record, { t: "bye", reason: "misbehaving" });
    this.#closeLink(record, "ours");
  }

  #isBanned(id: string): boolean {
    const until = this.#banned.get(id);
    if (until === undefined) return false;
    if (until > this.#clock.now()) return true;
    this.#banned.delete(id);
    return false;
  }

  // --- Dialling -------------------------------------------------------------------------------

  #scheduleDialTick(delayMs: number): void {
    if (this.#stopped || !this.#started) return;
    if (this.#dialTimer) this.#clock.clearTimeout(this.#dialTimer);
    this.#dialTimer = this.#clock.setTimeout(() => {
      this.#dialTimer = undefined;
      this.#dialTick();
      // At the target, look again only now and then; losing a link brings the next tick forward.
      const satisfied = this.outboundCount >= this.#config.targetOutbound &&
        this.#dialing.size === 0;
      this.#scheduleDialTick(satisfied ? this.#config.exchangeIntervalMs : DIAL_TICK_MS);
    }, delayMs);
  }

  #dialTick(): void {
    let pending = 0;
    const seedsInFlight = new Set<string>();
    // Checks make no link, so they do not hold back the dials that do.
    for (const target of this.#dialing.values()) {
      if (target.kind !== "check") pending++;
      if (target.kind === "seed") seedsInFlight.add(target.address);
    }
    for (const record of this.#handshaking) {
      if (record.direction !== "outbound") continue;
      pending++;
      if (record.dial?.kind === "seed") seedsInFlight.add(record.dial.address);
    }
    const targets = this.#dialer.plan({
      now: this.#clock.now(),
      targetOutbound: this.#config.targetOutbound,
      outbound: this.outboundCount,
      pending,
      book: this.#book,
      busy: (id) => this.#busy(id),
      seedsInFlight,
    });
    for (const target of targets) this.#startDial(target);
  }

  #busy(id: string): boolean {
    if (id === this.selfId || this.#open.has(id) || this.#dialing.has(id)) return true;
    for (const record of this.#handshaking) if (record.remoteId === id) return true;
    return this.#isBanned(id);
  }

  #startDial(target: DialTarget): void {
    if (this.#stopped) return;
    const key = target.expectedId ?? `seed ${target.address}`;
    if (this.#dialing.has(key)) return;
    this.#dialing.set(key, target);
    this.#deps.transport.dial(target.address, target.expectedId, DIAL_TIMEOUT_MS).then(
      (link) => {
        this.#dialing.delete(key);
        this.#onDialed(link, target);
      },
      (error) => {
        this.#dialing.delete(key);
        this.#log.debug("dial failed", {
          address: target.address,
          kind: target.kind,
          error: String((error as Error)?.message ?? error),
        });
        this.#dialFailed(target);
      },
    );
  }

  #onDialed(link: Link, target: DialTarget): void {
    const remoteId = link.remoteId;
    if (this.#stopped) return link.close();
    if (target.kind === "check") {
      // It answered under its key (the transport checked the id): there, whatever was said.
      link.close();
      if (remoteId === target.expectedId) this.#book.touch(remoteId, this.#clock.now());
      return;
    }
    if (target.kind === "seed") this.#dialer.seedReached(target.address);
    if (
      (target.expectedId !== undefined && remoteId !== target.expectedId) ||
      remoteId === this.selfId || this.#open.has(remoteId) || this.#isBanned(remoteId)
    ) {
      return link.close();
    }
    const record = this.#newRecord(link, "outbound", target);
    this.#track(record);
    void this.#sendHello(record);
  }

  #dialFailed(target: DialTarget): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    this.counters.dials_failed++;
    switch (target.kind) {
      case "seed":
        this.#dialer.seedFailed(target.address, now);
        break;
      case "peer": {
        this.#book.dialFailed(target.expectedId, now);
        // Reported gone, and now a dial of our own failed: as good as a failed check. (The
        // check itself is not made while this dial is under way.)
        const entry = this.#book.get(target.expectedId);
        if (
          entry && !this.#open.has(entry.id) &&
          this.#reports.reportedGone(entry.id, entry.incarnation, now)
        ) this.#recordDeparture(entry.id, entry.incarnation);
        break;
      }
      case "probe":
        // A former neighbour that no longer answers has left, as far as this node can tell.
        if (!this.#open.has(target.expectedId)) {
          this.#recordDeparture(target.expectedId, target.incarnation);
        }
        break;
      case "check": {
        // Reported gone, and our own dial of it failed: now it counts, here.
        this.counters.departure_checks_failed++;
        const entry = this.#book.get(target.expectedId);
        if (
          !this.#open.has(target.expectedId) && entry &&
          entry.incarnation <= target.incarnation
        ) {
          this.#recordDeparture(target.expectedId, target.incarnation);
        }
        return;
      }
    }
    this.#scheduleDialTick(DIAL_TICK_MS);
  }

  // --- Handshake ------------------------------------------------------------------------------

  #sendHello(record: LinkRecord): MaybePromise<void> {
    const hello = {
      v: PROTOCOL_VERSION,
      net: this.#config.networkId,
      id: this.selfId,
      to: record.remoteId,
      role: this.#config.role,
      inc: this.#incarnation,
      port: this.#config.listenPort,
      short: this.outboundCount < this.#config.targetOutbound,
      ts: this.#clock.now(),
    };
    return andThen(this.#deps.auth.sign(helloProofBytes(hello)), (proof) => {
      this.#send(record, { t: "hello", ...hello, proof: encodeBase64(proof) });
    });
  }

  /** Checks that need no signature; a refusal reason or nothing. */
  #checkHello(record: LinkRecord, hello: Hello): RefusalReason | undefined {
    if (hello.net !== this.#config.networkId) return "wrong_network";
    if (hello.v !== PROTOCOL_VERSION) return "version";
    if (hello.id === this.selfId) return "self";
    if (hello.id !== record.remoteId || hello.to !== this.selfId) return "bad_proof";
    const now = this.#clock.now();
    if (Math.abs(hello.ts - now) > MAX_CLOCK_SKEW_MS) return "clock";
    if (!plausibleIncarnation(hello.inc, now)) return "clock";
    if (this.#isBanned(hello.id)) return "banned";
    return undefined;
  }

  #onHello(record: LinkRecord, hello: Hello): void {
    if (record.helloReceived) return this.#misbehave(record, "second hello");
    record.helloReceived = true;
    const refusal = this.#checkHello(record, hello);
    if (refusal) return this.#refuse(record, refusal);
    const proof = decodeBase64(hello.proof);
    record.queue = [];
    andThen(
      proof ? this.#deps.auth.verify(hello.id, helloProofBytes(hello), proof) : false,
      (verified) => {
        if (record.state !== "handshake") return;
        if (!verified) return this.#refuse(record, "bad_proof");
        if (record.direction === "outbound") {
          if (this.#open.has(hello.id)) return this.#closeLink(record, "ours");
          return this.#openLink(record, hello);
        }
        const refusal = this.#inboundRefusal(record, hello);
        if (refusal) return this.#refuse(record, refusal);
        // The slot is taken now: another hello checked while ours is being signed sees it.
        this.#acceptedInbound.add(record);
        andThen(this.#sendHello(record), () => {
          if (record.state === "handshake") this.#openLink(record, hello);
        });
      },
    );
  }

  #inboundRefusal(record: LinkRecord, hello: Hello): RefusalReason | undefined {
    const id = hello.id;
    if (this.#open.has(id)) return "duplicate";
    for (const other of this.#acceptedInbound) if (other.remoteId === id) return "duplicate";
    // Both ends dialled each other at once: the link dialled by the smaller id survives.
    const dialingThem = this.#dialing.has(id) ||
      [...this.#handshaking].some((other) =>
        other !== record && other.remoteId === id && other.direction === "outbound"
      );
    if (dialingThem && this.selfId < id) return "duplicate";
    const inbound = this.inboundCount + this.#acceptedInbound.size;
    if (inbound >= this.#config.maxInbound && !this.#makeRoomFor(hello)) return "full";
    return undefined;
  }

  /**
   * Full, but the newcomer is short of outbound links: evict one inbound peer at random, at most
   * once per exchange interval. Without this, a small network can settle where a short node's
   * every candidate is full and stay so; eviction moves the shortfall on until it lands where
   * there is room, and the once-per-interval limit bounds the churn.
   */
  #makeRoomFor(hello: Hello): boolean {
    const now = this.#clock.now();
    if (!hello.short || now < this.#nextEvictionAt) return false;
    const inbound = [...this.#open.values()].filter((other) => other.direction === "inbound");
    if (inbound.length === 0) return false;
    const victim = inbound[Math.floor(this.#random() * inbound.length)]!;
    this.#nextEvictionAt = now + this.#config.exchangeIntervalMs;
    this.counters.evictions++;
    this.#log.debug("evicting an inbound peer for a short newcomer", {
      evicted: victim.remoteId,
      newcomer: hello.id,
    });
    this.#send(victim, { t: "bye", reason: "pruned" });
    this.#closeLink(victim, "ours");
    return true;
  }

  #refuse(record: LinkRecord, reason: RefusalReason): void {
    this.counters.links_refused++;
    const peers = reason === "full"
      ? this.#book.sample(REFUSAL_SAMPLE_SIZE, this.#clock.now(), (id) => id === record.remoteId)
        .map((entry) => this.#toEntry(entry, false))
      : [];
    this.#log.debug("refusing a link", { peer: record.remoteId, reason });
    this.#send(record, { t: "refuse", reason, peers });
    this.#closeLink(record, "ours");
  }

  #onRefuse(record: LinkRecord, message: WireMessageOf<"refuse">): void {
    if (record.direction !== "outbound") return this.#misbehave(record, "refusal on inbound link");
    const now = this.#clock.now();
    for (const entry of message.peers) {
      // Heard like any list: a node reported gone is checked (a newcomer refused by full nodes
      // learns much of its book this way, after the reports went by).
      if (!plausibleIncarnation(entry.inc, now)) this.counters.claims_dropped++;
      else if (this.#book.learn(entry, now) === "added") this.#checkIfReported(entry, now);
    }
    const target = record.dial!;
    const later = now + FULL_BACKOFF_ROUNDS * this.#config.exchangeIntervalMs;
    switch (message.reason) {
      case "full":
      case "banned":
      case "clock":
        if (target.kind === "seed") this.#dialer.seedDeferred(target.address, later);
        this.#book.deferDial(record.remoteId, later);
        break;
      case "duplicate":
        break;
      case "wrong_network":
      case "version":
      case "bad_proof":
      case "self":
        if (target.kind === "seed") this.#dialer.seedFailed(target.address, now);
        this.#book.forget(record.remoteId);
        this.#log.warn("a peer refused us", { peer: record.remoteId, reason: message.reason });
        break;
    }
    this.#closeLink(record, "ours");
  }

  #openLink(record: LinkRecord, hello: Hello): void {
    const existing = this.#open.get(hello.id);
    if (existing && existing !== record) {
      // Two handshakes with one peer finished together: the first one open stays.
      return this.#closeLink(record, "ours");
    }
    const now = this.#clock.now();
    if (record.handshakeTimer) this.#clock.clearTimeout(record.handshakeTimer);
    record.handshakeTimer = undefined;
    this.#handshaking.delete(record);
    this.#acceptedInbound.delete(record);
    record.state = "open";
    record.openedAt = now;
    record.peer = {
      id: hello.id,
      role: hello.role,
      incarnation: hello.inc,
      address: record.dial?.address ?? joinAddress(record.link.remoteHost, hello.port),
    };
    this.#open.set(hello.id, record);
    this.#book.noteLinked(record.peer, now);
    this.#requests.linked(hello.id, record.peer.address);
    if (record.dial?.kind === "seed" && this.#trust.pin(record.dial.address, hello.id)) {
      this.#log.info("seed pinned to the node first met there", {
        address: record.dial.address,
        node_id: hello.id,
      });
      this.#deps.onSeedPinned?.(record.dial.address, hello.id);
    }
    this.counters.links_opened++;
    this.#log.debug("link open", { peer: hello.id, direction: record.direction });
    this.#broadcaster.linkOpened(hello.id);
    this.#pushPeers(record, this.#departureGapFor(hello, now));
    const queued = record.queue ?? [];
    record.queue = undefined;
    for (const message of queued) this.#dispatch(record, message);
  }

  // --- Messages -------------------------------------------------------------------------------

  #onMessage(record: LinkRecord, message: WireMessage): void {
    if (record.state === "closed") return;
    this.counters.messages_received++;
    this.messageCounts.received[message.t]++;
    const now = this.#clock.now();
    if (!record.floodCeiling.take(1, now)) {
      this.counters.rate_limited++;
      return this.#misbehave(record, "message rate far over the limit");
    }
    if (!record.budget.take(1, now)) {
      this.counters.messages_shed++;
      this.messageCounts.shed[message.t]++;
      return;
    }
    if (record.state === "handshake") {
      if (
        record.direction === "inbound" && !record.helloReceived && isRoutingMessage(message)
      ) return this.#handOver(record, message);
      if (message.t === "hello") return this.#onHello(record, message);
      if (message.t === "refuse") return this.#onRefuse(record, message);
      if (record.queue && record.queue.length < MAX_QUEUED_DURING_HANDSHAKE) {
        record.queue.push(message);
        return;
      }
      return this.#misbehave(record, `${message.t} before the handshake`);
    }
    this.#dispatch(record, message);
  }

  /**
   * An inbound link that opens with a query or a request instead of a hello is no neighbour
   * link: the request router takes it over (network/routing/side_link.ts).
   */
  #handOver(record: LinkRecord, first: WireMessage): void {
    if (record.handshakeTimer) this.#clock.clearTimeout(record.handshakeTimer);
    record.handshakeTimer = undefined;
    this.#handshaking.delete(record);
    record.state = "closed";
    this.#requests.adoptInbound(record.link, first);
  }

  #dispatch(record: LinkRecord, message: WireMessage): void {
    if (record.state !== "open") return;
    switch (message.t) {
      case "hello":
      case "refuse":
        return this.#misbehave(record, `${message.t} on an open link`);
      case "peers":
        return this.#onPeers(record, message);
      case "bcast":
        return this.#broadcaster.receive(record.remoteId, message);
      case "ihave":
      case "graft":
      case "prune":
        return this.#broadcaster.receiveTree(record.remoteId, message);
      case "retained_req":
      case "retained":
        return this.#broadcaster.receiveRetained(record.remoteId, message);
      case "find":
      case "found":
      case "call":
      case "answer":
        return this.#requests.receive(record.remoteId, message);
      case "bye":
        return this.#onBye(record, message);
    }
  }

  #onBye(record: LinkRecord, message: WireMessageOf<"bye">): void {
    const now = this.#clock.now();
    // Closed first: what follows may record the peer gone, which holds only for unlinked ones.
    this.#closeLink(record, "bye");
    switch (message.reason) {
      case "shutdown":
        return this.#onGoodbye(record.peer!, message.goodbye);
      case "pruned":
      case "misbehaving":
        return this.#book.deferDial(
          record.remoteId,
          now + FULL_BACKOFF_ROUNDS * this.#config.exchangeIntervalMs,
        );
    }
  }

  /**
   * A neighbour shuts down. With its signed goodbye it is gone for everyone: the signature
   * travels on, and each node checks it. Without one (or with one that does not verify) it is
   * like a link that broke: probed, and recorded gone here only if it does not answer.
   */
  #onGoodbye(peer: NonNullable<LinkRecord["peer"]>, goodbye: Goodbye | undefined): void {
    const now = this.#clock.now();
    const usable = goodbye && goodbye.inc >= peer.incarnation &&
      plausibleIncarnation(goodbye.inc, now);
    const signature = usable ? decodeBase64(goodbye.sig) : undefined;
    andThen(
      signature
        ? this.#deps.auth.verify(
          peer.id,
          goodbyeBytes(this.#config.networkId, peer.id, goodbye!.inc),
          signature,
        )
        : false,
      (verified) => {
        if (this.#stopped || this.#open.has(peer.id)) return;
        if (verified) return this.#recordDeparture(peer.id, goodbye!.inc, goodbye!.sig);
        this.#probe(peer);
      },
    );
  }

  #onPeers(record: LinkRecord, message: WireMessageOf<"peers">): void {
    const now = this.#clock.now();
    for (const entry of message.peers) {
      if (!plausibleIncarnation(entry.inc, now)) {
        this.counters.claims_dropped++;
        continue;
      }
      if (entry.id === record.remoteId) {
        // The neighbour's word about itself, over its own link: only its incarnation counts (we
        // know its address). Its `n` entries install no route (see router.ts).
        // A multiaddr is where it says it is reached (a relay circuit: see nat.ts); its own
        // word over its own link, and a dial checks the id anyway.
        const moved = isMultiaddrAddress(entry.addr) && entry.addr !== record.peer!.address;
        if (moved) record.peer!.address = entry.addr;
        if (entry.inc > record.peer!.incarnation || moved) {
          record.peer!.incarnation = Math.max(entry.inc, record.peer!.incarnation);
          this.#book.noteLinked(record.peer!, now);
        }
        continue;
      }
      if (entry.id === this.selfId) continue;
      const outcome = this.#book.learn(entry, now);
      if (outcome === "added") this.#checkIfReported(entry, now);
      else if (outcome === "refused") this.#noteStaleListed(record, entry);
    }
    const signed: Departure[] = [];
    for (const departure of message.gone) {
      this.#noteGoneHeard(record, departure);
      if (departure.sig) signed.push(departure);
      else this.#onDepartureReport(record, departure, now);
    }
    this.#checkGoodbyes(record, signed, 0);
  }

  /**
   * The peer listed a node we know has left: it missed the departure (its check was not made, or
   * no report reached it), and would go on listing the node to others, who refuse it as we do and
   * say nothing. Told with the next push, it checks the node (unsigned) or drops it (signed), as
   * with any departure.
   */
  #noteStaleListed(record: LinkRecord, entry: PeerEntry): void {
    const departure = this.#book.departure(entry.id);
    if (!departure || entry.inc > departure.incarnation) return; // Refused for another reason.
    const stale = record.staleListed ??= new Set();
    if (stale.size >= MAX_STALE_TOLD) return;
    stale.add(entry.id);
    this.#schedulePush();
  }

  #noteGoneHeard(record: LinkRecord, departure: Departure): void {
    const heard = record.goneHeard ??= new Map();
    const known = heard.get(departure.id);
    if (known === undefined && heard.size >= MAX_GONE_HEARD) return; // Only an optimisation.
    const rank = goneRank(departure);
    if (known === undefined || rank > known) heard.set(departure.id, rank);
  }

  /** Whether `record`'s peer sent us this departure, or a better one (newer, or signed). */
  #echo(record: LinkRecord, departure: Departure): boolean {
    const rank = goneRank(departure);
    const heard = record.goneHeard?.get(departure.id);
    if (heard !== undefined && heard >= rank) return true;
    const before = record.goneHeardBefore?.get(departure.id);
    return before !== undefined && before >= rank;
  }

  /** A push to the peer went out: what it told us before it is kept one push longer. */
  #agePushed(record: LinkRecord): void {
    record.goneHeardBefore = record.goneHeard;
    record.goneHeard = undefined;
  }

  /** Signed departures one at a time: a forged one ends the link, and the rest go unchecked. */
  #checkGoodbyes(record: LinkRecord, departures: readonly Departure[], index: number): void {
    if (index >= departures.length || record.state !== "open") return;
    andThen(this.#onSignedDeparture(record, departures[index]!), (honest) => {
      if (honest) this.#checkGoodbyes(record, departures, index + 1);
    });
  }

  /** Whether a departure is worth looking at: a plausible number, and news. */
  #departureNews(departure: Departure, now: number): boolean {
    if (!plausibleIncarnation(departure.inc, now)) {
      this.counters.claims_dropped++;
      return false;
    }
    const known = this.#book.departure(departure.id);
    return !(known && known.incarnation >= departure.inc);
  }

  /** A goodbye signed by the departed node, passed on; false when the signature is forged. */
  #onSignedDeparture(from: LinkRecord, departure: Departure): MaybePromise<boolean> {
    const now = this.#clock.now();
    if (departure.id === this.selfId) {
      this.#onOwnDeparture(departure, now);
      return true;
    }
    if (this.#open.has(departure.id) || !this.#departureNews(departure, now)) return true;
    const signature = decodeBase64(departure.sig!);
    const signed = goodbyeBytes(this.#config.networkId, departure.id, departure.inc);
    return andThen(
      signature ? this.#deps.auth.verify(departure.id, signed, signature) : false,
      (verified) => {
        if (!verified) {
          // An honest node checks a goodbye before it passes it on: this one was made up.
          this.counters.forged_dropped++;
          this.#misbehave(from, "a departure with a forged goodbye");
          return false;
        }
        if (this.#stopped || this.#open.has(departure.id)) return true;
        const at = this.#clock.now();
        if (this.#book.learnDeparture(departure, at)) this.#departureLearned(departure.id);
        return true;
      },
    );
  }

  /**
   * A neighbour's unsigned word that a node left. Never believed: it is passed on once (so that
   * nodes further away look too) and, if the node is in our book, we dial it ourselves; only a
   * failed dial records it gone (see the "check" dial).
   */
  #onDepartureReport(from: LinkRecord, departure: Departure, now: number): void {
    this.counters.departure_reports++;
    if (departure.id === this.selfId) return this.#onOwnDeparture(departure, now);
    if (!this.#departureNews(departure, now)) return;
    if (departure.age > this.#announceMs) return;
    const linked = this.#open.get(departure.id);
    if (linked) {
      // Linked to it right now, so it is not gone: tell it, so that it can refute the report.
      if (linked !== from && linked.peer && departure.inc === linked.peer.incarnation) {
        this.#send(linked, { t: "peers", peers: [], gone: [departure] });
      }
      return;
    }
    const entry = this.#book.get(departure.id);
    // It has restarted since, as far as we know: the report is about a past life.
    if (entry && entry.tried && entry.incarnation > departure.inc) return;
    if (this.#reports.hear(departure, from.remoteId, now)) this.#schedulePush();
    // A copy of a report heard already still checks a node kept unchecked for want of budget
    // (a node that lists it to us after it was found gone elsewhere sends such a copy).
    else if (!entry || !this.#reports.reportedGone(entry.id, entry.incarnation, now)) return;
    if (entry) this.#check(entry.id, entry.address, entry.incarnation, now);
  }

  /** Dials a reported node to see for ourselves (see {@link DepartureReports.check}). */
  #check(id: string, address: string, incarnation: number, now: number): void {
    switch (this.#reports.check(id, now)) {
      case "checked":
        return;
      case "spent":
        this.counters.departure_checks_skipped++;
        return;
      case "check":
        this.counters.departure_checks++;
        this.#startDial({ kind: "check", address, expectedId: id, incarnation });
    }
  }

  /** A node just learned of was reported gone lately: see for ourselves, as those who heard did. */
  #checkIfReported(entry: PeerEntry, now: number): void {
    if (!this.#reports.reportedGone(entry.id, entry.inc, now)) return;
    this.#check(entry.id, entry.addr, entry.inc, now);
  }

  /**
   * Someone says we left. A report of the incarnation we have now is refuted with the next one
   * (stepped from our own number and clock, once a round at most); a higher one is a number we
   * never had, made up: dropped, not refuted, so no peer can push ours out of range.
   */
  #onOwnDeparture(departure: Departure, now: number): void {
    if (departure.inc > this.#incarnation) {
      this.counters.claims_dropped++;
      return;
    }
    if (departure.inc < this.#incarnation || now < this.#nextRefutationAt) return;
    const next = nextIncarnation(this.#incarnation, now);
    if (next === undefined) return;
    this.#incarnation = next;
    this.#nextRefutationAt = now + this.#config.exchangeIntervalMs;
    this.counters.refutations++;
    this.#log.info("refuting a report of this node's departure", { incarnation: next });
    this.#signGoodbye();
    for (const record of this.#open.values()) this.#pushPeers(record);
  }

  /** Signs the goodbye for the current incarnation ahead of need. */
  #signGoodbye(): void {
    const inc = this.#incarnation;
    andThen(this.#deps.auth.sign(goodbyeBytes(this.#config.networkId, this.selfId, inc)), (sig) => {
      if (inc === this.#incarnation) this.#goodbye = { inc, sig: encodeBase64(sig) };
    });
  }

  #recordDeparture(id: string, incarnation: number, sig?: string): void {
    if (this.#book.recordDeparture(id, incarnation, this.#clock.now(), sig)) {
      this.#departureLearned(id);
    }
  }

  #departureLearned(id: string): void {
    this.counters.departures_recorded++;
    this.#broadcaster.forgetOrigin(id);
    this.#requests.targetDeparted(id);
    this.#deps.onDeparture?.(id);
    this.#schedulePush();
  }

  /** Passes departures and reports on soon, batched, rather than at the next exchange round. */
  #schedulePush(): void {
    if (this.#departurePush || this.#stopped) return;
    const delay = Math.max(
      DEPARTURE_PUSH_DELAY_MS,
      this.#lastDeparturePushAt + DEPARTURE_PUSH_INTERVAL_MS - this.#clock.now(),
    );
    this.#departurePush = this.#clock.setTimeout(() => {
      this.#departurePush = undefined;
      const now = this.#clock.now();
      this.#lastDeparturePushAt = now;
      // Copied once for every neighbour (ages capped for the wire), not once for each.
      const reports = this.#reports.drain(now).map((report) => ({
        from: report.from,
        departure: report.departure.age > MAX_AGE_MS
          ? { ...report.departure, age: MAX_AGE_MS }
          : report.departure,
      }));
      const memo: DeparturesMemo = new Map();
      for (const record of this.#open.values()) {
        const passed: Departure[] = [];
        for (const { from, departure } of reports) {
          if (passed.length >= MAX_EXCHANGE_DEPARTURES / 2) break;
          if (from !== record.remoteId && departure.id !== record.remoteId) passed.push(departure);
        }
        this.#pushDepartures(record, passed, memo);
      }
    }, delay);
  }

  // --- Periodic work --------------------------------------------------------------------------

  #exchangeRound(): void {
    const now = this.#clock.now();
    for (const record of this.#open.values()) {
      this.#book.touch(record.remoteId, now);
      this.#pushPeers(record);
    }
    this.#book.expire(now);
    this.#reports.expire(now);
  }

  /**
   * The departures a new link's first list leaves out: those that happened while the peer was
   * in the network, which it heard as they went by, over its other links. Its uptime is its
   * hello's time less its incarnation, both on its own clock; it is given a round to join, and
   * the last round's departures go anyway (they may still be on their way to it). A peer up
   * less than two rounds gets every departure still announced. When a neighbour leaves, each of
   * its ~16 neighbours links anew, and sending each new link the whole list both ways was a
   * third of the departure entries sent under churn. A peer that claims a longer uptime than it
   * has only gets less from us.
   */
  #departureGapFor(hello: Hello, now: number): DepartureGap | undefined {
    const round = this.#config.exchangeIntervalMs;
    const uptime = hello.ts - hello.inc;
    if (!(uptime >= 2 * round)) return undefined;
    return { after: now - uptime + round, upTo: now - round };
  }

  /** Our neighbours, a sample of the book and new departures, to one neighbour. */
  #pushPeers(record: LinkRecord, skip?: DepartureGap): void {
    const now = this.#clock.now();
    const entries: PeerEntry[] = [this.#selfEntry()];
    for (const other of this.#open.values()) {
      if (entries.length >= EXCHANGE_SAMPLE_SIZE / 2) break;
      if (other === record || !other.peer) continue;
      entries.push({
        id: other.remoteId,
        addr: other.peer.address,
        role: other.peer.role,
        inc: other.peer.incarnation,
        age: 0,
        n: true,
      });
    }
    const listed = new Set(entries.map((entry) => entry.id));
    for (
      const entry of this.#book.sample(
        EXCHANGE_SAMPLE_SIZE - entries.length,
        now,
        (id) => id === record.remoteId || listed.has(id),
      )
    ) entries.push(this.#toEntry(entry, false));
    const { departures, mark: next } = this.#book.departuresSince(
      record.departureMark,
      now,
      MAX_EXCHANGE_DEPARTURES,
      skip,
    );
    record.departureMark = next;
    const gone = departures.filter((departure) => !this.#echo(record, departure));
    this.#addStaleTold(record, gone);
    this.#agePushed(record);
    this.#send(record, { t: "peers", peers: entries, gone });
  }

  /** New departures from the book, and the reports being passed on (at most half the room). */
  #pushDepartures(record: LinkRecord, passed: readonly Departure[], memo?: DeparturesMemo): void {
    const limit = MAX_EXCHANGE_DEPARTURES - passed.length;
    // Neighbours pushed to together share a mark: their list is read from the book once.
    const key = `${record.departureMark}/${limit}`;
    let since = memo?.get(key);
    if (!since) {
      since = this.#book.departuresSince(record.departureMark, this.#clock.now(), limit);
      memo?.set(key, since);
    }
    const { departures, mark } = since;
    record.departureMark = mark;
    const now = this.#clock.now();
    const gone: Departure[] = [];
    for (const departure of departures) {
      // Our own failed check of a node whose report we passed on to this peer: it has the
      // report, which says as much (both unsigned), and checks the node itself.
      if (
        departure.sig === undefined && this.#reports.passedOnTo(departure, record.openedAt, now)
      ) {
        continue;
      }
      if (!this.#echo(record, departure)) gone.push(departure);
    }
    for (const departure of passed) if (!this.#echo(record, departure)) gone.push(departure);
    this.#addStaleTold(record, gone);
    this.#agePushed(record);
    if (gone.length > 0) this.#send(record, { t: "peers", peers: [], gone });
  }

  /** Adds the departures of the nodes the peer listed as if about (see `staleListed`), within the wire's room. */
  #addStaleTold(record: LinkRecord, gone: Departure[]): void {
    const stale = record.staleListed;
    if (!stale) return;
    record.staleListed = undefined;
    const now = this.#clock.now();
    const listed = new Set(gone.map((departure) => departure.id));
    for (const id of stale) {
      if (gone.length >= MAX_EXCHANGE_DEPARTURES) break;
      const departure = this.#book.departure(id);
      if (departure && !listed.has(id)) gone.push(wireDeparture(departure, now));
    }
  }

  #pingRound(): void {
    for (const record of this.#open.values()) {
      if (record.pingInFlight) continue;
      record.pingInFlight = true;
      record.link.ping(PING_TIMEOUT_MS).then(
        (rtt) => {
          record.pingInFlight = false;
          record.rttMs = rtt;
          record.missedPings = 0;
        },
        () => {
          record.pingInFlight = false;
          record.missedPings++;
          if (record.missedPings >= this.#config.pingMisses && record.state === "open") {
            this.#log.info("peer missed its pings", { peer: record.remoteId });
            record.probeAfterClose = true;
            this.#closeLink(record, "ours");
          }
        },
      );
    }
  }

  #toEntry(
    entry: { id: string; address: string; role: Role; incarnation: number; lastSeen: number },
    neighbour: boolean,
  ): PeerEntry {
    return {
      id: entry.id,
      addr: entry.address,
      role: entry.role,
      inc: entry.incarnation,
      age: Math.min(MAX_AGE_MS, Math.max(0, this.#clock.now() - entry.lastSeen)),
      ...(neighbour ? { n: true } : {}),
    };
  }

  #answer(origin: string, request: NetworkRequest, deadline: number): MaybePromise<NetworkReply> {
    switch (request.type) {
      case "node.ping":
        return {
          type: "node.pong",
          node_id: this.selfId,
          role: this.#config.role,
          version: this.#deps.version,
          time: this.#clock.now(),
        };
      case "app":
        return this.#deps.onAppRequest?.(origin, request, deadline) ??
          {
            type: "error",
            code: "not_found",
            message: `node ${this.selfId} has no handler for ${request.topic}`,
          };
    }
  }

  #every(delay: () => number, run: () => void): void {
    const schedule = () => {
      const timer = this.#clock.setTimeout(() => {
        this.#timers.delete(timer);
        if (this.#stopped) return;
        run();
        schedule();
      }, delay());
      this.#timers.add(timer);
    };
    schedule();
  }

  #jittered(intervalMs: number): number {
    return intervalMs * (1 - EXCHANGE_JITTER + 2 * EXCHANGE_JITTER * this.#random());
  }
}

/**
 * Orders departures of one node: a later incarnation first, then a signed one over a report.
 * Exact: incarnations are at most 2^50 (wire.ts), so twice one plus one stays below 2^53.
 */
function goneRank(departure: Departure): number {
  return departure.inc * 2 + (departure.sig === undefined ? 0 : 1);
}

/**
 * How long, at most, until every node has forgotten a node that vanished
 * without a word (a cut cable: the worst case; a goodbye or a closed socket
 * skips the pings): its pings time out `pingMisses` times, the probe's dial
 * times out, the report crosses the network in `hops` batched steps, and
 * each node that lists the node dials it itself (a check), which times out
 * too: nobody drops a node on another's word.
 */
export function removalBoundMs(
  config: Pick<PeerNodeConfig, "pingIntervalMs" | "pingMisses">,
  hops = 8,
  perHopMs = DEPARTURE_PUSH_DELAY_MS + 500,
): number {
  return config.pingMisses * (config.pingIntervalMs + PING_TIMEOUT_MS) + 2 * DIAL_TIMEOUT_MS +
    hops * perHopMs;
}
