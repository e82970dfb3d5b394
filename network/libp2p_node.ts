/**
 * Links over js-libp2p: WebSockets and TCP, Noise (which proves each side's
 * key, so a link's remote id is authenticated), Yamux, identify and ping. One
 * stream of {@link LINK_PROTOCOL} per link carries length-prefixed frames;
 * bytes are decoded here, under a frame-size limit and a byte budget, and only
 * checked messages reach the protocol.
 *
 * Behind NAT (decisions in nat.ts): every node serves as a circuit relay v2
 * (with limits), AutoNAT checks public addresses, and a node that finds itself
 * behind a NAT reserves slots on {@link RELAY_RESERVATIONS} relays and
 * advertises a circuit through one (`onAdvertised`); links run over relayed
 * (limited) connections too, and DCUtR upgrades them where it can (dcutr_hand_over.ts: a
 * public node's relayed link to a NAT'd one), the relayed connection draining into the direct
 * one. AutoNAT checks addresses on connections of its own (autonat_fresh_dial.ts).
 */
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { circuitRelayServer, circuitRelayTransport } from "@libp2p/circuit-relay-v2";
import { privateKeyFromRaw } from "@libp2p/crypto/keys";
import { identify } from "@libp2p/identify";
import type { Connection, Libp2p, PeerId, Stream } from "@libp2p/interface";
import { ping } from "@libp2p/ping";
import { tcp } from "@libp2p/tcp";
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr";
import { peerIdFromString } from "@libp2p/peer-id";
import { createLibp2p } from "libp2p";
import type { Logger } from "../mod/mod.ts";
import {
  LINK_PROTOCOL,
  MAX_FRAME_BYTES,
  MAX_HANDSHAKING_LINKS,
  MAX_LINK_SEND_BUFFER_BYTES,
  RATE_LIMIT_BYTES_PER_S,
} from "./constants.ts";
import { isMultiaddrAddress } from "./address.ts";
import { autoNATWithFreshDials } from "./autonat_fresh_dial.ts";
import { dcutrHandingOver } from "./dcutr_hand_over.ts";
import {
  advertisedAddress,
  isCircuitAddress,
  RELAY_DATA_LIMIT_BYTES,
  RELAY_DURATION_LIMIT_MS,
  RELAY_MAX_RESERVATIONS,
  RELAY_RESERVATION_TIMEOUT_MS,
  RELAY_RESERVATION_TTL_MS,
  RELAY_RESERVATIONS,
  RELAYED_DRAIN_MS,
  type RelayHold,
  seenBehindNat,
} from "./nat.ts";
import { TokenBucket } from "./rate_limit.ts";
import type { Link, LinkDirection, LinkEvents, Transport } from "./transport.ts";
import { webSocketsWithNoDelay } from "./ws_dialer.ts";
import { windowUpdatesAtHalf } from "./yamux_window.ts";
import { decodeWireMessage, encodeFrame, FrameDecoder, type WireMessage } from "./wire.ts";

export type Libp2pTransportOptions = {
  /** The node's Ed25519 seed and public key; the libp2p peer id must equal `nodeId`. */
  seed: Uint8Array;
  publicKey: Uint8Array;
  nodeId: string;
  listenHost: string;
  listenPort: number;
  /** The TCP listener's port (DCUtR punches holes over TCP); 0 or absent: one the system picks. */
  tcpPort?: number;
  /** Connections libp2p keeps at most (links, probes and handshakes together). */
  maxConnections: number;
  log: Logger;
  /** Told about every link a remote node opens. */
  onInbound: (link: Link) => void;
  /**
   * Told when the address to advertise changes (nat.ts): `undefined` where peers see this node,
   * a relay circuit, or `null` when behind a NAT with no relay yet.
   */
  onAdvertised?: (address: string | undefined | null) => void;
  /** Bytes a second a peer may send on one link (four seconds' worth in a burst); 2 MiB if absent. */
  rateLimitBytesPerS?: number;
  /** Told each time DCUtR replaced a relayed connection with a direct one (this node dialled it). */
  onRelayedUpgraded?: () => void;
};

/** How long stopping waits for links to flush their last messages (goodbyes). */
const STOP_FLUSH_MS = 3_000;
/** Events that arrive before the protocol attaches, at most (then the link is dropped). */
const MAX_EARLY_EVENTS = 64;

type Services = {
  identify: ReturnType<ReturnType<typeof identify>>;
  ping: { ping: PingFn };
  relay: { reservations: { has(peer: PeerId): boolean } };
};
/** What this module uses of the circuit relay transport's reservation store. */
type ReservationStore = {
  hasReservation(peer: PeerId): boolean;
  addEventListener(type: string, listener: () => void): void;
};
/** The part of libp2p's internals this module reaches into (see {@link reservationStoreOf}). */
type Internals = {
  components: {
    transportManager: {
      getTransports(): unknown[];
      listen(addresses: Multiaddr[]): Promise<void>;
    };
    addressManager: {
      getAddressesWithMetadata(): Array<{ multiaddr: Multiaddr; verified: boolean; type: string }>;
    };
  };
};
/** Protocols whose streams may run over a relayed connection (which libp2p marks limited). */
const ON_LIMITED = { runOnLimitedConnection: true } as const;
type PingFn = (
  peer: Connection["remotePeer"],
  options?: { signal?: AbortSignal },
) => Promise<number>;

/**
 * An address (address.ts) as a multiaddr: `host:port` (IPv6 in brackets) as a WebSocket one, a
 * multiaddr string as it is; `peerId` is appended unless the address names one already.
 */
export function toMultiaddr(address: string, peerId?: string): Multiaddr {
  if (isMultiaddrAddress(address)) {
    const parsed = multiaddr(address);
    return peerId && !address.endsWith(`/p2p/${peerId}`)
      ? parsed.encapsulate(`/p2p/${peerId}`)
      : parsed;
  }
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  const port = address.slice(colon + 1);
  const protocol = host.includes(":")
    ? "ip6"
    : /^\d{1,3}(\.\d{1,3}){3}$/.test(host)
    ? "ip4"
    : "dns4";
  return multiaddr(`/${protocol}/${host}/tcp/${port}/ws${peerId ? `/p2p/${peerId}` : ""}`);
}

/** The IP (or name) at the front of a multiaddr. */
function hostOf(address: Multiaddr): string {
  const first = address.getComponents()[0];
  return first?.value ?? "unknown";
}

export class Libp2pTransport implements Transport {
  readonly libp2p: Libp2p<Services>;
  #log: Logger;
  #listen: string;
  #links = new Set<StreamLink>();
  #reservations: ReservationStore;
  /** Our IPs: the listener's, and each outbound socket's local one. */
  #ownHosts: Set<string>;
  #behindNat = false;
  #reserving = false;
  #advertised: string | undefined | null = undefined;
  #stopping = false;
  #onAdvertised: Libp2pTransportOptions["onAdvertised"];
  #onRelayedUpgraded: Libp2pTransportOptions["onRelayedUpgraded"];
  #bytesPerS: number;
  /** Relayed connections DCUtR replaced, each closed once its links are done (or at a deadline). */
  #retiring = new Map<Connection, ReturnType<typeof setTimeout>>();

  private constructor(
    libp2p: Libp2p<Services>,
    options: Libp2pTransportOptions,
    listen: string,
    ownHosts: Set<string>,
  ) {
    this.libp2p = libp2p;
    this.#log = options.log;
    this.#listen = listen;
    this.#ownHosts = ownHosts;
    this.#onAdvertised = options.onAdvertised;
    this.#onRelayedUpgraded = options.onRelayedUpgraded;
    this.#bytesPerS = options.rateLimitBytesPerS ?? RATE_LIMIT_BYTES_PER_S;
    this.#reservations = reservationStoreOf(libp2p);
  }

  /** Creates the libp2p node, listens, and hands inbound links to `onInbound`. */
  static async start(options: Libp2pTransportOptions): Promise<Libp2pTransport> {
    const privateKey = privateKeyFromRaw(
      Uint8Array.from([...options.seed, ...options.publicKey]),
    );
    const listen = toMultiaddr(`${bracket(options.listenHost)}:${options.listenPort}`).toString();
    const ip = options.listenHost.includes(":") ? "ip6" : "ip4";
    const ownHosts = new Set<string>();
    if (!/^(0\.0\.0\.0|::)$/.test(options.listenHost)) ownHosts.add(options.listenHost);
    windowUpdatesAtHalf();
    // DCUtR is made before the transport it reports to (which needs libp2p) exists.
    const upgraded: { to?: Libp2pTransport } = {};
    const libp2p = await createLibp2p({
      privateKey,
      addresses: { listen: [listen, `/${ip}/${options.listenHost}/tcp/${options.tcpPort ?? 0}`] },
      transports: [
        webSocketsWithNoDelay((host) => ownHosts.add(host)),
        tcp(),
        circuitRelayTransport({ reservationCompletionTimeout: RELAY_RESERVATION_TIMEOUT_MS }),
      ],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      // Two pings in flight per connection at most (ours, one link per connection, one at a time).
      services: {
        identify: identify(),
        ping: ping({ maxInboundStreams: 4, maxOutboundStreams: 4, ...ON_LIMITED }),
        autoNAT: autoNATWithFreshDials(),
        dcutr: dcutrHandingOver((relayed) => {
          if (upgraded.to) upgraded.to.#retire(relayed);
          else relayed.close().catch(() => {});
        }),
        relay: circuitRelayServer({
          reservations: {
            maxReservations: RELAY_MAX_RESERVATIONS,
            reservationTtl: RELAY_RESERVATION_TTL_MS,
            applyDefaultLimit: true,
            defaultDataLimit: RELAY_DATA_LIMIT_BYTES,
            defaultDurationLimit: RELAY_DURATION_LIMIT_MS,
          },
        }),
      },
      // Liveness is the protocol's job (pings with a miss count, then a probe); libp2p's own
      // monitor aborts connections on one slow ping, which a busy machine produces.
      connectionMonitor: { enabled: false },
      connectionManager: {
        maxConnections: options.maxConnections,
        maxIncomingPendingConnections: MAX_HANDSHAKING_LINKS,
        // Every peer of a test network dials from 127.0.0.1; the protocol has its own limits.
        inboundConnectionThreshold: 1_000,
      },
    }) as unknown as Libp2p<Services>;
    if (libp2p.peerId.toString() !== options.nodeId) {
      await libp2p.stop();
      throw new Error(
        `libp2p derived peer id ${libp2p.peerId} from the node key, expected ${options.nodeId}`,
      );
    }
    const transport = new Libp2pTransport(libp2p, options, listen, ownHosts);
    upgraded.to = transport;
    // A neighbour link, a request link and a lookup query may share one connection.
    await libp2p.handle(LINK_PROTOCOL, (stream: Stream, connection: Connection) => {
      options.onInbound(transport.#adopt(stream, connection, "inbound"));
    }, { maxInboundStreams: 4, maxOutboundStreams: 4, ...ON_LIMITED });
    transport.#watchReachability();
    return transport;
  }

  /** What this node advertises now (see `onAdvertised`). */
  advertised(): string | undefined | null {
    return this.#advertised;
  }

  #watchReachability(): void {
    const update = () => this.#updateAdvertised();
    this.libp2p.addEventListener("peer:identify", (event) => {
      const { connection, observedAddr } = event.detail;
      // Only a direct WebSocket connection we opened says where our packets come from.
      if (
        connection.direction !== "outbound" || connection.limits !== undefined ||
        !observedAddr || !String(connection.remoteAddr).includes("/ws")
      ) return;
      if (!this.#behindNat && seenBehindNat(String(observedAddr), this.#ownHosts)) {
        this.#behindNat = true;
        this.#log.info("behind a NAT: reserving relay slots", { seen_as: String(observedAddr) });
        this.#reserveRelays();
      }
      update();
    });
    this.libp2p.addEventListener("self:peer:update", update);
    this.libp2p.addEventListener("connection:close", update);
    this.#reservations.addEventListener("relay:created-reservation", update);
    this.#reservations.addEventListener("relay:removed", update);
  }

  /** Listening on `/p2p-circuit` makes the relay transport find relays and reserve a slot each. */
  #reserveRelays(): void {
    if (this.#reserving) return;
    this.#reserving = true;
    const circuits = Array.from({ length: RELAY_RESERVATIONS }, () => multiaddr("/p2p-circuit"));
    (this.libp2p as unknown as Internals).components.transportManager.listen(circuits)
      .catch((error) =>
        this.#log.warn("cannot reserve relay slots", { error: (error as Error).message })
      );
  }

  #updateAdvertised(): void {
    // Connections closing at shutdown say nothing about where we are reached.
    if (this.#stopping) return;
    const selfId = this.libp2p.peerId.toString();
    const relays = this.#relayHolds();
    const next = advertisedAddress(selfId, {
      behindNat: this.#behindNat,
      confirmedPublic: this.#confirmedPublic(),
      relays,
    }, this.#advertised);
    if (next === this.#advertised) return;
    this.#advertised = next;
    this.#log.info("advertised address", {
      address: next ?? (next === null ? "none" : "seen"),
      relays: relays.length,
    });
    this.#onAdvertised?.(next);
  }

  /** Relays we hold a reservation on, each with the address of our direct connection to it. */
  #relayHolds(): RelayHold[] {
    const holds: RelayHold[] = [];
    for (const connection of this.libp2p.getConnections()) {
      if (connection.status !== "open" || connection.limits !== undefined) continue;
      if (isCircuitAddress(String(connection.remoteAddr))) continue;
      if (!this.#reservations.hasReservation(connection.remotePeer)) continue;
      const relayId = connection.remotePeer.toString();
      if (holds.some((hold) => hold.relayId === relayId)) continue;
      holds.push({ relayId, reachedAt: String(connection.remoteAddr) });
    }
    return holds;
  }

  /** AutoNAT confirmed a public (not private) address of our WebSocket listener. */
  #confirmedPublic(): boolean {
    const port = /\/tcp\/(\d+)\/ws/.exec(this.#listen)?.[1];
    return (this.libp2p as unknown as Internals).components.addressManager
      .getAddressesWithMetadata()
      .some(({ multiaddr: address, verified, type }) =>
        verified && (type === "observed" || type === "ip-mapping") &&
        String(address).includes(`/tcp/${port}/ws`)
      );
  }

  /** The addresses libp2p listens on, as multiaddrs (the configured one when it lists none). */
  listening(): string[] {
    const addresses = this.libp2p.getMultiaddrs().map(String);
    return addresses.length > 0 ? addresses : [this.#listen];
  }

  async dial(address: string, expectedId: string | undefined, timeoutMs: number): Promise<Link> {
    const signal = AbortSignal.timeout(timeoutMs);
    const target = toMultiaddr(address, expectedId);
    for (let attempt = 1;; attempt++) {
      const connection = await this.libp2p.dial(await this.#dialTargets(target, expectedId), {
        signal,
      });
      try {
        const stream = await connection.newStream(LINK_PROTOCOL, { signal, ...ON_LIMITED });
        return this.#adopt(stream, connection, "outbound");
      } catch (error) {
        // libp2p hands out a connection that is already closing (the old link's, say) once;
        // wait until it is gone and dial afresh rather than report the peer unreachable.
        const stale = connection.status !== "open";
        if (this.#linksOn(connection) === 0) await connection.close().catch(() => {});
        if (!stale || attempt >= 2 || signal.aborted) throw error;
      }
    }
  }

  /**
   * The address asked for, then the node's other circuits that identify told us of: a node
   * behind NAT that lost the relay named in its address is still reached through its other one.
   */
  async #dialTargets(target: Multiaddr, expectedId: string | undefined): Promise<Multiaddr[]> {
    if (!expectedId) return [target];
    // Unknown to the peer store (or an id it cannot parse): the address asked for only.
    const known = await Promise.resolve()
      .then(() => this.libp2p.peerStore.get(peerIdFromString(expectedId)))
      .then((peer) => peer.addresses.map(({ multiaddr: address }) => address))
      .catch(() => [] as Multiaddr[]);
    const circuits = known
      .filter((address) => isCircuitAddress(String(address)))
      .map((address) => toMultiaddr(String(address), expectedId))
      .filter((address) => !address.equals(target));
    return [target, ...circuits.slice(0, RELAY_RESERVATIONS)];
  }

  /**
   * DCUtR made a direct connection to the peer of `relayed`: new links go there (libp2p prefers
   * an unlimited connection), those on `relayed` finish (a request under way is answered), and
   * it closes when the last of them has, or at {@link RELAYED_DRAIN_MS} with them.
   */
  #retire(relayed: Connection): void {
    if (this.#retiring.has(relayed)) return;
    this.#log.info("relayed connection upgraded to a direct one", {
      peer: relayed.remotePeer.toString(),
      links: this.#linksOn(relayed),
    });
    this.#onRelayedUpgraded?.();
    // A short-lived one (a lookup query's) may be gone already: the direct connection stays.
    if (relayed.status !== "open") return;
    this.#retiring.set(relayed, setTimeout(() => this.#closeRetired(relayed), RELAYED_DRAIN_MS));
    if (this.#linksOn(relayed) === 0) this.#closeRetired(relayed);
  }

  #closeRetired(relayed: Connection): void {
    clearTimeout(this.#retiring.get(relayed));
    this.#retiring.delete(relayed);
    relayed.close().catch(() => relayed.abort(new Error("close failed")));
  }

  /** Closes every link (flushing what is queued, briefly) and stops libp2p. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#retiring.values()) clearTimeout(timer);
    this.#retiring.clear();
    const links = [...this.#links];
    for (const link of links) link.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled(links.map((link) => link.closed)),
      new Promise((resolve) => (timer = setTimeout(resolve, STOP_FLUSH_MS))),
    ]);
    clearTimeout(timer);
    await this.libp2p.stop();
  }

  #adopt(stream: Stream, connection: Connection, direction: LinkDirection): StreamLink {
    const link = new StreamLink(
      stream,
      connection,
      direction,
      this.#log,
      this.libp2p.services.ping.ping.bind(this.libp2p.services.ping),
      () => {
        this.#links.delete(link);
        if (this.#retiring.has(connection)) {
          if (this.#linksOn(connection) === 0) this.#closeRetired(connection);
          return;
        }
        // The connection carried only this link (plus identify and ping): close it too, unless
        // it holds a relay reservation (ours on the peer, or the peer's on us), or it is the
        // direct connection that takes over from a relayed one still draining.
        if (
          this.#linksOn(connection) === 0 && connection.status === "open" &&
          !this.#reservations.hasReservation(connection.remotePeer) &&
          !this.libp2p.services.relay.reservations.has(connection.remotePeer) &&
          !this.#takesOverFromRelayed(connection)
        ) {
          void this.#onlyThroughRelays(connection).then((precious) => {
            if (precious || this.#linksOn(connection) > 0 || connection.status !== "open") return;
            connection.close().catch(() => connection.abort(new Error("close failed")));
          });
        }
      },
      this.#bytesPerS,
    );
    this.#links.add(link);
    return link;
  }

  /**
   * A direct connection a peer opened to us that we could not open again: the peer has relay
   * circuits (only a node behind a NAT reserves them; DCUtR made this one). Closing it when its
   * last link ends would send the next link through a relay again, and lose the peer with its
   * relays.
   */
  async #onlyThroughRelays(connection: Connection): Promise<boolean> {
    if (connection.direction !== "inbound" || connection.limits !== undefined) return false;
    const known = await this.libp2p.peerStore.get(connection.remotePeer)
      .then((peer) => peer.addresses.map(({ multiaddr: address }) => String(address)))
      .catch(() => [] as string[]);
    return known.some(isCircuitAddress);
  }

  /** A direct connection to a peer that a relayed (limited) connection also reaches. */
  #takesOverFromRelayed(connection: Connection): boolean {
    return connection.limits === undefined &&
      this.libp2p.getConnections(connection.remotePeer).some((other) =>
        other !== connection && other.status === "open" && other.limits !== undefined
      );
  }

  #linksOn(connection: Connection): number {
    let count = 0;
    for (const link of this.#links) if (link.connection === connection) count++;
    return count;
  }
}

class StreamLink implements Link {
  readonly remoteId: string;
  readonly remoteHost: string;
  /** Resolves once the link is fully closed. */
  readonly closed: Promise<void>;
  #stream: Stream;
  #log: Logger;
  #ping: PingFn;
  #events: LinkEvents | undefined;
  #early: Array<(events: LinkEvents) => void> = [];
  #decoder = new FrameDecoder(MAX_FRAME_BYTES);
  #bytes: TokenBucket;
  #failed = false;
  #done = false;
  #onDone: () => void;
  #resolveClosed!: () => void;

  constructor(
    stream: Stream,
    readonly connection: Connection,
    readonly direction: LinkDirection,
    log: Logger,
    pingFn: PingFn,
    onDone: () => void,
    bytesPerS: number,
  ) {
    this.#bytes = new TokenBucket({ ratePerS: bytesPerS, burst: bytesPerS * 4 }, Date.now());
    this.#stream = stream;
    this.#log = log;
    this.#ping = pingFn;
    this.#onDone = onDone;
    this.remoteId = connection.remotePeer.toString();
    this.remoteHost = hostOf(connection.remoteAddr);
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    stream.addEventListener("message", (event) => this.#onBytes(event.data.subarray()));
    stream.addEventListener("close", () => this.#finish());
    stream.addEventListener("remoteCloseWrite", () => this.close());
  }

  attach(events: LinkEvents): void {
    this.#events = events;
    for (const deliver of this.#early.splice(0)) deliver(events);
  }

  send(message: WireMessage): boolean {
    if (this.#done || this.#stream.writeStatus !== "writable") return false;
    if (this.#stream.writeBufferLength > MAX_LINK_SEND_BUFFER_BYTES) {
      // The peer does not read what we send: drop it rather than buffer without end.
      this.#log.warn("peer is not reading; closing the link", { peer: this.remoteId });
      this.#stream.abort(new Error("send buffer full"));
      return false;
    }
    const frame = encodeFrame(message);
    // The peer would take a longer frame for an attack; such a message is not sent at all.
    if (frame.length > MAX_FRAME_BYTES + 4) return false;
    try {
      this.#stream.send(frame);
      return true;
    } catch {
      return false;
    }
  }

  ping(timeoutMs: number): Promise<number> {
    return this.#ping(this.connection.remotePeer, { signal: AbortSignal.timeout(timeoutMs) });
  }

  close(): void {
    if (this.#done) return;
    const stream = this.#stream;
    if (stream.status !== "open") return this.#finish();
    // Flush what is queued (a goodbye, a refusal), then close; abort if the peer will not take it.
    stream.close({ signal: AbortSignal.timeout(2_000) })
      .catch((error) => stream.abort(error as Error))
      .finally(() => this.#finish());
  }

  #emit(deliver: (events: LinkEvents) => void): void {
    if (this.#events) return deliver(this.#events);
    if (this.#early.length >= MAX_EARLY_EVENTS) {
      this.#stream.abort(new Error("too many messages before the handshake"));
      return;
    }
    this.#early.push(deliver);
  }

  #onBytes(chunk: Uint8Array): void {
    if (this.#failed || this.#done) return;
    if (!this.#bytes.take(chunk.length, Date.now())) return this.#fail("byte rate limit exceeded");
    const result = this.#decoder.push(chunk);
    if (!result.ok) return this.#fail(result.reason);
    for (const frame of result.frames) {
      const decoded = decodeWireMessage(frame);
      if (!decoded.ok) return this.#fail(decoded.reason);
      this.#emit((events) => events.message(decoded.message));
    }
  }

  #fail(reason: string): void {
    this.#failed = true;
    this.#emit((events) => events.malformed(reason));
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#stream.status === "open") this.#stream.abort(new Error("link closed"));
    this.#emit((events) => events.closed());
    this.#onDone();
    this.#resolveClosed();
  }
}

/**
 * The circuit relay transport's reservation store: which relays hold a slot for us. Not part of
 * libp2p's public interface; a version without it fails here at start, not silently later.
 */
function reservationStoreOf(libp2p: Libp2p<Services>): ReservationStore {
  const transport = (libp2p as unknown as Internals).components.transportManager.getTransports()
    .find((candidate) =>
      (candidate as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] ===
        "@libp2p/circuit-relay-v2-transport"
    ) as { reservationStore?: ReservationStore } | undefined;
  const store = transport?.reservationStore;
  if (!store || typeof store.hasReservation !== "function") {
    throw new Error("@libp2p/circuit-relay-v2 has no reservationStore: see network/libp2p_node.ts");
  }
  return store;
}

function bracket(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
