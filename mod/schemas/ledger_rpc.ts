/**
 * The seeds' ledger as other nodes reach it, and the lease check the HTTP
 * API asks for.
 *
 * `ledger.rpc` is a network topic: a GPU or client node sends a seed an
 * `app` request `{ method, params }` naming one of the read-only ledger
 * methods in {@link LEDGER_RPC_METHODS}; the seed answers with a
 * {@link LedgerRpcReply}. The reply carries the ledger's own refusals
 * (`not_found` for an unknown machine, `forbidden` for a method that is not
 * served) in-band, so the asking node can tell them from a seed that could
 * not be reached, and only the latter makes it try another seed. Writes are
 * never served this way: they are signed by a wallet and go to a seed's
 * HTTP API.
 */
import { z } from "zod";
import { JsonValueSchema } from "./json.ts";
import { AccountSchema, LeaseStatusSchema, MachineIdSchema } from "./ledger.ts";
import { NETWORK_ERROR_CODES } from "./network.ts";

export const LEDGER_RPC_TOPIC = "ledger.rpc";

/**
 * The ledger methods a seed answers over the network: reads, and the
 * machines' heartbeats, which carry their own node-key signature (no wallet
 * signs them, so no HTTP route takes them).
 */
export const LEDGER_RPC_METHODS = [
  "ledger.lease_status",
  "ledger.machine_get",
  "ledger.machine_list",
  "ledger.rental_get",
  "ledger.balance",
  "ledger.machine_heartbeat",
] as const;
export type LedgerRpcMethod = typeof LEDGER_RPC_METHODS[number];

/** The request body; `params` is checked against the method's schema by the seed. */
export const LedgerRpcRequestSchema = z.object({
  method: z.string().min(1).max(64),
  params: JsonValueSchema,
}).strict();
export type LedgerRpcRequest = z.infer<typeof LedgerRpcRequestSchema>;

export const LedgerRpcReplySchema = z.discriminatedUnion("outcome", [
  z.object({ outcome: z.literal("ok"), result: JsonValueSchema }).strict(),
  z.object({
    outcome: z.literal("error"),
    /** An RpcErrorCode; those outside this list travel as `internal`. */
    code: z.enum(NETWORK_ERROR_CODES),
    message: z.string().max(1_000),
  }).strict(),
]);
export type LedgerRpcReply = z.infer<typeof LedgerRpcReplySchema>;

/** `lease.check`: does `account` rent `machine_id` now? */
export const LeaseCheckParamsSchema = z.object({
  /** The signing wallet, or the multisig account it acts for (SS58). */
  account: AccountSchema,
  /** The GPU node's machine id: its node id under the embedded ledger. */
  machine_id: MachineIdSchema,
}).strict();

export const LeaseCheckResultSchema = z.object({
  renting: z.boolean(),
  /** The latest rental of the machine by the account, as the verification service reports it. */
  lease: LeaseStatusSchema,
  /** Present when renting. */
  rental: z.object({ rental_id: z.string(), ends_at: z.number() }).optional(),
  /** Which verification service answered. */
  verification: z.enum(["ledger", "remote_ledger", "substrate"]),
  checked_at: z.number(),
});
export type LeaseCheckResult = z.infer<typeof LeaseCheckResultSchema>;
