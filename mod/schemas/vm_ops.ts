/**
 * The VM operations the original node has beside the basic lifecycle, as
 * typed parameters and results of {@link METHODS}: a VM's description, its
 * custom port forwards, its data disks (extra qcow2 disks, grown only) and
 * a new login password for a running guest.
 */
import { z } from "zod";
import { ActorSchema, InstanceIdSchema } from "./instance.ts";

export const VM_OPS_LIMITS = {
  maxDescLength: 256,
  /**
   * Forwards a VM may have beside its login port, each taking a host port of `vm_port_range` (a
   * range in the original's `custom_port` counts each of its ports).
   */
  maxCustomPorts: 64,
  /** Data disks a VM may have (each a virtio or SATA disk of its own). */
  maxDataDisks: 8,
  maxDataDiskGib: 64 * 1024,
} as const;

/** A VM's description: one line, shown in lists and the detail. */
export const VmDescSchema = z.string().max(VM_OPS_LIMITS.maxDescLength)
  // deno-lint-ignore no-control-regex
  .regex(/^[^\x00-\x1f\x7f]*$/, { message: "expected one line without control characters" });

const PortSchema = z.number().int().min(1).max(65535);

/** A host port forwarded to a guest port (user-mode networking), as the original's `custom_port`. */
export const VmPortForwardSchema = z.object({
  protocol: z.enum(["tcp", "udp"]),
  host_port: PortSchema,
  guest_port: PortSchema,
}).strict();
export type VmPortForward = z.infer<typeof VmPortForwardSchema>;

/** A data disk's name: the guest's device (`vdc`.. on Linux, `sdb`.. on Windows); the system disk is `vda`/`sda`. */
export const VmDiskNameSchema = z.string().regex(/^(vd|sd)[a-z]$/, {
  message: "expected a disk name like vdc (see the VM's disk list)",
});

/** One disk of a VM as the disk list shows it. */
export const VmDiskSchema = z.object({
  name: z.string(),
  /** The file on the host. */
  file: z.string(),
  size_gib: z.number().int().nullable(),
  /** Virtual size now, as qemu-img reads it; null when the file cannot be read. */
  size_bytes: z.number().int().nullable(),
  kind: z.enum(["system", "data"]),
});
export type VmDisk = z.infer<typeof VmDiskSchema>;
export const VmDiskListSchema = z.object({ vm_id: z.string(), disks: z.array(VmDiskSchema) });

export const VmDiskListParamsSchema = z.object({ id: InstanceIdSchema }).strict();
export const VmDiskAddParamsSchema = z.object({
  actor: ActorSchema,
  id: InstanceIdSchema,
  size_gib: z.number().int().min(1).max(VM_OPS_LIMITS.maxDataDiskGib),
}).strict();
/** Grows a disk (data or system) to `size_gib`; a smaller size is refused. */
export const VmDiskResizeParamsSchema = z.object({
  actor: ActorSchema,
  id: InstanceIdSchema,
  disk: VmDiskNameSchema,
  size_gib: z.number().int().min(1).max(VM_OPS_LIMITS.maxDataDiskGib),
}).strict();
export const VmDiskDeleteParamsSchema = z.object({
  actor: ActorSchema,
  id: InstanceIdSchema,
  disk: VmDiskNameSchema,
}).strict();

/** A login user's name as `chpasswd` and the guest agent take it. */
export const VmUserNameSchema = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, {
  message: "expected a user name: lower-case letters, digits, '_' or '-' (at most 32)",
});
