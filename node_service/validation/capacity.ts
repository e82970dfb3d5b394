/**
 * Whether this node can make a check VM of the declared size. Pure.
 *
 * The guest sees what its VM was given, not what the host has: QEMU starts a
 * guest with more vCPUs than the host has cores, or more memory than it has
 * (it allocates lazily), and a qcow2 overlay promises any size. A check VM
 * made that way would show the declaration back to the validator. So the
 * node refuses, before anything is made, what its host cannot back: more
 * cores than it has, more memory or disk than it has (within the ledger's
 * tolerance), more GPUs than it can pass through, more than a VM may have.
 */
import { type CheckSize, VM_LIMITS } from "../../mod/mod.ts";
import { DECLARED_CAPACITY_TOLERANCE } from "./constants.ts";

/** What the host has, as its operating system says; null where it could not be learnt. */
export type HostCapacity = {
  cpuCores: number | null;
  memoryTotalMib: number | null;
  /** Free on the volume VM disks go to. */
  diskFreeGib: number | null;
  /** GPUs this node can pass through, or why there are none. */
  gpus: { count: number } | { count: 0; reason: string };
};

/** Why this node cannot make a VM of `size`; undefined when it can. */
export function capacityRefusal(size: CheckSize, host: HostCapacity): string | undefined {
  const problems: string[] = [];
  const memoryMib = size.memory_gib * 1024;
  if (size.cpu_cores > VM_LIMITS.maxCpuCores) {
    problems.push(`cpu_cores ${size.cpu_cores}: a VM has at most ${VM_LIMITS.maxCpuCores}`);
  } else if (host.cpuCores !== null && size.cpu_cores > host.cpuCores) {
    problems.push(`cpu_cores ${size.cpu_cores}: the host has ${host.cpuCores}`);
  }
  if (memoryMib > VM_LIMITS.maxMemoryMib) {
    problems.push(
      `memory_gib ${size.memory_gib}: a VM has at most ${VM_LIMITS.maxMemoryMib / 1024} GiB`,
    );
  } else if (
    host.memoryTotalMib !== null &&
    memoryMib * DECLARED_CAPACITY_TOLERANCE > host.memoryTotalMib
  ) {
    problems.push(
      `memory_gib ${size.memory_gib}: the host has ${(host.memoryTotalMib / 1024).toFixed(1)} GiB`,
    );
  }
  if (size.disk_gib > VM_LIMITS.maxDiskGib) {
    problems.push(`disk_gib ${size.disk_gib}: a VM disk has at most ${VM_LIMITS.maxDiskGib} GiB`);
  } else if (
    host.diskFreeGib !== null && size.disk_gib * DECLARED_CAPACITY_TOLERANCE > host.diskFreeGib
  ) {
    problems.push(`disk_gib ${size.disk_gib}: ${host.diskFreeGib} GiB free for VM disks`);
  }
  if (size.gpu_count > VM_LIMITS.maxGpus) {
    problems.push(`gpu_count ${size.gpu_count}: a VM has at most ${VM_LIMITS.maxGpus} GPUs`);
  } else if (size.gpu_count > host.gpus.count) {
    problems.push(
      `gpu_count ${size.gpu_count}: ${
        "reason" in host.gpus
          ? `this node has no GPU to pass through (${host.gpus.reason})`
          : `this node has ${host.gpus.count} to pass through`
      }`,
    );
  }
  return problems.length === 0
    ? undefined
    : `this node cannot make a VM of the size its owner declared: ${problems.join("; ")}`;
}
