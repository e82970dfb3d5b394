/**
 * Where a VM image may be downloaded from. The download runs in a process of
 * its own (download_process.ts) whose Deno permissions say it: `--allow-net`
 * with the operator's `image_download_hosts`, `--deny-net` with the chain's
 * RPC host and, unless the operator allows private addresses, the loopback,
 * private, link-local and other non-public IPv4 ranges. Deno checks a deny
 * range against the address a host name resolved to when it connects, for
 * every redirect too, so a listed name that resolves (or is rebound) to a
 * private address is refused at the connection itself. Deno takes IPv4
 * ranges only; IPv6 loopback is denied by address, and the process refuses a
 * name whose IPv6 addresses are private before it connects.
 *
 * Pure: the caller runs the process.
 */

export type DownloadPolicy = {
  /** `image_download_hosts`: host or host:port; nothing else is reachable. */
  hosts: readonly string[];
  /** Loopback, private and link-local addresses: refused unless the operator allows them. */
  privateAddresses: "deny" | "allow";
  /** Hosts never downloaded from whatever the list says (the chain's RPC endpoint). */
  deniedHosts: readonly string[];
};

/** Nothing reachable: a store that was given no policy downloads from nowhere. */
export const NO_DOWNLOADS: DownloadPolicy = {
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

/** The `deno run` permission flags of the download process, or why there can be none. */
export function downloadFlags(
  policy: DownloadPolicy,
): { ok: true; flags: string[] } | { ok: false; reason: string } {
  if (policy.hosts.length === 0) {
    return {
      ok: false,
      reason: "this node downloads VM images from no host (its image_download_hosts is empty)",
    };
  }
  const deny = [
    ...policy.deniedHosts,
    ...(policy.privateAddresses === "deny"
      ? [...NON_PUBLIC_IPV4, ...NON_PUBLIC_IPV6_ADDRESSES]
      : []),
  ];
  return {
    ok: true,
    flags: [
      `--allow-net=${policy.hosts.join(",")}`,
      ...(deny.length > 0 ? [`--deny-net=${deny.join(",")}`] : []),
    ],
  };
}
