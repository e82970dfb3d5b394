/**
 * What a GPU node announces about its machine: GPUs grouped by model and
 * memory (from the nvidia-smi inventory), CPU model and count, memory, the
 * disk that holds VMs, the ledger's state of the machine and the asking
 * price. {@link buildServiceSummary} is pure; {@link readHostFacts} asks the
 * system through the narrow `sys` grants the node service holds (`cpus`,
 * `systemMemoryInfo`, `statfs`: Deno refuses a worker `/proc/cpuinfo` and
 * `/proc/meminfo` short of every permission), and reports `null` for any
 * fact it cannot learn rather than failing the announcement.
 */
import { cpus } from "node:os";
import { statfs } from "node:fs/promises";
import type { GpuGroup, GpuReport, MarketNode, ServiceSummary } from "../../mod/mod.ts";

/** The machine as the operating system reports it. */
export type HostFacts = {
  cpuModel: string | null;
  cpuCores: number | null;
  memoryTotalMib: number | null;
  disk: { totalGib: number; freeGib: number } | null;
};

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** CPU, memory and the size of the first of `diskPaths` that can be measured. */
export async function readHostFacts(diskPaths: readonly string[]): Promise<HostFacts> {
  let cpuModel: string | null = null;
  let cpuCores: number | null = null;
  try {
    const list = cpus();
    cpuCores = list.length > 0 ? list.length : null;
    cpuModel = list[0]?.model.trim() || null;
  } catch {
    // Without the grant, the count the runtime exposes to every script is the next best thing.
    cpuCores = navigator.hardwareConcurrency || null;
  }
  let memoryTotalMib: number | null = null;
  try {
    memoryTotalMib = Math.floor(Deno.systemMemoryInfo().total / MIB);
  } catch {
    memoryTotalMib = null;
  }
  let disk: HostFacts["disk"] = null;
  for (const path of diskPaths) {
    try {
      const stats = await statfs(path);
      disk = {
        totalGib: Math.floor((Number(stats.blocks) * Number(stats.bsize)) / GIB),
        freeGib: Math.floor((Number(stats.bavail) * Number(stats.bsize)) / GIB),
      };
      break;
    } catch {
      // Not created yet, or not ours to read: try the next.
    }
  }
  return {
    cpuModel: cpuModel === null ? null : cpuModel.slice(0, 128),
    cpuCores: cpuCores === null ? null : Math.min(cpuCores, 4096),
    memoryTotalMib,
    disk,
  };
}

/** GPUs of the same model and memory size counted together, in inventory order. */
export function gpuGroups(report: GpuReport): GpuGroup[] {
  const groups = new Map<string, GpuGroup>();
  for (const gpu of report.gpus) {
    const model = gpu.name.trim().slice(0, 128) || "unknown GPU";
    const memory = gpu.memory_total_mib === null ? null : Math.floor(gpu.memory_total_mib);
    const key = `${model}\u0000${memory}`;
    const group = groups.get(key);
    if (group) group.count++;
    else groups.set(key, { model, count: 1, memory_total_mib: memory });
  }
  return [...groups.values()];
}

export type SummaryInput = {
  nodeId: string;
  version: string;
  gpuReport: GpuReport;
  host: HostFacts;
  state: ServiceSummary["state"];
  pricePerHour: string | null;
  announceIntervalS: number;
  now: number;
  /** The chain-style machine id original clients address this node by (mod/machine_id.ts). */
  machineId?: string;
};

/** The body of this node's `service.summary` broadcast. */
export function buildServiceSummary(input: SummaryInput): ServiceSummary {
  return {
    node_id: input.nodeId,
    role: "gpu",
    version: input.version.slice(0, 64),
    gpu_count: Math.min(input.gpuReport.gpus.length, 64),
    gpus: gpuGroups(input.gpuReport),
    gpu_status: input.gpuReport.state,
    cpu: { model: input.host.cpuModel, cores: input.host.cpuCores },
    memory_total_mib: input.host.memoryTotalMib,
    disk: input.host.disk
      ? { total_gib: input.host.disk.totalGib, free_gib: input.host.disk.freeGib }
      : null,
    state: input.state,
    price_per_hour: input.pricePerHour,
    announce_interval_s: input.announceIntervalS,
    signed_at: input.now,
    ...(input.machineId ? { machine_id: input.machineId } : {}),
  };
}

/** A one-line description for logs. */
export function describeSummary(summary: ServiceSummary | MarketNode): string {
  const gpus = summary.gpus.map((group) => `${group.count}x ${group.model}`).join(", ") ||
    "no GPUs";
  return `${summary.node_id}: ${gpus}, state ${summary.state}`;
}
