/**
 * The node's checks of what it needs of its host (node_service/host/check.ts):
 * one entry per check, each `ok`, `problem` (with the fix) or `unknown` (with
 * the reason it could not be told), in plain sentences an operator can act on.
 */
import { z } from "zod";

export const HOST_CHECK_STATES = ["ok", "problem", "unknown"] as const;
export type HostCheckState = typeof HOST_CHECK_STATES[number];

const checkFields = {
  state: z.enum(HOST_CHECK_STATES),
  /** What was found, in a sentence. */
  detail: z.string(),
  /** What to do about a problem. */
  fix: z.string().optional(),
};

const DirectoryCheckFields = {
  ...checkFields,
  path: z.string(),
  /** The first directory on the way that QEMU's user may not search. */
  blocked_at: z.string().optional(),
};

export const HostCheckSchema = z.discriminatedUnion("check", [
  /** The user libvirt runs QEMU as (qemu.conf's `user`, else the distribution's default). */
  z.object({
    check: z.literal("qemu_user"),
    ...checkFields,
    user: z.string().nullable(),
    uid: z.number().int().nullable(),
  }),
  /** Whether that user may open /dev/kvm for reading and writing. */
  z.object({ check: z.literal("kvm"), ...checkFields, device: z.string() }),
  /** Whether that user may reach the VM directory (every directory above it searchable). */
  z.object({ check: z.literal("vm_dir"), ...DirectoryCheckFields }),
  /** The same for the image directory (QEMU reads base images there through the overlays). */
  z.object({ check: z.literal("image_dir"), ...DirectoryCheckFields }),
  /** Whether the Docker Engine API answers on its socket. */
  z.object({ check: z.literal("container_engine"), ...checkFields, socket: z.string() }),
]);
export type HostCheck = z.infer<typeof HostCheckSchema>;
export type HostCheckName = HostCheck["check"];

export const HostCheckReportSchema = z.object({
  state: z.literal("checked"),
  checked_at: z.number(),
  /** How many checks found a problem. */
  problems: z.number().int().min(0),
  checks: z.array(HostCheckSchema),
});
export type HostCheckReport = z.infer<typeof HostCheckReportSchema>;

export const HostCheckParamsSchema = z.object({
  /** How old a cached report may be; 0 checks again now. */
  max_age_ms: z.number().int().min(0).optional(),
}).strict();
