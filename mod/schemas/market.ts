/**
 * The market of GPU nodes: what a GPU node announces about its machine on
 * the network (topic `service.summary`, a broadcast the network layer signs
 * with the origin's node key and checks on receipt), and what every node
 * keeps of those announcements (`market.nodes`, `market.node`), which the
 * client-end serves as `GET /api/v1/mining_nodes[/:node_id]`.
 *
 * A GPU node's machine id in the embedded ledger is its node id, so the
 * `node_id` of a summary is also the `machine_id` to rent.
 */
import { z } from "zod";
import { AmountSchema, MACHINE_STATUSES } from "./ledger.ts";
import { NodeIdTextSchema } from "./network.ts";

/** The broadcast topic GPU nodes announce their machine on. */
export const SERVICE_SUMMARY_TOPIC = "service.summary";

/**
 * Delivered by the network worker to its own subscribers (never sent over a
 * link) when it learns that a node has left; `from` is this node itself and
 * the body is {@link NodeDepartedSchema}.
 */
export const NETWORK_DEPARTED_TOPIC = "network.departed";
export const NodeDepartedSchema = z.object({ node_id: NodeIdTextSchema });

/** GPUs of one model and memory size on a machine. */
export const GpuGroupSchema = z.object({
  model: z.string().min(1).max(128),
  count: z.number().int().min(1).max(64),
  /** Memory of one GPU, MiB; null when nvidia-smi did not report it. */
  memory_total_mib: z.number().int().min(0).nullable(),
});
export type GpuGroup = z.infer<typeof GpuGroupSchema>;

/**
 * A machine's state as the announcing node last learned it from the
 * verification service: a ledger state, `unregistered` (the ledger knows no
 * such machine) or `unknown` (the service could not be asked).
 */
export const MARKET_MACHINE_STATES = [
  ...MACHINE_STATUSES,
  "offline",
  "unregistered",
  "unknown",
] as const;
export const MarketMachineStateSchema = z.enum(MARKET_MACHINE_STATES);

/** The body of a `service.summary` broadcast. Unknown fields are ignored, for newer versions. */
export const ServiceSummarySchema = z.object({
  /** The announcing node, which is also its machine id in the ledger. */
  node_id: NodeIdTextSchema,
  role: z.literal("gpu"),
  version: z.string().min(1).max(64),
  gpu_count: z.number().int().min(0).max(64),
  gpus: z.array(GpuGroupSchema).max(64),
  /** Whether nvidia-smi found GPUs (`none`), or failed (`error`). */
  gpu_status: z.enum(["present", "none", "error"]),
  cpu: z.object({
    model: z.string().max(128).nullable(),
    /** Logical CPUs. */
    cores: z.number().int().min(1).max(4096).nullable(),
  }),
  memory_total_mib: z.number().int().min(0).nullable(),
  /** The file system that holds VM disks. */
  disk: z.object({
    total_gib: z.number().int().min(0),
    free_gib: z.number().int().min(0),
  }).nullable(),
  state: MarketMachineStateSchema,
  /** The owner's asking price per hour, in the smallest currency unit; null when not configured. */
  price_per_hour: AmountSchema.nullable(),
  /** How often the node announces; receivers forget it after three intervals of silence. */
  announce_interval_s: z.number().int().min(1).max(3_600),
  /** When the node made this summary (ms since the epoch); a later summary replaces an earlier one. */
  signed_at: z.number(),
  /**
   * The chain-style machine id (64 hex) original clients name it by; a claim of the announcer's
   * unless it is the one derived from its node id (mod/machine_id.ts). Absent from older nodes.
   */
  machine_id: z.string().regex(/^[0-9a-f]{64}$/).optional(),
});
export type ServiceSummary = z.infer<typeof ServiceSummarySchema>;

/** A GPU node as a node's market table holds it. */
export const MarketNodeSchema = ServiceSummarySchema.extend({
  /** When this node received the summary (ms since the epoch). */
  received_at: z.number(),
  /** When it is forgotten unless a newer summary arrives. */
  expires_at: z.number(),
});
export type MarketNode = z.infer<typeof MarketNodeSchema>;

export const MarketNodeListSchema = z.object({ nodes: z.array(MarketNodeSchema) });
export type MarketNodeList = z.infer<typeof MarketNodeListSchema>;

export const MarketNodesParamsSchema = z.object({}).strict();
export const MarketNodeParamsSchema = z.object({ node_id: NodeIdTextSchema }).strict();
