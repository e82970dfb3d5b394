/**
 * Where monitoring data may be sent. Renters name their servers at run
 * time, and the node service's own Deno permissions cannot grow then, so
 * each round of pushes runs in a process of its own (push_process.ts) whose
 * permissions say it, as image downloads do (host/outbound.ts,
 * the same rules): `--allow-net` with exactly that round's servers,
 * `--deny-net` with the chain's RPC host and, unless the operator allows
 * private addresses (`monitor_allow_private`), the loopback, private,
 * link-local and other non-public IPv4 ranges and IPv6 loopback. Deno checks
 * a deny range against the address a name resolved to when it connects, so a
 * renter's name that resolves (or is rebound) to a private address is
 * refused at the connection itself; the process refuses a name with a
 * non-public IPv6 address before it connects.
 *
 * Pure: the caller runs the process.
 */
import { outboundFlags } from "../host/mod.ts";
import { formatServer, type MonitorServer } from "./address.ts";

export type PushPolicy = {
  allowPrivate: boolean;
  /** Never sent to, whatever a renter names (the chain's RPC endpoint). */
  deniedHosts: readonly string[];
};

/** The `deno run` permission flags of a round to `servers` (at least one). */
export function pushFlags(servers: readonly MonitorServer[], policy: PushPolicy): string[] {
  const flags = outboundFlags({
    hosts: [...new Set(servers.map(formatServer))],
    privateAddresses: policy.allowPrivate ? "allow" : "deny",
    deniedHosts: policy.deniedHosts,
  });
  if (!flags) throw new Error("a round of pushes names at least one server");
  return flags;
}
