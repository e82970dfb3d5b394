/**
 * The HTTP worker: serves the hono app on the configured address, and answers
 * the API requests other nodes send it through the network (the network
 * worker calls `http.remote_request` for each). It may open that one listening
 * socket and nothing else: no files, no programs, no outbound connections;
 * everything it answers comes from other workers.
 */
import type { Context } from "hono";
import { getConnInfo } from "hono/deno";
import { machineIdOf, runWorker } from "../mod/mod.ts";
import { createApp } from "./app.ts";
import { answerRemoteRequest } from "./remote.ts";
import { createCompatApp, listenInOriginalDialect } from "./compat/mod.ts";
import { HttpMetrics } from "./metrics/mod.ts";
import { loadDashboardAssets } from "./ui/mod.ts";

// The dashboard's bundle, imported as soon as this worker runs (a module, not a file read: this
// worker reads none), before anything could replace the file Deno loaded with the worker.
const dashboard = loadDashboardAssets();

runWorker("http", async ({ init, log, call }) => {
  const { http_host: hostname, http_port: port } = init.config;
  const clientAddress = (c: Context) => getConnInfo(c).remote.address ?? "unknown";
  const machineId = init.config.role === "gpu" ? machineIdOf(init.config, init.node_id) : undefined;
  const ui = await dashboard;
  if (ui.kind === "missing") log.info("dashboard not served", { reason: ui.reason });
  const app = createApp({
    call,
    log,
    rateLimit: { perSecond: init.config.http_rate_limit_per_s, burst: init.config.http_rate_burst },
    clientAddress,
    walletAuth: {
      timestampWindowMs: init.config.auth_timestamp_window_s * 1_000,
      allowLegacyNonce: init.config.auth_legacy_nonce_signing,
    },
    node: {
      nodeId: init.node_id,
      role: init.config.role,
      forwardTimeoutMs: init.config.request_timeout_ms,
      ledgerAuthority: init.config.ledger_authority,
      machineId,
    },
    operatorToken: init.operator_token,
    metrics: new HttpMetrics({
      call,
      allow: init.config.metrics_allow,
      clientAddress,
      startedAtMs: init.started_at,
    }),
    ui,
  });
  const server = Deno.serve({
    hostname,
    port,
    onListen: () =>
      log.info("HTTP API listening", {
        address: `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`,
      }),
  }, app.fetch);
  // The original dialect: a client-end's second listener, and every node's answers to it.
  const compatApp = createCompatApp({
    call,
    log,
    rateLimit: { perSecond: init.config.http_rate_limit_per_s, burst: init.config.http_rate_burst },
    clientAddress,
    node: {
      nodeId: init.node_id,
      role: init.config.role,
      forwardTimeoutMs: init.config.request_timeout_ms,
      machineId,
    },
  });
  const compatServer = listenInOriginalDialect(init.config, compatApp, log);
  return {
    handlers: {
      // API requests from other nodes, which the network worker hands over one call each.
      "http.remote_request": ({ from, body }) =>
        answerRemoteRequest({ app, compatApp }, from, body),
    },
    async stop() {
      await server.shutdown();
      await compatServer?.shutdown();
    },
  };
});
