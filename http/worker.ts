/**
 * The HTTP worker: serves the hono app on the configured address. It may open
 * that one listening socket and nothing else: no files, no programs, no
 * outbound connections; everything it answers comes from other workers.
 */
import { getConnInfo } from "hono/deno";
import { runWorker } from "../mod/mod.ts";
import { createApp } from "./app.ts";

runWorker("http", ({ init, log, call }) => {
  const { http_host: hostname, http_port: port } = init.config;
  const app = createApp({
    call,
    log,
    rateLimit: { perSecond: init.config.http_rate_limit_per_s, burst: init.config.http_rate_burst },
    clientAddress: (c) => getConnInfo(c).remote.address ?? "unknown",
    walletAuth: {
      timestampWindowMs: init.config.auth_timestamp_window_s * 1_000,
      allowLegacyNonce: init.config.auth_legacy_nonce_signing,
    },
  });
  const server = Deno.serve({
    hostname,
    port,
    onListen: () =>
      log.info("HTTP API listening", {
        address: `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`,
      }),
  }, app.fetch);
  return {
    handlers: {},
    async stop() {
      await server.shutdown();
    },
  };
});
