/**
 * Addresses as the protocol stores, gossips and dials them: `host:port` (a
 * WebSocket listener, IPv6 hosts in brackets), or a multiaddr string such as a
 * relay circuit (`/ip4/<relay>/tcp/<port>/ws/p2p/<relay id>/p2p-circuit/p2p/<id>`)
 * for a node that is reachable only through a relay. Both forms are opaque to
 * the protocol: only the transport (libp2p_node.ts) dials them.
 */

/** The longest address accepted from a peer (a relay circuit is about 150 characters). */
export const MAX_ADDRESS_LENGTH = 300;

/** `host:port`: a name, an IPv4 address, or an IPv6 address in brackets. */
export const HOST_PORT_PATTERN = /^(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,253}):\d{1,5}$/;
/**
 * A multiaddr of the protocols a node dials: an IP or DNS name, TCP, WebSockets, peer ids and
 * relay circuits. Checked again by the multiaddr parser before it is dialled.
 */
export const MULTIADDR_PATTERN =
  /^(\/(ip4|ip6|dns4|dns6|dns|tcp|ws|wss|p2p|p2p-circuit)(\/[A-Za-z0-9.:-]{1,64})?)+$/;

/** True for the multiaddr form (it starts with `/`), false for `host:port`. */
export function isMultiaddrAddress(address: string): boolean {
  return address.startsWith("/");
}

/** Either form, bounded: what a peer may send as an address. */
export function isAddress(text: string): boolean {
  return text.length <= MAX_ADDRESS_LENGTH &&
    (HOST_PORT_PATTERN.test(text) || MULTIADDR_PATTERN.test(text));
}

/** `host:port`, with IPv6 hosts in brackets. */
export function joinAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The host and port of an address (brackets removed from IPv6 hosts). For a multiaddr, the
 * first host and TCP port in it: a relay circuit's are the relay's (shown in peer lists).
 */
export function splitAddress(address: string): { host: string; port: number } {
  if (isMultiaddrAddress(address)) {
    const parts = address.split("/");
    const at = parts.findIndex((part) => /^(ip4|ip6|dns4|dns6|dns)$/.test(part));
    const tcp = parts.indexOf("tcp");
    return {
      host: at >= 0 ? parts[at + 1] ?? "" : "",
      port: tcp >= 0 ? Number(parts[tcp + 1]) || 0 : 0,
    };
  }
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(address.slice(colon + 1)) };
}
