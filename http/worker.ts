/**
 * The HTTP worker: serves the hono app on the configured address, and answers
 * the API requests other nodes send it through the network. It may open that
 * one listening socket and nothing else: no files, no programs, no outbound
 * connections; everything it answers comes from other workers.
 */
import { getConnInfo } from "hono/deno";
import { runWorker } from "../mod/mod.ts";
import { createApp } from "./app.ts";
import { serveRemoteRequests } from "./remote.ts";

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
    node: {
      nodeId: init.node_id,
      role: init.config.role,
      forwardTimeoutMs: init.config.request_timeout_ms,
      ledgerAuthority: init.config.ledger_authority,
    },
    operatorToken: init.operator_token,
  });
  const server = Deno.serve({
    hostname,
    port,
    onListen: () =>
      log.info("HTTP API listening", {
        address: `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`,
      }),
  }, app.fetch);
  const remote = new AbortController();
  const serving = serveRemoteRequests({ call, app, log, signal: remote.signal });
  return {
    handlers: {},
    async stop() {
      remote.abort();
      await server.shutdown();
      await Promise.race([serving, new Promise((resolve) => setTimeout(resolve, 1_000))]);
    },
  };
});
