/** A GPU node's machine as the market lists it: the pieces the market table and the machine page share. */
import type { LeaseCheckResult, MarketNode } from "../../../../mod/mod.ts";
import type { PeerPing } from "../../../client.ts";
import type { Dashboard } from "../context.ts";
import { h } from "../dom.ts";
import {
  availability,
  formatAmount,
  formatGpus,
  formatMib,
  formatRelative,
  type Reachability,
} from "../format.ts";

export function cpuText(node: MarketNode): string {
  const cores = node.cpu.cores === null ? "" : `${node.cpu.cores} cores`;
  return [node.cpu.model, cores].filter(Boolean).join(", ") || "—";
}

export function diskText(node: MarketNode): string {
  return node.disk ? `${node.disk.free_gib} of ${node.disk.total_gib} GiB free` : "—";
}

export function priceText(node: MarketNode): string {
  return node.price_per_hour === null ? "—" : `${formatAmount(node.price_per_hour)} / hour`;
}

/** The badge that says whether the machine can be had now, with why on hover. */
export function availabilityBadge(
  node: MarketNode,
  reach: Reachability,
  lease: LeaseCheckResult | undefined,
  nowMs: number,
): HTMLElement {
  const state = availability(node, reach, lease?.renting ?? false, nowMs);
  return h(
    "span",
    { class: "availability-state" },
    h("span", { class: `badge ${state.tone}` }, state.label),
    h("span", { class: "small detail" }, state.detail),
  );
}

/** A ping's answer as reachability. */
export async function reach(dashboard: Dashboard, nodeId: string): Promise<Reachability> {
  try {
    const pong: PeerPing = await dashboard.api.ping(nodeId);
    return { kind: "reachable", rttMs: pong.rtt_ms, route: pong.route };
  } catch (error) {
    return { kind: "unreachable", reason: (error as Error).message };
  }
}

/** The lease line of a machine for the connected wallet. */
export function leaseText(lease: LeaseCheckResult | undefined, nowMs: number): string {
  if (!lease) return "";
  if (lease.renting && lease.rental) {
    return `rented by you, rental ${lease.rental.rental_id}, ends ${
      formatRelative(lease.rental.ends_at, nowMs)
    }`;
  }
  return lease.lease.state === "ended"
    ? `your rental ${lease.lease.rental_id} ended ${formatRelative(lease.lease.ended_at, nowMs)}`
    : "not rented by you";
}

/** The machine's facts as a definition list. */
export function machineFacts(node: MarketNode): HTMLElement {
  const rows: Array<[string, string]> = [
    ["GPU", formatGpus(node)],
    ["CPU", cpuText(node)],
    ["Memory", formatMib(node.memory_total_mib)],
    ["Disk", diskText(node)],
    ["Price", priceText(node)],
    ["Ledger state", node.state],
    ["Version", node.version],
    ["Machine id", node.machine_id ?? node.node_id],
  ];
  return h(
    "dl",
    { class: "facts" },
    ...rows.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
  );
}
