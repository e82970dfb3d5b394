/**
 * Where this node finds the network's one ledger (`ledger_authority`):
 *
 * - `here`: this node keeps it (a seed whose id is the authority, or a seed
 *   with `ledger_authority` empty: a lone seed, a devnet);
 * - `authority`: another node keeps it; every ledger read and write goes to
 *   that id only, and only its answer counts (the network layer accepts a
 *   sealed reply only from the node the request was sealed to);
 * - `unset`: no authority is known (a GPU or client node without
 *   `ledger_authority`); ledger-dependent actions are refused with `reason`,
 *   as any connected peer may call itself a seed.
 */
import type { NodeConfig } from "./config.ts";

export type LedgerPlace =
  | { kind: "here" }
  | { kind: "authority"; authority: string }
  | { kind: "unset"; reason: string };

/** The setting, as an operator writes it, for messages. */
export const LEDGER_AUTHORITY_SETTING =
  "ledger_authority (--ledger-authority, DBC_LEDGER_AUTHORITY)";

export function ledgerPlace(
  config: Pick<NodeConfig, "role" | "ledger_authority">,
  nodeId: string,
): LedgerPlace {
  const authority = config.ledger_authority;
  if (config.role === "seed" && (authority === "" || authority === nodeId)) return { kind: "here" };
  if (authority !== "" && authority === nodeId) {
    return {
      kind: "unset",
      reason:
        `${LEDGER_AUTHORITY_SETTING} names this node, but this is a ${config.role} node and only a seed keeps the ledger`,
    };
  }
  if (authority !== "") return { kind: "authority", authority };
  return {
    kind: "unset",
    reason:
      `${LEDGER_AUTHORITY_SETTING} is not set: this ${config.role} node does not know which node keeps the ledger; set it to the ledger seed's node id`,
  };
}
