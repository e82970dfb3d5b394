/**
 * Image servers (the original's `/images/servers`, `/images/download`,
 * `/images/upload` and their progress and stop): WebDAV servers the GPU
 * node's operator names in `image_servers`, from which a renter or the
 * operator downloads VM images onto the node and to which they upload an
 * image, a VM's disk or one of its snapshots. Transfers run in the node
 * service (node_service/image_servers/); these are the shapes that cross
 * worker boundaries.
 */
import { z } from "zod";
import { ActorSchema, InstanceIdSchema } from "./instance.ts";
import { Sha256Schema, VmImageNameSchema } from "./vm.ts";

/** An image server's id as the operator named it (the original's first field). */
export const ImageServerIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
  message: "expected an image server id: letters, digits, '.', '_' or '-'",
});

/** A file on an image server: a plain name, as an image's (no '/', no '..'). */
export const RemoteFileNameSchema = VmImageNameSchema;

export const ImageServerSchema = z.object({
  id: ImageServerIdSchema,
  /** The base URL, without a user name or password. */
  url: z.string(),
});
export const ImageServerListSchema = z.object({ servers: z.array(ImageServerSchema) });
export type ImageServerInfo = z.infer<typeof ImageServerSchema>;

export const ImageServerFileSchema = z.object({
  name: z.string(),
  size_bytes: z.number().int().nonnegative().nullable(),
  modified_at: z.number().nullable(),
  /** The server holds `<name>.sha256` beside it: a download checks the file against it. */
  has_sha256: z.boolean(),
});
export type ImageServerFile = z.infer<typeof ImageServerFileSchema>;
export const ImageServerFilesSchema = z.object({
  server: ImageServerIdSchema,
  files: z.array(ImageServerFileSchema),
});

export const ImageServerFilesParamsSchema = z.object({ server: ImageServerIdSchema }).strict();

export const TRANSFER_KINDS = ["download", "upload"] as const;
/** `interrupted`: the node service stopped (or died) while it ran; what it wrote is gone. */
export const TRANSFER_STATES = ["running", "done", "failed", "stopped", "interrupted"] as const;
export type TransferState = typeof TRANSFER_STATES[number];

export const ImageTransferSchema = z.object({
  transfer_id: z.string(),
  kind: z.enum(TRANSFER_KINDS),
  server: ImageServerIdSchema,
  /** The file's name on the server. */
  remote_name: z.string(),
  /** Download: the image's name on this node; upload: what was sent (an image, a VM, a snapshot). */
  local: z.string(),
  /** The renter it belongs to; null for the operator's. */
  owner: z.string().nullable(),
  state: z.enum(TRANSFER_STATES),
  /** `exporting` (a VM's disk or snapshot made into one file first), then `transferring`. */
  phase: z.enum(["exporting", "transferring", "verifying", "finished"]),
  done_bytes: z.number().int().nonnegative(),
  total_bytes: z.number().int().nonnegative().nullable(),
  /** How often a broken download went on where it stopped (HTTP Range). */
  resumed: z.number().int().nonnegative(),
  sha256: z.string().nullable(),
  error: z.string().nullable(),
  started_at: z.number(),
  updated_at: z.number(),
});
export type ImageTransfer = z.infer<typeof ImageTransferSchema>;
export const ImageTransferListSchema = z.object({ transfers: z.array(ImageTransferSchema) });

export const ImageDownloadParamsSchema = z.object({
  actor: ActorSchema,
  /** The renter it is for (its own image, `r-...`); absent: the operator's image. */
  owner: z.string().min(1).max(128).optional(),
  server: ImageServerIdSchema,
  remote_name: RemoteFileNameSchema,
  /** The image's name on this node; the remote name when absent. */
  image_name: VmImageNameSchema.optional(),
  /** Checked against the file; else the server's `<name>.sha256` must be there. */
  sha256: Sha256Schema.optional(),
  /** A renter's cap on images kept at once, checked as the image is recorded. */
  max_per_owner: z.number().int().positive().optional(),
}).strict();

/** What is uploaded: an image of this node, or a stopped VM's disk, or one of its snapshots. */
export const UploadSourceSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("image"), name: VmImageNameSchema }).strict(),
  z.object({
    kind: z.literal("vm"),
    task_id: InstanceIdSchema,
    snapshot: z.string().min(1).max(64).optional(),
  }).strict(),
]);
export type UploadSource = z.infer<typeof UploadSourceSchema>;

export const ImageUploadParamsSchema = z.object({
  actor: ActorSchema,
  owner: z.string().min(1).max(128).optional(),
  server: ImageServerIdSchema,
  source: UploadSourceSchema,
  /** The name on the server; derived from the source when absent. */
  remote_name: RemoteFileNameSchema.optional(),
}).strict();

export const ImageTransferListParamsSchema = z.object({
  /** Only this renter's; absent: every transfer (the operator). */
  owner: z.string().min(1).max(128).optional(),
}).strict();

export const ImageTransferTargetSchema = z.object({
  actor: ActorSchema,
  owner: z.string().min(1).max(128).optional(),
  transfer_id: z.string().min(1).max(64),
}).strict();
