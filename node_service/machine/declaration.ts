/**
 * What a GPU node declares about its machine when it registers, pure: the
 * GPUs from its inventory, CPU, memory and the disk that holds VMs as the
 * operating system reports them, less the free-space reserve the VM service
 * keeps (a check VM or a renter may use the rest). The operator may declare
 * less, or correct what the host cannot learn; validators then check what
 * was declared by creating a VM of that size.
 */
import type { GpuReport, MachineConfig } from "../../mod/mod.ts";
import type { HostFacts } from "../market/mod.ts";
import { gpuGroups } from "../market/mod.ts";

export type DeclarationInput = {
  gpuReport: GpuReport;
  host: HostFacts;
  /** The VM volume's free-space reserve (`vm_min_free_disk_gib`). */
  reserveGib: number;
  /** What the operator sets itself; each field replaces the measured one. */
  overrides?: Partial<MachineConfig>;
};

export type Declaration =
  | { ok: true; config: MachineConfig }
  | { ok: false; reason: string };

export function declareMachine(input: DeclarationInput): Declaration {
  const groups = gpuGroups(input.gpuReport);
  if (groups.length > 1 && input.overrides?.gpu_model === undefined) {
    return {
      ok: false,
      reason: `the machine has GPUs of ${groups.length} models (${
        groups.map((group) => group.model).join(", ")
      }); a machine is rented as one model: declare gpu_model and gpu_count`,
    };
  }
  const measured: Partial<MachineConfig> = {
    gpu_model: groups[0]?.model ?? "none",
    gpu_count: Math.min(input.gpuReport.gpus.length, 64),
    cpu_model: input.host.cpuModel ?? undefined,
    cpu_cores: input.host.cpuCores ?? undefined,
    memory_gib: input.host.memoryTotalMib === null
      ? undefined
      : Math.floor(input.host.memoryTotalMib / 1024),
    disk_gib: input.host.disk === null
      ? undefined
      : Math.floor(input.host.disk.freeGib - input.reserveGib),
  };
  const config = { ...measured, ...definedOnly(input.overrides ?? {}) };
  const missing = (["cpu_model", "cpu_cores", "memory_gib", "disk_gib"] as const).filter(
    (field) => config[field] === undefined,
  );
  if (missing.length > 0) {
    return {
      ok: false,
      reason: `the host does not tell this node its ${missing.join(", ")}: declare ${
        missing.length === 1 ? "it" : "them"
      }`,
    };
  }
  if ((config.memory_gib ?? 0) < 1 || (config.disk_gib ?? 0) < 1) {
    return {
      ok: false,
      reason: `too little to rent: ${config.memory_gib} GiB of memory, ${config.disk_gib} GiB of ` +
        `disk beyond the ${input.reserveGib} GiB reserve (vm_min_free_disk_gib)`,
    };
  }
  return { ok: true, config: config as MachineConfig };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, item]) => item !== undefined),
  ) as Partial<T>;
}
