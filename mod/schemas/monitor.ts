/**
 * Renters' monitoring servers (the original's `/monitor`, `/monitor/set`):
 * a renter names up to two `host:port` servers, and the GPU node sends the
 * metrics of the renter's VMs and of the host there (node_service/monitor/).
 * The schemas check the shape; the node service judges the addresses
 * (`host:port`, no loopback or private range unless the operator allows).
 */
import { z } from "zod";
import { ActorSchema } from "./instance.ts";
import { AccountSchema } from "./ledger.ts";

/** The original's limit (`setMonitorServer`: "can not enter more than two servers"). */
export const MAX_MONITOR_SERVERS = 2;

/** A name of at most 253 characters, a colon and a port; the node service checks the rest. */
export const MonitorAddressSchema = z.string().min(1).max(261);

export const MonitorServersSchema = z.object({
  /** `host:port` each, as the renter named them (IPv6 in brackets). */
  servers: z.array(z.string()),
});
export type MonitorServers = z.infer<typeof MonitorServersSchema>;

export const MonitorListParamsSchema = z.object({ account: AccountSchema }).strict();

export const MonitorSetParamsSchema = z.object({
  /** Who asks (the account, or the session acting for it); goes to the event log. */
  actor: ActorSchema,
  account: AccountSchema,
  /** Replaces the account's list; empty stops the pushes. */
  servers: z.array(MonitorAddressSchema).max(MAX_MONITOR_SERVERS, {
    message: `can not enter more than ${MAX_MONITOR_SERVERS} servers`,
  }),
}).strict();
