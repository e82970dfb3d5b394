/**
 * An instance's resource usage at one moment, as its GPU node reads it from
 * the container engine (Docker's stats) or libvirt (`virsh domstats`):
 * counters since the instance started, so a client reading it twice gets
 * rates (the dashboard draws them as charts). A counter the source does not
 * report is null.
 */
import { z } from "zod";
import { InstanceIdSchema } from "./instance.ts";

const Counter = z.number().min(0).nullable();

export const InstanceUsageSchema = z.object({
  id: InstanceIdSchema,
  kind: z.enum(["vm", "container"]),
  /** When it was read, ms since the epoch. */
  at: z.number(),
  /** CPU time used since the instance started, ns (all its CPUs together). */
  cpu_time_ns: Counter,
  /** CPUs it may use (vCPUs, or the engine's online CPUs for a container). */
  cpus: Counter,
  /** Memory in use: the guest's own view when its balloon driver reports it, else the host's. */
  memory_used_bytes: Counter,
  /** Memory it may use. */
  memory_limit_bytes: Counter,
  net_rx_bytes: Counter,
  net_tx_bytes: Counter,
  disk_read_bytes: Counter,
  disk_write_bytes: Counter,
});
export type InstanceUsage = z.infer<typeof InstanceUsageSchema>;

export const InstanceUsageParamsSchema = z.object({ id: InstanceIdSchema }).strict();
