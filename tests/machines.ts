/**
 * GPU machines for ledger tests: a real node key per name (derived from the
 * name, so a test's machines keep their ids), and registrations signed by that
 * key exactly as a GPU node's network worker signs them.
 */
import { base64 } from "@scure/base";
import { ed25519 } from "@noble/curves/ed25519.js";
import {
  keysFromPrivateKey,
  type MachineConfig,
  type MachineRegistration,
  type NodeKeys,
  nodeStatementBytes,
  normalizeAccount,
  type RentPrices,
} from "../mod/mod.ts";

const keysByName = new Map<string, NodeKeys>();

/** The node keys of the machine called `name` in a test. */
export function machineKeys(name: string): NodeKeys {
  let keys = keysByName.get(name);
  if (!keys) {
    const seed = new Uint8Array(32);
    seed.set(new TextEncoder().encode(name.padEnd(32, ".")).slice(0, 32));
    keys = keysFromPrivateKey(seed);
    keysByName.set(name, keys);
  }
  return keys;
}

/** The machine id (node id) of the machine called `name`. */
export function machineId(name: string): string {
  return machineKeys(name).nodeId;
}

/** What the machine `name`'s node signs to agree that `owner` registers it. */
export function registration(input: {
  machine: string;
  owner: string;
  config: MachineConfig;
  prices: RentPrices;
  signedAt: number;
  /** Signs as another node: a forged proof. */
  signWith?: NodeKeys;
}): MachineRegistration {
  const keys = machineKeys(input.machine);
  const statement = {
    kind: "machine_registration" as const,
    machine_id: keys.nodeId,
    owner: normalizeAccount(input.owner) ?? input.owner,
    config: input.config,
    prices: input.prices,
    signed_at: input.signedAt,
  };
  const signature = ed25519.sign(
    nodeStatementBytes(statement),
    (input.signWith ?? keys).privateKey,
  );
  return {
    machine_id: keys.nodeId,
    config: input.config,
    prices: input.prices,
    node_proof: { signed_at: input.signedAt, signature: base64.encode(signature) },
  };
}

/** The machine `name`'s heartbeat at `signedAt`. */
export function heartbeat(name: string, signedAt: number) {
  const keys = machineKeys(name);
  const signature = ed25519.sign(
    nodeStatementBytes({ kind: "machine_heartbeat", machine_id: keys.nodeId, signed_at: signedAt }),
    keys.privateKey,
  );
  return { machine_id: keys.nodeId, signed_at: signedAt, signature: base64.encode(signature) };
}
