/** `host:port` text, as the protocol stores and dials it. */

/** `host:port`, with IPv6 hosts in brackets. */
export function joinAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The parts of `host:port` (brackets removed from IPv6 hosts). */
export function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(address.slice(colon + 1)) };
}
