/**
 * Links over js-libp2p: WebSockets, Noise (which proves each side's key, so
 * a link's remote id is authenticated), Yamux, identify and ping. One stream
 * of {@link LINK_PROTOCOL} per link carries length-prefixed frames; bytes are
 * decoded here, under a frame-size limit and a byte budget, and only checked
 * messages reach the protocol.
 */
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { privateKeyFromRaw } from "@libp2p/crypto/keys";
import { identify } from "@libp2p/identify";
import type { Connection, Libp2p, Stream } from "@libp2p/interface";
import { ping } from "@libp2p/ping";
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr";
import { createLibp2p } from "libp2p";
import type { Logger } from "../mod/mod.ts";
import {
  LINK_PROTOCOL,
  MAX_FRAME_BYTES,
  MAX_HANDSHAKING_LINKS,
  MAX_LINK_SEND_BUFFER_BYTES,
  RATE_LIMIT_BYTES_PER_S,
} from "./constants.ts";
import { TokenBucket } from "./rate_limit.ts";
import type { Link, LinkDirection, LinkEvents, Transport } from "./transport.ts";
import { webSocketsWithNoDelay } from "./ws_dialer.ts";
import { decodeWireMessage, encodeFrame, FrameDecoder, type WireMessage } from "./wire.ts";

export type Libp2pTransportOptions = {
  /** The node's Ed25519 seed and public key; the libp2p peer id must equal `nodeId`. */
  seed: Uint8Array;
  publicKey: Uint8Array;
  nodeId: string;
  listenHost: string;
  listenPort: number;
  /** Connections libp2p keeps at most (links, probes and handshakes together). */
  maxConnections: number;
  log: Logger;
  /** Told about every link a remote node opens. */
  onInbound: (link: Link) => void;
};

/** How long stopping waits for links to flush their last messages (goodbyes). */
const STOP_FLUSH_MS = 3_000;
/** Events that arrive before the protocol attaches, at most (then the link is dropped). */
const MAX_EARLY_EVENTS = 64;

type Services = { identify: ReturnType<ReturnType<typeof identify>>; ping: { ping: PingFn } };
type PingFn = (
  peer: Connection["remotePeer"],
  options?: { signal?: AbortSignal },
) => Promise<number>;

/** `host:port` (IPv6 in brackets) as a WebSocket multiaddr. */
export function toMultiaddr(address: string, peerId?: string): Multiaddr {
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

  private constructor(libp2p: Libp2p<Services>, log: Logger, listen: string) {
    this.libp2p = libp2p;
    this.#log = log;
    this.#listen = listen;
  }

  /** Creates the libp2p node, listens, and hands inbound links to `onInbound`. */
  static async start(options: Libp2pTransportOptions): Promise<Libp2pTransport> {
    const privateKey = privateKeyFromRaw(
      Uint8Array.from([...options.seed, ...options.publicKey]),
    );
    const listen = toMultiaddr(`${bracket(options.listenHost)}:${options.listenPort}`).toString();
    const libp2p = await createLibp2p({
      privateKey,
      addresses: { listen: [listen] },
      transports: [webSocketsWithNoDelay()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      // Two pings in flight per connection at most (ours, one link per connection, one at a time).
      services: {
        identify: identify(),
        ping: ping({ maxInboundStreams: 4, maxOutboundStreams: 4 }),
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
    const transport = new Libp2pTransport(libp2p, options.log, listen);
    await libp2p.handle(LINK_PROTOCOL, (stream: Stream, connection: Connection) => {
      options.onInbound(transport.#adopt(stream, connection, "inbound"));
    }, { maxInboundStreams: 2, maxOutboundStreams: 2 });
    return transport;
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
      const connection = await this.libp2p.dial(target, { signal });
      try {
        const stream = await connection.newStream(LINK_PROTOCOL, { signal });
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

  /** Closes every link (flushing what is queued, briefly) and stops libp2p. */
  async stop(): Promise<void> {
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
        // The connection carried only this link (plus identify and ping): close it too.
        if (this.#linksOn(connection) === 0 && connection.status === "open") {
          connection.close().catch(() => connection.abort(new Error("close failed")));
        }
      },
    );
    this.#links.add(link);
    return link;
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
  #bytes = new TokenBucket(
    { ratePerS: RATE_LIMIT_BYTES_PER_S, burst: RATE_LIMIT_BYTES_PER_S * 4 },
    Date.now(),
  );
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
  ) {
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

function bracket(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
