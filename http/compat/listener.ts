/**
 * A client-end's second listener, in the original dialect: on `http_host`,
 * port `compat_http_port` (5002 by default, the original's; 0: none). Only
 * client-ends open it (the HTTP worker's grant names that port for them
 * alone). A port that cannot be had is logged with the fix and the native
 * API goes on: the second listener must not take the first one down.
 */
import type { Hono } from "hono";
import type { Logger, NodeConfig } from "../../mod/mod.ts";

export type CompatListener = { shutdown(): Promise<void> };

export function listenInOriginalDialect(
  config: Pick<NodeConfig, "role" | "http_host" | "compat_http_port">,
  app: Hono,
  log: Logger,
): CompatListener | undefined {
  if (config.role !== "client" || config.compat_http_port === 0) return undefined;
  const { http_host: hostname, compat_http_port: port } = config;
  const address = `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  try {
    return Deno.serve({
      hostname,
      port,
      onListen: () => log.info("original-dialect HTTP API listening", { address }),
    }, app.fetch);
  } catch (error) {
    log.error("cannot listen for the original dialect; the native API goes on without it", {
      address,
      error: (error as Error).message,
      fix: "set compat_http_port to a free port, or 0 to turn the listener off",
    });
    return undefined;
  }
}
