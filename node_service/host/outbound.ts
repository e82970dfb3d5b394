/**
 * Where a process of the node's may connect out to: a VM image download
 * (vm/images/download_process.ts) or a round of monitoring pushes
 * (monitor/push_process.ts). Each runs in a process of its own whose Deno
 * permissions say it: `--allow-net` with the hosts it may reach, `--deny-net`
 * with hosts it never may (the chain's RPC endpoint) and, unless the operator
 * allows private addresses, the loopback, private, link-local and other
 * non-public IPv4 ranges. Deno checks a deny range against the address a name
 * resolved to when it connects, for every redirect too, so a name that
 * resolves (or is rebound) to a private address is refused at the connection
 * itself. Deno takes IPv4 ranges only; IPv6 loopback is denied by address,
 * and {@link ipv6Refusal} refuses a name whose IPv6 addresses are private
 * before the process connects.
 *
 * Pure but for `ipv6Refusal`'s lookup: the caller runs the process.
 */
import { lookup } from "node:dns/promises";

export type OutboundPolicy = {
  /** Host or host:port; nothing else is reachable. */
  hosts: readonly string[];
  /** Loopback, private and link-local addresses: refused unless the operator allows them. */
  privateAddresses: "deny" | "allow";
  /** Hosts never reached whatever the list says (the chain's RPC endpoint). */
  deniedHosts: readonly string[];
};

/** Nothing reachable. */
export const NO_OUTBOUND: OutboundPolicy = {
  hosts: [],
  privateAddresses: "deny",
  deniedHosts: [],
};

/** IPv4 ranges that are not the public internet (RFC 6890's special-purpose registry). */
export const NON_PUBLIC_IPV4 = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.0.2.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/4",
  "240.0.0.0/4",
] as const;

/** IPv6 addresses Deno can deny one by one: loopback and unspecified. */
export const NON_PUBLIC_IPV6_ADDRESSES = ["[::1]", "[::]"] as const;

/** Whether an IPv6 address is loopback, unspecified, unique-local, link-local or IPv4-mapped. */
export function nonPublicIpv6(address: string): boolean {
  const text = address.toLowerCase().replace(/^\[|\]$/g, "");
  if (text === "::1" || text === "::") return true;
  if (/^f[cd][0-9a-f]{0,2}:/.test(text)) return true; // fc00::/7
  if (/^fe[89ab][0-9a-f]?:/.test(text)) return true; // fe80::/10
  return text.startsWith("::ffff:"); // IPv4-mapped: checked as IPv4 by nobody, so refused
}

/** The `deno run` permission flags of such a process; none when no host is reachable. */
export function outboundFlags(policy: OutboundPolicy): string[] | undefined {
  if (policy.hosts.length === 0) return undefined;
  const deny = [
    ...policy.deniedHosts,
    ...(policy.privateAddresses === "deny"
      ? [...NON_PUBLIC_IPV4, ...NON_PUBLIC_IPV6_ADDRESSES]
      : []),
  ];
  return [
    `--allow-net=${policy.hosts.join(",")}`,
    ...(deny.length > 0 ? [`--deny-net=${deny.join(",")}`] : []),
  ];
}

/**
 * Why `hostname` may not be reached over IPv6 (Deno cannot deny IPv6 ranges): an address literal
 * that is not public, or a name that resolves to one. Looked up just before the connection.
 */
export async function ipv6Refusal(hostname: string): Promise<string | undefined> {
  const host = hostname.replace(/^\[|\]$/g, "");
  if (host.includes(":")) {
    return nonPublicIpv6(host) ? `${host} is not a public address` : undefined;
  }
  let addresses: Array<{ address: string; family: number }>;
  try {
    addresses = await lookup(host, { all: true });
  } catch {
    return undefined; // The connection attempt says why.
  }
  const private6 = addresses.find((entry) => entry.family === 6 && nonPublicIpv6(entry.address));
  return private6 ? `${host} resolves to ${private6.address}, not a public address` : undefined;
}
