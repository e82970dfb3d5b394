/**
 * Reads the Docker Engine API's one-shot stats of a container
 * (`GET /containers/{id}/stats?stream=false&one-shot=true`, answered by
 * Docker and Podman alike) into the counters the node reports as usage.
 * Pure: tested against answers recorded from Podman and Docker.
 */
import { z } from "zod";
import { EngineError, type EngineUsage } from "../engine.ts";

const Count = z.number().nullish();
const StatsSchema = z.object({
  cpu_stats: z.object({
    cpu_usage: z.object({ total_usage: Count }).nullish(),
    online_cpus: Count,
  }).nullish(),
  memory_stats: z.object({
    usage: Count,
    limit: Count,
    /** cgroup v2 (`inactive_file`) or v1 (`total_inactive_file`): page cache the kernel can drop. */
    stats: z.record(z.string(), z.number()).nullish(),
  }).nullish(),
  networks: z.record(z.string(), z.object({ rx_bytes: Count, tx_bytes: Count })).nullish(),
  blkio_stats: z.object({
    io_service_bytes_recursive: z.array(z.object({ op: z.string(), value: z.number() })).nullish(),
  }).nullish(),
});

/** The usage counters in a stats answer; a counter the engine left out is null. */
export function containerUsageFrom(value: unknown): EngineUsage {
  const parsed = StatsSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new EngineError(
      "failed",
      `unexpected container stats answer from the engine: ${
        issue?.path.join(".")
      } ${issue?.message}`,
    );
  }
  const stats = parsed.data;
  const memory = stats.memory_stats;
  // As `docker stats` shows it: the page cache the kernel can reclaim is not counted as used.
  const cache = memory?.stats?.inactive_file ?? memory?.stats?.total_inactive_file ?? 0;
  const networks = Object.values(stats.networks ?? {});
  const io = stats.blkio_stats?.io_service_bytes_recursive ?? [];
  const ioTotal = (op: string) => {
    const entries = io.filter((entry) => entry.op.toLowerCase() === op);
    return entries.length === 0 ? null : entries.reduce((sum, entry) => sum + entry.value, 0);
  };
  return {
    cpuTimeNs: counter(stats.cpu_stats?.cpu_usage?.total_usage),
    cpus: counter(stats.cpu_stats?.online_cpus),
    memoryUsedBytes: counter(
      memory?.usage === null || memory?.usage === undefined
        ? undefined
        : Math.max(0, memory.usage - cache),
    ),
    memoryLimitBytes: counter(memory?.limit),
    netRxBytes: networks.length === 0 ? null : sum(networks.map((net) => net.rx_bytes)),
    netTxBytes: networks.length === 0 ? null : sum(networks.map((net) => net.tx_bytes)),
    diskReadBytes: ioTotal("read"),
    diskWriteBytes: ioTotal("write"),
  };
}

function counter(value: number | null | undefined): number | null {
  return value === null || value === undefined || !Number.isFinite(value) || value < 0
    ? null
    : value;
}

function sum(values: Array<number | null | undefined>): number | null {
  let total = 0;
  for (const value of values) {
    if (value === null || value === undefined) return null;
    total += value;
  }
  return total;
}
