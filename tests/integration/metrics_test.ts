/**
 * `/metrics` on real node processes (started with `deno task node`'s command line): a seed
 * whose HTTP API listens on every interface and a client-end that joins it. The scrape holds
 * every worker's families with their types, counters move by exactly the traffic made, a
 * non-loopback client is refused while the rest of the API answers it, and a real Prometheus
 * (Debian's package, installed by scripts/system/prometheus_setup.sh) scrapes the seed while
 * `promtool check metrics` passes its text without a warning.
 */
import assert from "node:assert/strict";
import { devWallets, walletHeaders } from "../wallets.ts";
import { freePort, GiveUp, scratchDir, waitFor } from "../helpers.ts";
import {
  type NodeProcess,
  startNode,
  stopAll,
  TestNetwork,
  whenUp,
} from "../network/node_processes.ts";

/** Families the scrape must hold, with their Prometheus types. */
const EXPECTED_FAMILIES: Record<string, string> = {
  dbc_http_requests_total: "counter",
  dbc_http_request_duration_seconds: "histogram",
  dbc_p2p_peers: "gauge",
  dbc_p2p_messages_total: "counter",
  dbc_p2p_messages_shed_total: "counter",
  dbc_p2p_messages_dropped_total: "counter",
  dbc_p2p_relayed_total: "counter",
  dbc_events_total: "counter",
  dbc_vm_operations_total: "counter",
  dbc_vm_operation_duration_seconds: "histogram",
  dbc_container_operations_total: "counter",
  dbc_instances: "gauge",
  dbc_gpus_allocated: "gauge",
  dbc_lease_actions_total: "counter",
  dbc_ledger_writes_total: "counter",
  dbc_worker_up: "gauge",
  process_resident_memory_bytes: "gauge",
  process_cpu_seconds_total: "counter",
  nodejs_eventloop_lag_seconds: "gauge",
  nodejs_heap_size_used_bytes: "gauge",
};

type Exposition = { types: Map<string, string>; samples: Map<string, number> };

/** Prometheus text format, as much as the checks need: TYPE lines and samples. */
function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line === "" || line.startsWith("#")) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(sample, `not a sample line: ${line}`);
    const labels = [...(sample[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)]
      .map(([, name, value]) => `${name}=${value}`).sort().join(",");
    samples.set(`${sample[1]}{${labels}}`, Number(sample[3]));
  }
  return { types, samples };
}

async function scrape(node: NodeProcess, host = "127.0.0.1"): Promise<Response> {
  return await fetch(`http://${host}:${node.httpPort}/metrics`, {
    signal: AbortSignal.timeout(30_000),
  });
}

async function metricsOf(node: NodeProcess): Promise<{ text: string; parsed: Exposition }> {
  const response = await scrape(node);
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return { text, parsed: parseExposition(text) };
}

function onPath(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
    } catch { /* not here */ }
  }
  return undefined;
}

const PROMETHEUS = onPath("prometheus");
const PROMTOOL = onPath("promtool");
const IS_ROOT = Deno.uid() === 0;
if (!(PROMETHEUS && PROMTOOL) && !IS_ROOT) {
  console.warn(
    "metrics_test: the Prometheus part is skipped: prometheus and promtool are not on PATH " +
      "(as root, scripts/system/prometheus_setup.sh installs Debian's package)",
  );
}

Deno.test("a node's /metrics: every worker's families, exact counts, loopback only, scraped by Prometheus", async (t) => {
  const dir = await scratchDir("metrics");
  const { ferdie, eve } = await devWallets();
  const network = new TestNetwork(dir, []);
  const nodes = network.nodes;
  try {
    // Every interface, as an operator opening the API to others would: /metrics stays loopback.
    const seed = await network.startSeed([
      "--http-host",
      "0.0.0.0",
      "--ledger-admins",
      ferdie.address,
      "--log-level",
      "warn",
    ]);
    const client = await startNode({
      name: "client",
      dataDir: `${dir}/client`,
      role: "client",
      seeds: [seed.address],
      args: ["--log-level", "warn"],
    });
    nodes.push(client);
    await whenUp(client);

    await t.step("every worker's families are there, with their types", async () => {
      // The client's link shows on both sides, and the node service answers too.
      const { parsed } = await waitFor("the seed's metrics to show the client's link", async () => {
        const scraped = await metricsOf(seed);
        const peers = (scraped.parsed.samples.get("dbc_p2p_peers{direction=inbound}") ?? 0) +
          (scraped.parsed.samples.get("dbc_p2p_peers{direction=outbound}") ?? 0);
        const up = scraped.parsed.samples.get("dbc_metrics_source_up{worker=node_service}");
        return peers >= 1 && up === 1 ? scraped : undefined;
      }, 60_000);
      for (const [name, type] of Object.entries(EXPECTED_FAMILIES)) {
        assert.equal(parsed.types.get(name), type, name);
      }
      const { samples } = parsed;
      assert.ok(samples.get("dbc_p2p_messages_total{direction=sent,kind=hello}")! >= 1);
      assert.ok(samples.get("dbc_p2p_messages_total{direction=received,kind=hello}")! >= 1);
      assert.ok(samples.get("dbc_p2p_links_total{event=opened}")! >= 1);
      assert.ok(samples.get("process_resident_memory_bytes{}")! > 20 * 2 ** 20);
      for (const worker of ["http", "network", "node_service"]) {
        assert.ok(samples.has(`nodejs_eventloop_lag_seconds{worker=${worker}}`), worker);
        assert.ok(samples.get(`nodejs_heap_size_used_bytes{worker=${worker}}`)! > 0, worker);
        assert.equal(samples.get(`dbc_worker_up{worker=${worker}}`), 1, worker);
      }
      assert.equal(samples.get("dbc_instances{kind=vm,state=running}"), 0);
      assert.equal(samples.get("dbc_gpus_allocated{kind=vm}"), 0);
      assert.equal(samples.get("dbc_events_total{action=node_service.start,result=ok}"), 1);
      // The client-end's network worker saw the same link from the other side.
      const clientSide = (await metricsOf(client)).parsed.samples;
      assert.ok(clientSide.get("dbc_p2p_messages_total{direction=sent,kind=hello}")! >= 1);
    });

    await t.step("counters go up by exactly the requests and ledger writes made", async () => {
      const before = (await metricsOf(seed)).parsed.samples;
      const nodeKey = "{method=GET,route=/api/v1/node,status=200}";
      const missKey = "{method=GET,route=unmatched,status=404}";
      for (let index = 0; index < 5; index++) {
        const response = await fetch(`http://127.0.0.1:${seed.httpPort}/api/v1/node`);
        assert.equal(response.status, 200);
        await response.body?.cancel();
      }
      const secret = crypto.randomUUID();
      for (let index = 0; index < 2; index++) {
        const response = await fetch(`http://127.0.0.1:${seed.httpPort}/nothing/${secret}`);
        assert.equal(response.status, 404);
        await response.body?.cancel();
      }
      const fund = async (signer: typeof ferdie) => {
        const path = `/api/v1/ledger/accounts/${eve.address}/fund`;
        const body = { amount: "100" };
        const response = await fetch(`http://127.0.0.1:${seed.httpPort}${path}`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...walletHeaders(signer, { method: "POST", path, body, timestamp: Date.now() }),
          },
          body: JSON.stringify(body),
        });
        await response.body?.cancel();
        return response.status;
      };
      assert.equal(await fund(ferdie), 200);
      assert.equal(await fund(ferdie), 200);
      assert.equal(await fund(eve), 403, "eve is no ledger admin");

      const { text, parsed } = await metricsOf(seed);
      const after = parsed.samples;
      const grew = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
      assert.equal(grew(`dbc_http_requests_total${nodeKey}`), 5);
      assert.equal(grew(`dbc_http_request_duration_seconds_count${nodeKey}`), 5);
      assert.equal(grew(`dbc_http_requests_total${missKey}`), 2);
      assert.equal(text.includes(secret), false, "a raw path never becomes a label");
      assert.equal(grew("dbc_ledger_writes_total{kind=fund,result=ok}"), 2);
      assert.equal(grew("dbc_ledger_writes_total{kind=fund,result=error}"), 1);
      assert.equal(grew("dbc_events_total{action=ledger.fund,result=ok}"), 2);
      assert.equal(grew("dbc_events_total{action=ledger.fund,result=error}"), 1);
      assert.equal(
        grew(
          "dbc_http_requests_total{method=POST,route=/api/v1/ledger/accounts/:account/fund,status=403}",
        ),
        1,
      );
    });

    await t.step(
      "a client on a non-loopback address is refused /metrics, not the API",
      async (t) => {
        const external = Deno.networkInterfaces().find((face) =>
          face.family === "IPv4" && !face.address.startsWith("127.")
        );
        if (!external) {
          // The refusal itself is covered without sockets in tests/http/metrics_app_test.ts.
          console.warn("metrics_test: no non-loopback IPv4 address here; that check is skipped");
          return;
        }
        const refused = await scrape(seed, external.address);
        assert.equal(refused.status, 403);
        assert.match(
          (await refused.json()).error_message,
          new RegExp(`metrics answer only to metrics_allow .*, not to ${external.address}`),
        );
        const api = await fetch(`http://${external.address}:${seed.httpPort}/api/v1/node`);
        assert.equal(api.status, 200, "the API itself answers on every interface");
        await api.body?.cancel();
        const operator = await fetch(
          `http://${external.address}:${seed.httpPort}/api/v1/operator/status`,
        );
        assert.equal(operator.status, 403, "the operator endpoints stay loopback-only");
        await operator.body?.cancel();
        await t.step("loopback still gets it", async () => {
          assert.equal((await scrape(seed)).status, 200);
        });
      },
    );

    await t.step({
      name: "promtool passes the text and a real Prometheus scrapes the node",
      ignore: !(PROMETHEUS && PROMTOOL) && !IS_ROOT,
      fn: async () => {
        assert.ok(
          PROMETHEUS && PROMTOOL,
          "prometheus and promtool are missing: run scripts/system/prometheus_setup.sh (CI's test_setup.sh does)",
        );
        const { text } = await metricsOf(seed);
        const check = new Deno.Command(PROMTOOL, {
          args: ["check", "metrics"],
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const writer = check.stdin.getWriter();
        await writer.write(new TextEncoder().encode(text));
        await writer.close();
        const checked = await check.output();
        const said = new TextDecoder().decode(checked.stdout) +
          new TextDecoder().decode(checked.stderr);
        assert.equal(checked.code, 0, said);
        assert.equal(said.trim(), "", "promtool has no warning");

        const promDir = await scratchDir("prometheus");
        const promPort = freePort();
        await Deno.writeTextFile(
          `${promDir}/prometheus.yml`,
          [
            "global:",
            "  scrape_interval: 1s",
            "  scrape_timeout: 1s",
            "scrape_configs:",
            "  - job_name: dbc",
            "    metrics_path: /metrics",
            "    static_configs:",
            `      - targets: ["127.0.0.1:${seed.httpPort}"]`,
            "",
          ].join("\n"),
        );
        const prometheus = new Deno.Command(PROMETHEUS, {
          args: [
            `--config.file=${promDir}/prometheus.yml`,
            `--storage.tsdb.path=${promDir}/data`,
            `--web.listen-address=127.0.0.1:${promPort}`,
          ],
          stdout: "null",
          stderr: "piped",
        }).spawn();
        const promLog = new Response(prometheus.stderr).text();
        let promExited = false;
        void prometheus.status.then(() => (promExited = true));
        const query = async (expression: string) => {
          if (promExited) throw new GiveUp(`prometheus exited: ${await promLog}`);
          const response = await fetch(
            `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expression)}`,
          );
          const body = await response.json();
          return body.data?.result as Array<
            { metric: Record<string, string>; value: [number, string] }
          >;
        };
        try {
          await waitFor("Prometheus to see the node up", async () => {
            const up = await query('up{job="dbc"}');
            return up?.[0]?.value[1] === "1" ? true : undefined;
          }, 60_000);
          const requests = await waitFor("a dbc_ metric in Prometheus", async () => {
            const result = await query(
              'dbc_http_requests_total{route="/api/v1/node",status="200"}',
            );
            return result?.length ? result : undefined;
          }, 30_000);
          assert.ok(Number(requests[0]!.value[1]) >= 5);
          const lag = await query("nodejs_eventloop_lag_seconds");
          assert.deepEqual(
            lag.map((series) => series.metric.worker).sort(),
            ["http", "network", "node_service"],
          );
          // Prometheus found nothing to complain about in what it scraped.
          const targets = await (await fetch(`http://127.0.0.1:${promPort}/api/v1/targets`)).json();
          assert.equal(targets.data.activeTargets[0].lastError, "");
        } finally {
          if (!promExited) prometheus.kill("SIGTERM");
          await prometheus.status;
          await promLog;
        }
      },
    });
  } finally {
    await stopAll(nodes);
  }
});
