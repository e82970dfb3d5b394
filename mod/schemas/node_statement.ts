/**
 * The shapes of what a node signs about itself with its node key (see
 * `mod/node_statement.ts` for the signed bytes and the check).
 */
import { z } from "zod";
import { AccountSchema, MachineConfigSchema, MachineIdSchema, RentPricesSchema } from "./ledger.ts";

export const NodeStatementSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("machine_registration"),
    machine_id: MachineIdSchema,
    owner: AccountSchema,
    config: MachineConfigSchema,
    prices: RentPricesSchema,
    signed_at: z.number().int().min(0),
  }).strict(),
  z.object({
    kind: z.literal("machine_heartbeat"),
    machine_id: MachineIdSchema,
    signed_at: z.number().int().min(0),
  }).strict(),
]);
export type NodeStatement = z.infer<typeof NodeStatementSchema>;
export type NodeStatementKind = NodeStatement["kind"];
