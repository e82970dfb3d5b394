/**
 * `GET /metrics` and the request metrics inside the HTTP app: route patterns (never raw paths)
 * as labels, refusals counted too, who may scrape, and a scrape that survives a worker that
 * does not answer. The other workers are stood in for at the `call` boundary; the whole node is
 * scraped for real in tests/integration/metrics_test.ts.
 */
import assert from "node:assert/strict";
import { type AppDeps, createApp } from "../../http/mod.ts";
import { HttpMetrics, methodLabel, metricsRefusal } from "../../http/metrics/mod.ts";
import {
  type Method,
  type MetricsSnapshot,
  type NodeStatus,
  type ParamsOf,
  parseCidrList,
  silentLogger,
} from "../../mod/mod.ts";

const NODE_STATUS: NodeStatus = {
  node_id: "12D3KooWTestNodeTestNodeTestNodeTestNodeTestNodeTest",
  role: "gpu",
  version: "test",
  network_id: "dbc-test",
  started_at: 0,
  uptime_s: 1,
  workers: {
    network: { state: "running", since: 0, restarts: 0 },
    node_service: { state: "restarting", since: 0, restarts: 2, last_error: "x", retry_at: 1 },
    http: { state: "running", since: 0, restarts: 0 },
  },
};

const NETWORK_SNAPSHOT: MetricsSnapshot = {
  families: [{
    name: "dbc_p2p_peers",
    help: "Open links to neighbours, by who dialled.",
    type: "gauge",
    values: [{ value: 3, labels: { direction: "outbound" } }],
  }],
};

function appWith(
  options: {
    address?: string;
    client?: { address: string };
    allow?: string[];
    rateLimit?: boolean;
  } = {},
) {
  const call = (<M extends Method>(method: M, _params: ParamsOf<M>) => {
    switch (method) {
      case "node.status":
        return Promise.resolve(NODE_STATUS);
      case "metrics.network":
        return Promise.resolve(NETWORK_SNAPSHOT);
      default:
        // The node service is restarting: its metrics are missing from this scrape.
        return Promise.reject(new Error(`${method}: node_service is restarting`));
    }
  }) as AppDeps["call"];
  // The rate limit counts per client address: a test may change who is asking.
  const clientAddress = () => options.client?.address ?? options.address ?? "127.0.0.1";
  return createApp({
    call,
    log: silentLogger,
    clientAddress,
    rateLimit: options.rateLimit ? { perSecond: 1, burst: 2 } : undefined,
    metrics: new HttpMetrics({
      call,
      allow: options.allow ?? ["127.0.0.0/8", "::1/128"],
      clientAddress,
      startedAtMs: 1_700_000_000_000,
    }),
  });
}

async function scrape(app: ReturnType<typeof appWith>): Promise<string> {
  // The event-loop lag is measured on the next turn after the registry is made.
  await new Promise((resolve) => setTimeout(resolve, 0));
  const response = await app.request("/metrics");
  assert.equal(response.status, 200, await response.clone().text());
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return await response.text();
}

Deno.test("requests are counted by method, route pattern and status, refusals included", async () => {
  const client = { address: "127.0.0.9" };
  const app = appWith({ rateLimit: true, client });
  // Unsigned: refused with 401, counted under the route's pattern, not the id asked for.
  assert.equal((await app.request("/api/v1/tasks/vm-secret-1")).status, 401);
  assert.equal((await app.request("/no/such/path/abc123")).status, 404);
  // The burst of 2 is spent: rate-limited before any route runs, yet the route is known.
  assert.equal((await app.request("/api/v1/tasks/vm-secret-2")).status, 429);
  client.address = "127.0.0.1"; // A budget of its own.
  const text = await scrape(app);
  assert.match(
    text,
    /dbc_http_requests_total\{method="GET",route="\/api\/v1\/tasks\/:task_id",status="401"\} 1\n/,
  );
  assert.match(
    text,
    /dbc_http_requests_total\{method="GET",route="\/api\/v1\/tasks\/:task_id",status="429"\} 1\n/,
  );
  assert.match(text, /dbc_http_requests_total\{method="GET",route="unmatched",status="404"\} 1\n/);
  assert.match(
    text,
    /dbc_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/tasks\/:task_id",status="401"\} 1\n/,
  );
  assert.doesNotMatch(text, /vm-secret|abc123/, "raw paths never become labels");
  assert.equal(methodLabel("get"), "GET");
  assert.equal(methodLabel("BREW"), "other");
});

Deno.test("a scrape merges the workers' families; a worker that does not answer is reported, not fatal", async () => {
  const app = appWith();
  // The lag is measured one event-loop turn after registration (prom-client reports it from a
  // setImmediate): a worker's first scrape comes long after that, this test's right away.
  await new Promise((resolve) => setImmediate(resolve));
  const text = await scrape(app);
  assert.match(text, /# TYPE dbc_p2p_peers gauge\ndbc_p2p_peers\{direction="outbound"\} 3\n/);
  assert.match(text, /dbc_metrics_source_up\{worker="network"\} 1\n/);
  assert.match(text, /dbc_metrics_source_up\{worker="node_service"\} 0\n/);
  assert.match(text, /dbc_worker_up\{worker="node_service"\} 0\n/);
  assert.match(text, /dbc_worker_restarts_total\{worker="node_service"\} 2\n/);
  assert.match(
    text,
    /# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes \d+/,
  );
  assert.match(text, /process_start_time_seconds 1700000000\n/);
  assert.match(text, /nodejs_eventloop_lag_seconds\{worker="http"\} /);
  assert.match(text, /dbc_node_info\{node_id="12D3KooWTest[^"]*",role="gpu",version="test"/);
});

Deno.test("only clients in metrics_allow may scrape, never through the network; empty: off", async () => {
  const refused = await appWith({ address: "192.0.2.7" }).request("/metrics");
  assert.equal(refused.status, 403);
  assert.match(
    (await refused.json()).error_message,
    /metrics answer only to metrics_allow \(127\.0\.0\.0\/8, ::1\/128\), not to 192\.0\.2\.7/,
  );
  assert.equal((await appWith({ address: "::ffff:127.0.0.1" }).request("/metrics")).status, 200);
  assert.equal(
    (await appWith({ address: "192.0.2.7", allow: ["192.0.2.0/24"] }).request("/metrics")).status,
    200,
  );
  const off = await appWith({ allow: [] }).request("/metrics");
  assert.equal(off.status, 403);
  assert.match((await off.json()).error_message, /metrics are off/);
  const tunnelled = await appWith().request("/metrics", {}, { remoteNode: "12D3KooWOther" });
  assert.equal(tunnelled.status, 403);
  assert.equal(
    metricsRefusal("127.0.0.1", true, parseCidrList(["127.0.0.0/8"]), ["127.0.0.0/8"]),
    "metrics answer only on the node itself, not through the network",
  );
  assert.equal(metricsRefusal("127.0.0.1", false, parseCidrList(["127.0.0.0/8"]), []), undefined);
});
