/**
 * The host's counters the original reports for a machine
 * (DBC-AIComputingNet 0.4.1.7, `SystemInfo`): CPU time, memory, the disk
 * that holds the VMs, the load average. Read through Deno's `sys` grants
 * (`cpus`, `systemMemoryInfo`, `statfs`, `loadavg`): a worker may not read
 * /proc itself.
 */
import { cpus } from "node:os";
import { statfs } from "node:fs/promises";

const KIB = 1024;

export type HostSample = {
  /** When it was read, in ms since the epoch. */
  at: number;
  /** CPU time of all cores, in ms: user + nice + system (busy), and that + idle (the original's). */
  cpuBusyMs: number;
  cpuCountedMs: number;
  memTotalKib: number;
  memFreeKib: number;
  /** The filesystem of the VM directory (the original's `/data`); null when it cannot be read. */
  disk: { totalKib: number; availableKib: number } | null;
  /** 1, 5 and 15 minutes; null when it cannot be read (the original then leaves them out). */
  loadAverage: [number, number, number] | null;
};

/** Reads the host now; what cannot be read is null, never a failure of the whole sample. */
export async function sampleHost(diskPath: string, now: number): Promise<HostSample> {
  let cpuBusyMs = 0;
  let cpuCountedMs = 0;
  for (const { times } of cpus()) {
    const busy = times.user + times.nice + times.sys;
    cpuBusyMs += busy;
    cpuCountedMs += busy + times.idle;
  }
  const memory = Deno.systemMemoryInfo();
  let disk: HostSample["disk"] = null;
  try {
    const stats = await statfs(diskPath);
    disk = {
      totalKib: Math.floor((stats.blocks * stats.bsize) / KIB),
      availableKib: Math.floor((stats.bavail * stats.bsize) / KIB),
    };
  } catch {
    // The original reports the data disk "lost" then; payload.ts does.
  }
  let loadAverage: HostSample["loadAverage"] = null;
  try {
    const [one, five, fifteen] = Deno.loadavg();
    loadAverage = [one!, five!, fifteen!];
  } catch {
    // Not granted (a node started with its own flags): left out, as the original leaves it.
  }
  return {
    at: now,
    cpuBusyMs,
    cpuCountedMs,
    memTotalKib: Math.floor(memory.total / KIB),
    memFreeKib: Math.floor(memory.free / KIB),
    disk,
    loadAverage,
  };
}
