/**
 * `POST /api/v1/lan[/{network_name}]`, `/lan/create` and `/lan/delete/{network_name}`: the
 * renter's private networks in the original dialect, answered by the GPU node with the native
 * calls (`lan.*`; node_service/lan/). The original listed every LAN it knew, unsigned; here a
 * GPU node lists only the signer's (the LANs are per renter), and a client-end asked without a
 * peer has none of its own (`{networks: []}`). `additional` of a create: `network_name`,
 * `ip_cidr`, as the original; `vxlan_vni` (digits) and `peers` (tunnel ends) to carry a LAN to
 * another of the renter's hosts, which the original did by multicast.
 */
import { type Lan, LAN_LIMITS, LanNameSchema } from "../../mod/mod.ts";
import { requireRenting } from "./access.ts";
import { localTime } from "./answers.ts";
import { additionalText } from "./body.ts";
import { invalidRequest, refused } from "./envelope.ts";
import { bodyOf, type Endpoint, type EndpointInput, type Group, renter } from "./endpoint.ts";

/** The original's `native_flags`: the host has the network's devices (1), serves its DHCP (2). */
const NATIVE_FLAGS = { device: 1, dhcpServer: 2 } as const;

/** A LAN as the original wrote one: its field names, every value a string. */
export function lanItem(lan: Lan, machineId: string) {
  return {
    network_name: lan.network_name,
    bridge_name: lan.bridge_name,
    vxlan_name: lan.vxlan_name,
    vxlan_vni: String(lan.vxlan_vni),
    ip_cidr: lan.ip_cidr,
    ip_start: lan.dhcp_start ?? "",
    ip_end: lan.dhcp_end ?? "",
    // The original's DHCP server sat on a veth of its own; here libvirt's dnsmasq on the bridge.
    dhcp_interface: lan.gateway === null ? "" : lan.bridge_name,
    // The machine that serves the network's DHCP, as the original's machineId.
    machine_id: lan.gateway === null ? "" : machineId,
    rent_wallet: "",
    members: lan.members,
    lastUseTime: localTime(lan.last_used_at),
    native_flags: String(
      NATIVE_FLAGS.device | (lan.gateway === null ? 0 : NATIVE_FLAGS.dhcpServer),
    ),
    // This network's own: what carrying it to the renter's other hosts needs.
    vtep: lan.vtep ?? "",
    peers: lan.peers,
  };
}

function checkedName(name: string): string {
  if (name === "") throw refused("network name can not be empty");
  if (!LanNameSchema.safeParse(name).success) {
    throw refused("network name requires a combination of 6 to 10 letters or numbers");
  }
  return name;
}

function machineIdOf(input: EndpointInput): string {
  return input.deps.node.machineId ?? input.deps.node.nodeId;
}

const list: Endpoint = {
  name: "list lan",
  at: "peer_or_here",
  signed: true,
  async run(input) {
    // A client-end keeps no networks of its own.
    if (bodyOf(input).peer === undefined) return { networks: [] };
    const who = await renter(input);
    const name = input.args[0];
    const { networks } = await input.deps.call("lan.list", {
      account: who.account,
      ...(name === undefined ? {} : { name: checkedName(name) }),
    });
    const items = networks.map((lan) => ({
      ...lanItem(lan, machineIdOf(input)),
      rent_wallet: who.account,
    }));
    if (name === undefined) return items;
    // The node service refuses an unknown name; an empty answer is the same refusal.
    if (items.length === 0) throw refused(`network ${name} not exist`);
    return items[0];
  },
};

const create: Endpoint = {
  name: "create lan",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    await requireRenting(input, who.account);
    const additional = bodyOf(input).additional;
    const name = checkedName(additionalText(additional, "network_name"));
    const cidr = additionalText(additional, "ip_cidr");
    if (cidr === "") throw refused("ip cidr can not be empty");
    const vniText = additionalText(additional, "vxlan_vni");
    if (vniText !== "" && !/^\d{1,8}$/.test(vniText)) throw refused("vxlan_vni is not digit");
    const vni = vniText === "" ? undefined : Number(vniText);
    if (vni !== undefined && (vni < 1 || vni > LAN_LIMITS.maxVni)) {
      throw refused(`vxlan_vni is invalid (usage: [1, ${LAN_LIMITS.maxVni}])`);
    }
    const peers = additional.peers ?? [];
    if (
      !Array.isArray(peers) || peers.length > LAN_LIMITS.maxPeers ||
      peers.some((peer) => typeof peer !== "string" || peer.length > 15)
    ) {
      throw refused(`peers must be a list of at most ${LAN_LIMITS.maxPeers} IPv4 addresses`);
    }
    await input.deps.call("lan.create", {
      actor: who.actor,
      account: who.account,
      name,
      cidr,
      ...(vni === undefined ? {} : { vni }),
      peers: peers as string[],
    });
    return "ok";
  },
};

const remove: Endpoint = {
  name: "delete lan",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    await input.deps.call("lan.delete", {
      actor: who.actor,
      account: who.account,
      name: checkedName(input.args[0]!),
    });
    return "ok";
  },
};

/** `/api/v1/lan`, `/lan/{network_name}`, `/lan/create`, `/lan/delete/{network_name}`. */
export const lanRoutes: Group = (segments) => {
  if (segments.length === 0) return { endpoint: list, args: [] };
  if (segments.length === 1 && segments[0] === "create") return { endpoint: create, args: [] };
  if (segments.length === 2 && segments[0] === "delete") {
    return { endpoint: remove, args: [segments[1]!] };
  }
  if (segments.length === 1) return { endpoint: list, args: [segments[0]!] };
  throw invalidRequest("invalid uri, please use /lan");
};
