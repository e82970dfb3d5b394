/**
 * A GPU node's chain-style machine id: 64 lower-case hex digits, the form the
 * original network's clients name a machine by (`peer_nodes_list`). Configured
 * (`machine_id`), else the chain's id when `substrate_machine_id` has that
 * form, else derived from the node key: the hex of the Ed25519 public key
 * inside the node id, so anyone can turn a derived machine id back into the
 * node id without asking the machine (and nobody else can claim it).
 *
 * @example
 * ```ts
 * const id = derivedMachineId("12D3KooW..."); // "6f1c...": 64 hex digits
 * nodeIdOfMachineId(id); // "12D3KooW..." again
 * ```
 */
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { nodeIdFromPublicKey, publicKeyFromNodeId } from "./keys.ts";

/** What a machine id looks like: 64 lower-case hex digits, no `0x`. */
export const MACHINE_ID_PATTERN = /^[0-9a-f]{64}$/;

export function isMachineId(text: string): boolean {
  return MACHINE_ID_PATTERN.test(text);
}

/** The machine id derived from a node id; `undefined` when the text is not an Ed25519 node id. */
export function derivedMachineId(nodeId: string): string | undefined {
  const key = publicKeyFromNodeId(nodeId);
  return key && bytesToHex(key);
}

/** The node id whose derived machine id this is; `undefined` for text of another form. */
export function nodeIdOfMachineId(machineId: string): string | undefined {
  return isMachineId(machineId) ? nodeIdFromPublicKey(hexToBytes(machineId)) : undefined;
}

/** This node's machine id, from its configuration and node id. */
export function machineIdOf(
  config: { machine_id: string; substrate_machine_id: string },
  nodeId: string,
): string {
  if (config.machine_id !== "") return config.machine_id;
  if (isMachineId(config.substrate_machine_id)) return config.substrate_machine_id;
  return derivedMachineId(nodeId) ?? "";
}
