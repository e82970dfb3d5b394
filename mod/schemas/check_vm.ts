/**
 * Check VMs: what a validator creates on a GPU node that awaits validation
 * (`validation.check_*` methods, `/api/v1/validation/checks` routes). The GPU
 * node sizes the VM from what its owner declared in the ledger, so the
 * validator checks the declared whole; the validator picks only the image.
 * A script on the VM's seed disk prints what the guest sees to its serial
 * console, and the node reads those lines back as {@link CheckFactsSchema}.
 */
import { z } from "zod";
import { InstanceIdSchema, InstanceStateSchema } from "./instance.ts";
import { AccountSchema, MachineIdSchema, TimeSlotSchema } from "./ledger.ts";
import { DirectBootSchema, VmImageNameSchema } from "./vm.ts";

/** The check VM's size: the owner's declaration, all of its GPUs included. */
export const CheckSizeSchema = z.object({
  cpu_cores: z.number().int(),
  memory_gib: z.number().int(),
  disk_gib: z.number().int(),
  gpu_count: z.number().int(),
});
export type CheckSize = z.infer<typeof CheckSizeSchema>;

/** A display controller the guest saw on its PCI bus (the hypervisor's own emulated ones left out). */
export const CheckGpuSchema = z.object({
  /** PCI ids as sysfs writes them: `0x10de`. */
  vendor_id: z.string(),
  device_id: z.string(),
  /** nvidia-smi's name for it, when nvidia-smi ran in the guest. */
  name: z.string().optional(),
});

/** What the guest said about itself. */
export const CheckObservedSchema = z.object({
  cpu_cores: z.number().int(),
  cpu_model: z.string().nullable(),
  /** MemTotal rounded up to whole GiB. */
  memory_gib: z.number().int(),
  /** The largest disk the guest sees, in whole GiB (rounded down): the check VM's own disk. */
  disk_gib: z.number().int(),
  gpus: z.array(CheckGpuSchema),
  /** `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader`, when it ran. */
  nvidia_smi: z.array(z.string()).optional(),
  /** The facts the guest did not report (their numbers above are 0, their model null). */
  missing: z.array(z.string()),
});
export type CheckObserved = z.infer<typeof CheckObservedSchema>;

/** `booting` until the guest has printed its whole report (`DBC-CHECK-END`). */
export const CheckFactsSchema = z.discriminatedUnion("state", [
  z.object({ state: z.literal("booting") }),
  z.object({ state: z.literal("ready"), observed: CheckObservedSchema }),
]);
export type CheckFacts = z.infer<typeof CheckFactsSchema>;

export const CHECK_DELETE_REASONS = [
  /** The validator deleted it. */
  "validator",
  /** Its slot ended: the node deleted it. */
  "slot_ended",
  /** The VM could not be created (too big for this node, no GPUs, libvirt refused). */
  "create_failed",
  /** Its VM was deleted by someone else (the operator). */
  "vm_gone",
] as const;
export const CheckDeleteReasonSchema = z.enum(CHECK_DELETE_REASONS);
export type CheckDeleteReason = z.infer<typeof CheckDeleteReasonSchema>;

const CheckVmBase = z.object({
  /** The check VM's id (its VM's id too). */
  check_id: InstanceIdSchema,
  validator: z.string(),
  machine_id: MachineIdSchema,
  /** The ledger's validation round the check belongs to. */
  round: z.number().int(),
  /** The validator's slot it was made in; the node deletes it when the slot ends. */
  slot: TimeSlotSchema,
  size: CheckSizeSchema,
  image: z.string(),
  created_at: z.number(),
  updated_at: z.number(),
});

/** A check VM: `live` while its VM exists (in the VM's own state), `deleted` with the reason. */
export const CheckVmSchema = z.discriminatedUnion("state", [
  CheckVmBase.extend({ state: z.literal("live"), vm_state: InstanceStateSchema }),
  CheckVmBase.extend({
    state: z.literal("deleted"),
    reason: CheckDeleteReasonSchema,
    deleted_at: z.number(),
    /** Why the create failed, for `create_failed`. */
    error: z.string().nullable(),
  }),
]);
export type CheckVm = z.infer<typeof CheckVmSchema>;

/** A check VM with what its guest reported so far (null once it is deleted). */
export const CheckVmDetailSchema = z.object({
  check: CheckVmSchema,
  facts: CheckFactsSchema.nullable(),
});
export type CheckVmDetail = z.infer<typeof CheckVmDetailSchema>;

export const CheckCreateParamsSchema = z.object({
  /** The signer: the validator's wallet or multisig account. */
  validator: AccountSchema,
  /** The VM's disk image, one the operator offers on this node. */
  image: VmImageNameSchema,
  /** A kernel (and initrd) to boot straight into, for images without a boot loader. */
  direct_boot: DirectBootSchema.optional(),
}).strict();
export const CheckTargetParamsSchema = z.object({
  validator: AccountSchema,
  check_id: InstanceIdSchema,
}).strict();
export const CheckListParamsSchema = z.object({ validator: AccountSchema }).strict();
export const CheckListSchema = z.object({ checks: z.array(CheckVmSchema) });
