/**
 * The renter's private-network commands (`/api/v1/lan`, node_service/lan/): make a LAN on a GPU
 * node, list and delete them, and name the renter's other hosts that carry one. VMs join a LAN
 * at create (`vm create --lan <name>`).
 */
import type { Lan, LanList } from "../../mod/mod.ts";
import { type Command, type CommandContext, UsageError } from "./command_types.ts";

function node(context: CommandContext): string {
  return context.flags.node as string;
}

/** `--peers a,b`: the addresses, none for an empty value. */
export function peerList(text: string | undefined): string[] {
  if (text === undefined) return [];
  const peers = text.split(",").map((peer) => peer.trim()).filter((peer) => peer !== "");
  if (peers.some((peer) => !/^[0-9.]+$/.test(peer))) {
    throw new UsageError(`--peers takes IPv4 addresses separated by commas, not ${text}`);
  }
  return peers;
}

/** One line per LAN: name, range, VNI, this host's tunnel end, peers, VMs. */
export function formatLan(lan: Lan): string {
  const dhcp = lan.gateway === null
    ? "DHCP from another host"
    : `gateway ${lan.gateway}, DHCP ${lan.dhcp_start}-${lan.dhcp_end}`;
  return `${lan.network_name}  ${lan.ip_cidr}  ${dhcp}  vni ${lan.vxlan_vni}  ` +
    `vtep ${lan.vtep ?? "?"}  peers ${lan.peers.join(",") || "-"}  ` +
    `vms ${lan.members.join(",") || "-"}`;
}

function formatLans(list: LanList): string {
  if (list.networks.length === 0) return "(no private networks)";
  return list.networks.map(formatLan).join("\n");
}

export function lanCommands(): Command[] {
  return [
    {
      words: ["lan", "list"],
      args: [],
      flags: ["node"],
      required: ["node"],
      summary: "your private networks on a GPU node",
      wallet: "renter",
      async run(context) {
        const data = await context.client.request<LanList>("GET", "/api/v1/lan", {
          query: { node_id: node(context) },
        });
        context.print(data, formatLans);
      },
    },
    {
      words: ["lan", "create"],
      args: ["network_name", "ip_cidr"],
      flags: ["node", "vni", "peers"],
      required: ["node"],
      summary: "make a private network (6-10 letters or digits, a private IPv4 range) on a GPU " +
        "node you rent; --vni and --peers carry one of another host here",
      wallet: "renter",
      async run(context) {
        const data = await context.client.request<Lan>("POST", "/api/v1/lan/create", {
          body: {
            peer_nodes_list: [node(context)],
            network_name: context.args.network_name!,
            ip_cidr: context.args.ip_cidr!,
            ...(context.flags.vni === undefined ? {} : { vxlan_vni: context.flags.vni }),
            peers: peerList(context.flags.peers as string | undefined),
          },
        });
        context.print(data, formatLan);
      },
    },
    {
      words: ["lan", "peers"],
      args: ["network_name"],
      flags: ["node", "peers"],
      required: ["node"],
      summary: "name your other hosts that carry the network (--peers, empty: none)",
      wallet: "renter",
      async run(context) {
        const name = encodeURIComponent(context.args.network_name!);
        const data = await context.client.request<Lan>("POST", `/api/v1/lan/${name}/peers`, {
          body: {
            peer_nodes_list: [node(context)],
            peers: peerList(context.flags.peers as string | undefined),
          },
        });
        context.print(data, formatLan);
      },
    },
    {
      words: ["lan", "delete"],
      args: ["network_name"],
      flags: ["node"],
      required: ["node"],
      summary: "delete a private network no VM is on",
      wallet: "renter",
      async run(context) {
        const name = encodeURIComponent(context.args.network_name!);
        const data = await context.client.request<Lan>("POST", `/api/v1/lan/${name}/delete`, {
          body: { peer_nodes_list: [node(context)] },
        });
        context.print(data, formatLan);
      },
    },
  ];
}
