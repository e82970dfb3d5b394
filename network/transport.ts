/**
 * What the protocol needs from the layer below: authenticated, ordered,
 * message-framed links to other nodes. libp2p provides them on real sockets
 * (`libp2p_node.ts`); the in-memory transport (`memory_transport.ts`) provides
 * them to tests and to the simulation, so both run the same protocol code.
 */
import type { WireMessage } from "./wire.ts";

export type LinkDirection = "inbound" | "outbound";

/** What a link tells the protocol; attached once, right after the link appears. */
export type LinkEvents = {
  message(message: WireMessage): void;
  /** The peer sent bytes that are not a valid message; the link is closed by the protocol. */
  malformed(reason: string): void;
  /** The link is gone, whoever closed it. Called once. */
  closed(): void;
};

export interface Link {
  /** The remote node id, as the transport authenticated it (libp2p: the Noise handshake). */
  readonly remoteId: string;
  /** The remote address as observed (the IP a peer connected from, or the one we dialled). */
  readonly remoteHost: string;
  readonly direction: LinkDirection;
  /** Starts event delivery; messages that arrived earlier are delivered now, in order. */
  attach(events: LinkEvents): void;
  /** Queues a message; false when the link is closed or its send buffer is full. */
  send(message: WireMessage): boolean;
  /** Round trip in milliseconds; rejects when the peer does not answer within `timeoutMs`. */
  ping(timeoutMs: number): Promise<number>;
  close(): void;
}

export interface Transport {
  /**
   * Opens a link to `address` (`host:port`, or a multiaddr such as a relay
   * circuit: address.ts); `expectedId`, when known, must be
   * who answers. Rejects when nobody does within `timeoutMs`.
   */
  dial(address: string, expectedId: string | undefined, timeoutMs: number): Promise<Link>;
}
