/**
 * Parameters and results of the virtual-machine, VM-image and GPU-allocation
 * methods of {@link METHODS}. Every field a renter can set is bounded here,
 * once; names and ids are checked against strict patterns before the node
 * service builds a single command line or XML element from them.
 */
import { z } from "zod";
import {
  ActorSchema,
  InstanceIdSchema,
  InstanceSummarySchema,
  MAX_SSH_KEYS,
  SshPublicKeySchema,
} from "./instance.ts";
import { VM_OPS_LIMITS, VmDescSchema, VmPortForwardSchema, VmUserNameSchema } from "./vm_ops.ts";
import { LanNameSchema } from "./lan.ts";

/** Limits on what a renter may ask for; generous, but finite. */
export const VM_LIMITS = {
  maxCpuCores: 256,
  minMemoryMib: 128,
  maxMemoryMib: 4 * 1024 * 1024,
  maxDiskGib: 64 * 1024,
  maxGpus: 16,
  maxCmdlineLength: 1024,
  /** At most this many console lines a request, as in the original node. */
  maxLogLines: 100,
  /** Forced off after this long, at most, when the guest ignores ACPI. */
  maxShutdownTimeoutMs: 600_000,
  /**
   * Internal snapshots a VM's disk may hold: each pins the clusters it saw, so
   * the disk file only grows with them, and qcow2 slows with many.
   */
  maxSnapshotsPerVm: 16,
  maxSnapshotDescriptionLength: 256,
} as const;

export const VM_OS = ["linux", "windows"] as const;
export const VmOsSchema = z.enum(VM_OS);
export type VmOs = z.infer<typeof VmOsSchema>;

export const VM_FIRMWARE = ["bios", "uefi"] as const;
export const VmFirmwareSchema = z.enum(VM_FIRMWARE);

/** A VM image's name: a plain file name in the image directory. */
export const VmImageNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, {
  message: "expected an image file name: letters, digits, '.', '_' or '-' (no '/')",
}).refine((name) => !name.includes(".."), { message: "expected an image name without '..'" })
  .refine((name) => !name.endsWith(".part"), { message: "'.part' names are reserved" });

const PortSchema = z.number().int().min(1).max(65535);
export const Sha256Schema = z.string().regex(/^[a-f0-9]{64}$/, {
  message: "expected 64 hex digits",
});

/** GPUs by count (the node picks free ones), by nvidia-smi index, or by UUID. */
export const VmGpuRequestSchema = z.union([
  z.object({ count: z.number().int().min(0).max(VM_LIMITS.maxGpus) }).strict(),
  z.object({ indexes: z.array(z.number().int().min(0).max(1023)).max(VM_LIMITS.maxGpus) })
    .strict(),
  z.object({
    uuids: z.array(
      z.string().regex(/^GPU-[A-Za-z0-9-]{1,64}$/, {
        message: "expected a GPU UUID like GPU-…",
      }),
    ).max(VM_LIMITS.maxGpus),
  }).strict(),
]);

/**
 * Boots a kernel (and initrd) from the image directory instead of the disk's
 * boot loader: for images without one, such as the test guest.
 */
export const DirectBootSchema = z.object({
  kernel_image: VmImageNameSchema,
  initrd_image: VmImageNameSchema.optional(),
  cmdline: z.string().max(VM_LIMITS.maxCmdlineLength).regex(/^[\x20-\x7e]*$/, {
    message: "expected printable ASCII",
  }).default(""),
}).strict();

/** A VM login key (the same check as a container's; see `SshPublicKeySchema`). */
export const VmSshKeySchema = SshPublicKeySchema;

/** A VM login password: printable ASCII, so it can be typed at any console (VNC included). */
export const VmPasswordSchema = z.string().min(8).max(128).regex(/^[\x20-\x7e]*$/, {
  message: "expected 8 to 128 printable ASCII characters",
});

export const VmCreateParamsSchema = z.object({
  actor: ActorSchema,
  /** Chosen by the caller when it must know the id before the create finishes; new ids only. */
  id: InstanceIdSchema.optional(),
  /** Who rents it; the actor when absent. */
  owner: ActorSchema.optional(),
  os: VmOsSchema.default("linux"),
  /** The base disk image (qcow2 or raw); the VM writes only to its own overlay. */
  image: VmImageNameSchema,
  cpu_cores: z.number().int().min(1).max(VM_LIMITS.maxCpuCores),
  memory_mib: z.number().int().min(VM_LIMITS.minMemoryMib).max(VM_LIMITS.maxMemoryMib),
  /** Grows the VM's disk to this size; the image's own size when absent. */
  disk_gib: z.number().int().min(1).max(VM_LIMITS.maxDiskGib).optional(),
  gpus: VmGpuRequestSchema.default({ count: 0 }),
  /** Host port forwarded to the guest's SSH (Linux) or RDP (Windows); the node picks one when absent. */
  login_port: PortSchema.optional(),
  /** VNC display port; libvirt picks a free one when absent. */
  vnc_port: z.number().int().min(5900).max(65535).optional(),
  firmware: VmFirmwareSchema.default("bios"),
  direct_boot: DirectBootSchema.optional(),
  /**
   * Keys the login user accepts (Linux; cloud-init sets them up from the VM's seed disk);
   * the login user itself is the node's choice (config `vm_login_user`).
   */
  ssh_keys: z.array(VmSshKeySchema).max(MAX_SSH_KEYS).default([]),
  /** The login user's password (Linux); the node makes a strong one when absent. */
  password: VmPasswordSchema.optional(),
  /**
   * User-data that is a script (`#!`), on the seed disk instead of a login user: cloud-init runs
   * it at first boot. For the node's own check VMs (validation); no renter route sets it.
   */
  guest_script: z.string().startsWith("#!").max(65_536).optional(),
  /** The renter's description, kept and shown (the original's `desc`). */
  desc: VmDescSchema.default(""),
  /**
   * Host ports of `vm_port_range` forwarded to guest ports (user-mode networking), beside the
   * login port: the original's `custom_port`.
   */
  custom_ports: z.array(VmPortForwardSchema).max(VM_OPS_LIMITS.maxCustomPorts).default([]),
  /**
   * The renter's private network (node_service/lan/) the VM gets a second NIC on: the original's
   * create parameter of that name.
   */
  network_name: LanNameSchema.optional(),
  /** Define only, without starting, when false. */
  start: z.boolean().default(true),
}).strict();
export type VmCreateParams = z.input<typeof VmCreateParamsSchema>;
export type VmCreateRequest = z.infer<typeof VmCreateParamsSchema>;

export const VmGpuSchema = z.object({
  index: z.number().int(),
  uuid: z.string(),
  pci_bus_id: z.string(),
});

export const VM_NETWORK_MODES = ["user", "bridge", "network"] as const;

export const VmSchema = InstanceSummarySchema.extend({
  kind: z.literal("vm"),
  /** The libvirt domain name. */
  domain: z.string(),
  os: VmOsSchema,
  image: z.string(),
  cpu_cores: z.number().int(),
  memory_mib: z.number().int(),
  disk_gib: z.number().int().nullable(),
  firmware: VmFirmwareSchema,
  gpu_devices: z.array(VmGpuSchema),
  network: z.object({ mode: z.enum(VM_NETWORK_MODES), source: z.string().nullable() }),
  /** Where to log in: the forwarded port (user-mode network); null when the guest has its own address. */
  login: z.object({
    protocol: z.enum(["ssh", "rdp"]),
    host: z.string(),
    port: PortSchema,
  }).nullable(),
  vnc: z.object({
    listen: z.string(),
    /** The port asked for; the live one is in the hypervisor view. */
    port: z.number().int().nullable(),
    password: z.string(),
  }),
  /** The renter's description (absent from nodes before it was kept). */
  desc: z.string().optional(),
  custom_ports: z.array(VmPortForwardSchema).optional(),
  /** The extra disks, by the guest's device name, with the size asked for. */
  data_disks: z.array(z.object({ name: z.string(), size_gib: z.number().int() })).optional(),
  /** The renter's private network it is on, with its NIC's MAC address (absent: none). */
  lan: z.object({ network_name: z.string(), mac_address: z.string() }).optional(),
});
export type Vm = z.infer<typeof VmSchema>;

/** What libvirt says about the domain right now, or why it cannot say. */
export const VmHypervisorViewSchema = z.discriminatedUnion("state", [
  z.object({
    state: z.literal("present"),
    /** libvirt's word: running, paused, shut off, crashed, ... */
    status: z.string(),
    vcpus: z.number().int(),
    memory_kib: z.number().int(),
    disks: z.array(z.object({ target: z.string(), source: z.string() })),
    vnc_port: z.number().int().nullable(),
    addresses: z.array(z.string()),
  }),
  z.object({ state: z.literal("missing") }),
  z.object({ state: z.literal("unavailable"), reason: z.string() }),
]);
export type VmHypervisorView = z.infer<typeof VmHypervisorViewSchema>;

/**
 * How to log in to a Linux guest, as its seed disk told cloud-init at first
 * boot (a change inside the guest is not seen here). Only in a VM's detail,
 * which the renter routes show its owner alone: never in lists.
 */
export const VmCredentialsSchema = z.object({
  user: z.string(),
  password: z.string(),
  /** Whether SSH takes the password too; when the renter gave keys and no password, keys only. */
  password_ssh: z.boolean(),
  ssh_keys: z.array(z.string()),
});
export type VmCredentials = z.infer<typeof VmCredentialsSchema>;

export const VmDetailSchema = VmSchema.extend({
  /** Null for Windows guests and for VMs made before the node wrote seed disks. */
  credentials: VmCredentialsSchema.nullable(),
  hypervisor: VmHypervisorViewSchema,
});
export type VmDetail = z.infer<typeof VmDetailSchema>;

const VmTarget = { actor: ActorSchema, id: InstanceIdSchema };
export const VmTargetSchema = z.object(VmTarget).strict();
export const VmStopParamsSchema = z.object({
  ...VmTarget,
  /** Power off at once instead of asking the guest (ACPI) first. */
  force: z.boolean().default(false),
  /** How long the guest has to shut down before it is forced off. */
  timeout_ms: z.number().int().min(0).max(VM_LIMITS.maxShutdownTimeoutMs).optional(),
  /**
   * Only ask the guest (ACPI, `virsh shutdown`), never force it, and answer at once (state still
   * `running`): the original's shutdown. The node watches the guest for `timeout_ms` (5 minutes
   * when absent) and records whether it went off (event `vm.shutdown_outcome`).
   */
  acpi_only: z.boolean().default(false),
}).strict().refine((params) => !(params.force && params.acpi_only), {
  message: "force and acpi_only exclude each other",
});
/** A new login password for a running Linux guest (through its guest agent). */
export const VmPasswdParamsSchema = z.object({
  ...VmTarget,
  /** The node's login user when absent. */
  user: VmUserNameSchema.optional(),
  password: VmPasswordSchema,
}).strict();
export const VmGetParamsSchema = z.object({ id: InstanceIdSchema }).strict();
export const VmListParamsSchema = z.object({
  include_deleted: z.boolean().default(false),
}).strict();
export const VmLogsParamsSchema = z.object({
  id: InstanceIdSchema,
  from: z.enum(["head", "tail"]).default("tail"),
  lines: z.number().int().min(1).max(VM_LIMITS.maxLogLines).default(VM_LIMITS.maxLogLines),
}).strict();
export const VmLogsSchema = z.object({ lines: z.array(z.string()), truncated: z.boolean() });

/**
 * A snapshot's name. It starts with a letter because qemu-img takes an
 * all-digit argument for a snapshot's numeric id as well as for a name.
 */
export const VmSnapshotNameSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9._-]{0,63}$/, {
  message: "expected a snapshot name: a letter, then letters, digits, '.', '_' or '-' (at most 64)",
});
export const VmSnapshotDescriptionSchema = z.string().max(VM_LIMITS.maxSnapshotDescriptionLength)
  // deno-lint-ignore no-control-regex
  .regex(/^[^\x00-\x1f\x7f]*$/, { message: "expected one line without control characters" });

/** A snapshot of a VM's disk (an internal qcow2 snapshot of its overlay). */
export const VmSnapshotSchema = z.object({
  vm_id: z.string(),
  name: z.string(),
  description: z.string(),
  /** The disk's size when the snapshot was taken; a restore keeps the disk's size now. */
  disk_bytes: z.number().int(),
  created_at: z.number(),
  created_by: z.string(),
});
export type VmSnapshot = z.infer<typeof VmSnapshotSchema>;
export const VmSnapshotListSchema = z.object({ snapshots: z.array(VmSnapshotSchema) });
export const VmSnapshotDeletedSchema = z.object({
  vm_id: z.string(),
  name: z.string(),
  deleted: z.literal(true),
});

export const VmSnapshotCreateParamsSchema = z.object({
  ...VmTarget,
  name: VmSnapshotNameSchema,
  description: VmSnapshotDescriptionSchema.default(""),
}).strict();
export const VmSnapshotTargetSchema = z.object({ ...VmTarget, name: VmSnapshotNameSchema })
  .strict();
export const VmSnapshotListParamsSchema = z.object({ id: InstanceIdSchema }).strict();
export const VmSnapshotGetParamsSchema = z.object({
  id: InstanceIdSchema,
  name: VmSnapshotNameSchema,
}).strict();

/** New resources of a stopped VM; what is absent stays as it is. The disk only grows. */
export const VmModifyParamsSchema = z.object({
  ...VmTarget,
  cpu_cores: z.number().int().min(1).max(VM_LIMITS.maxCpuCores).optional(),
  memory_mib: z.number().int().min(VM_LIMITS.minMemoryMib).max(VM_LIMITS.maxMemoryMib)
    .optional(),
  disk_gib: z.number().int().min(1).max(VM_LIMITS.maxDiskGib).optional(),
  /** Host port forwarded to the guest's SSH or RDP (user-mode networking only). */
  login_port: PortSchema.optional(),
  /** Host port of the VM's VNC display (the original's `new_vnc_port`). */
  vnc_port: z.number().int().min(5900).max(65535).optional(),
  /**
   * The VM's custom forwards, all of them: they replace the ones it has (an empty list removes
   * them); user-mode networking only (the original's `new_custom_port`).
   */
  custom_ports: z.array(VmPortForwardSchema).max(VM_OPS_LIMITS.maxCustomPorts).optional(),
}).strict().refine(
  (params) =>
    params.cpu_cores !== undefined || params.memory_mib !== undefined ||
    params.disk_gib !== undefined || params.login_port !== undefined ||
    params.vnc_port !== undefined || params.custom_ports !== undefined,
  {
    message:
      "name at least one of cpu_cores, memory_mib, disk_gib, login_port, vnc_port, custom_ports",
  },
);
export type VmModifyRequest = z.infer<typeof VmModifyParamsSchema>;

export const VmImageSchema = z.object({
  name: z.string(),
  state: z.enum(["adding", "ready", "failed"]),
  /** qemu-img's word: qcow2, raw, ... (null until known). */
  format: z.string().nullable(),
  size_bytes: z.number().nullable(),
  virtual_size_bytes: z.number().nullable(),
  sha256: z.string().nullable(),
  source: z.string(),
  error: z.string().nullable(),
  added_at: z.number(),
  updated_at: z.number(),
  /** While adding: bytes written so far, and the total when the source says. */
  progress: z.object({ done_bytes: z.number(), total_bytes: z.number().nullable() }).nullable(),
  /** VMs (not deleted) whose disk or boot files come from this image. */
  used_by: z.array(z.string()),
  /** The renter who added it through the renter API; null for the operator's images. */
  added_by: z.string().nullable(),
});
export type VmImage = z.infer<typeof VmImageSchema>;

export const VmImageAddParamsSchema = z.object({
  actor: ActorSchema,
  name: VmImageNameSchema,
  source: z.discriminatedUnion("kind", [
    /** A file the node service may read: inside the image directory it is registered in place. */
    z.object({ kind: z.literal("path"), path: z.string().min(1).max(4096).startsWith("/") }),
    z.object({ kind: z.literal("url"), url: z.url({ protocol: /^https?$/ }).max(4096) }),
  ]),
  /** The expected SHA-256; the image is refused (and removed) when it differs. */
  sha256: Sha256Schema.optional(),
  /**
   * The renter adding it for itself: it alone sees, boots and deletes it, under a name of its own
   * (no operator image's name is taken); absent for the operator's images.
   */
  added_by: ActorSchema.optional(),
  /** How many images `added_by` may keep at once, checked in the same transaction as the insert. */
  max_per_owner: z.number().int().min(1).optional(),
}).strict();
export const VmImageDeleteParamsSchema = z.object({
  actor: ActorSchema,
  name: VmImageNameSchema,
  /** Deletes the image `owner` added under `name` (a renter's own), not the operator's. */
  owner: ActorSchema.optional(),
}).strict();
/** With `owner`: what that renter may see and boot (the operator's images and its own, by its names). */
export const VmImageListParamsSchema = z.object({ owner: ActorSchema.optional() }).strict();

export const GpuAllocationSchema = z.object({
  gpu_uuid: z.string(),
  gpu_index: z.number().int(),
  pci_bus_id: z.string(),
  instance_kind: z.enum(["vm", "container"]),
  instance_id: z.string(),
  allocated_at: z.number(),
});

export const VmListSchema = z.object({ vms: z.array(VmSchema) });

export const VmImageListSchema = z.object({ images: z.array(VmImageSchema) });
export const VmImageDeletedSchema = z.object({ name: z.string(), deleted: z.literal(true) });
export const GpuAllocationListSchema = z.object({ allocations: z.array(GpuAllocationSchema) });
