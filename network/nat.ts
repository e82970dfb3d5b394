/**
 * Reachability behind NAT, as pure decisions over what libp2p observed (the
 * transport, libp2p_node.ts, gathers the facts and applies the outcome):
 *
 * - a node is behind a NAT when a peer it dialled saw it coming from an IP
 *   that is none of its own (identify's observed address), unless AutoNAT
 *   confirmed that one of its public addresses answers dials from outside;
 * - a node that is not behind a NAT is dialled where its peers see it
 *   (`host:port` from the link, as before: a LAN, loopback, or a public host);
 * - a node behind a NAT advertises only what is confirmed to reach it: a relay
 *   circuit through a relay it holds a reservation on, built from the address
 *   it reached that relay at (which is known to answer dials), or nothing
 *   until it has one.
 */
import { isMultiaddrAddress } from "./address.ts";

/** Relays a node behind NAT holds reservations on (the second one takes over when the first goes). */
export const RELAY_RESERVATIONS = 2;
/** Reservations one relay accepts. */
export const RELAY_MAX_RESERVATIONS = 128;
/**
 * One relayed connection's limits. A renter's API request is at most 159 KiB and a client-end
 * keeps one link to a GPU node for all its renters, so the data limit is far above a session
 * of requests, logs and uploads; at either limit the relay closes the connection and the
 * protocol dials again (a new relayed connection), unless DCUtR made a direct one meanwhile.
 */
export const RELAY_DATA_LIMIT_BYTES = 256n * 1024n * 1024n;
export const RELAY_DURATION_LIMIT_MS = 60 * 60_000;
/** How long a reservation is kept (the holder refreshes it before). */
export const RELAY_RESERVATION_TTL_MS = 60 * 60_000;
/**
 * How long a relayed connection that DCUtR replaced with a direct one still carries the links
 * opened on it before (a request under way, a neighbour link); then it closes, and they are
 * dialled again over the direct connection. Longer than a renter's request usually takes.
 */
export const RELAYED_DRAIN_MS = 30_000;
/** A reservation must be made within this. */
export const RELAY_RESERVATION_TIMEOUT_MS = 10_000;

/** The IP of an observed address (`/ip4/<ip>/...`), or undefined for anything else. */
export function observedHost(multiaddr: string): string | undefined {
  const match = /^\/(ip4|ip6)\/([^/]+)\//.exec(multiaddr);
  return match?.[2];
}

/** What a dialled peer saw says about us: behind a NAT when the IP it saw is none of ours. */
export function seenBehindNat(observed: string, ownHosts: ReadonlySet<string>): boolean {
  const host = observedHost(observed);
  if (host === undefined) return false;
  return !ownHosts.has(host) && !ownHosts.has(host.replace(/^::ffff:/, ""));
}

export type RelayHold = {
  /** The relay's node id. */
  relayId: string;
  /** Where this node reached the relay, as a multiaddr without `/p2p` (a dial that worked). */
  reachedAt: string;
};

export type Reachability = {
  /** A dialled peer saw this node at an IP that is not its own. */
  behindNat: boolean;
  /** AutoNAT confirmed a public address of this node's WebSocket listener. */
  confirmedPublic: boolean;
  /** Reservations held, in the order they were made. */
  relays: readonly RelayHold[];
};

/**
 * The address to advertise: `undefined` for "where you see me" (not behind NAT, or confirmed
 * public), a relay circuit when behind NAT with a reservation (`current` while it holds), `null`
 * when behind NAT with none (not reachable yet).
 */
export function advertisedAddress(
  selfId: string,
  state: Reachability,
  current?: string | null,
): string | undefined | null {
  if (!state.behindNat || state.confirmedPublic) return undefined;
  // The circuit advertised now stays while its relay holds our slot: every change is news to
  // spread, and a dial of the old one fails until it has.
  const kept = state.relays.find((relay) => circuitAddress(relay, selfId) === current);
  if (kept) return current;
  // WebSockets first: every node dials them; a TCP-only relay address needs the TCP transport.
  const usable = [...state.relays].sort((a, b) => wsFirst(a.reachedAt) - wsFirst(b.reachedAt));
  const relay = usable[0];
  return relay ? circuitAddress(relay, selfId) : null;
}

/** `/ip4/<relay>/tcp/<port>/ws/p2p/<relayId>/p2p-circuit/p2p/<self>`. */
export function circuitAddress(relay: RelayHold, selfId: string): string {
  const base = relay.reachedAt.replace(/\/p2p\/[^/]+$/, "");
  return `${base}/p2p/${relay.relayId}/p2p-circuit/p2p/${selfId}`;
}

/** True when a multiaddr address goes through a relay. */
export function isCircuitAddress(address: string): boolean {
  return isMultiaddrAddress(address) && address.includes("/p2p-circuit");
}

function wsFirst(address: string): number {
  return /\/wss?(\/|$)/.test(address) ? 0 : 1;
}
