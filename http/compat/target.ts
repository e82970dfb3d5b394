/**
 * Which GPU node `peer_nodes_list[0]` names: a node id (`12D3KooW...`) as it
 * is, or a chain-style machine id (64 hex). A machine id derived from a node
 * key (mod/machine_id.ts) names that node, and no announcement can take it
 * over; a configured one is found among the machines the GPU nodes announce
 * (`market.nodes`), where exactly one node must claim it.
 */
import {
  derivedMachineId,
  isMachineId,
  nodeIdOfMachineId,
  NodeIdTextSchema,
} from "../../mod/mod.ts";
import type { AppDeps } from "../app_deps.ts";
import { invalidParams } from "./envelope.ts";

/** The node id `peer` names; a 400 (-25) for text of neither form or a contested machine id. */
export async function targetNodeId(deps: Pick<AppDeps, "call">, peer: string): Promise<string> {
  if (NodeIdTextSchema.safeParse(peer).success) return peer;
  if (!isMachineId(peer)) {
    throw invalidParams(
      `peer_nodes_list: ${
        JSON.stringify(peer.slice(0, 80))
      } is neither a machine id (64 hex) nor a node id`,
    );
  }
  const derived = nodeIdOfMachineId(peer)!;
  const { nodes } = await deps.call("market.nodes", {});
  if (nodes.some((node) => node.node_id === derived)) return derived;
  const claimed = nodes.filter((node) => node.machine_id === peer);
  if (claimed.length > 1) {
    throw invalidParams(
      `machine id ${peer} is announced by ${claimed.length} nodes; name the node id`,
    );
  }
  // Not (yet) announced: the derived node, which the network finds or reports unreachable.
  return claimed[0]?.node_id ?? derived;
}

/** Whether `peer` names this node: its node id, its machine id, or the one derived from its key. */
export function namesThisNode(peer: string, node: { nodeId: string; machineId?: string }): boolean {
  return peer === node.nodeId || peer === node.machineId || peer === derivedMachineId(node.nodeId);
}

/** The machine id a node is shown by in lists: announced, else derived from its id. */
export function shownMachineId(node: { node_id: string; machine_id?: string }): string {
  return node.machine_id ?? derivedMachineId(node.node_id) ?? node.node_id;
}
