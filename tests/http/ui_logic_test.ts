/**
 * The dashboard's pure parts, without a browser: how it writes sizes, times
 * and prices, how it judges a machine's availability, how it splits a command
 * line, how it turns usage readings into rates, and how it reads /metrics.
 */
import assert from "node:assert/strict";
import {
  availability,
  formatAmount,
  formatBytes,
  formatGpus,
  formatMib,
  formatNumber,
  formatRelative,
  shortId,
  splitCommand,
} from "../../http/ui/app/format.ts";
import { largest, parseMetricsText, total } from "../../http/ui/app/metrics_text.ts";
import { USAGE_HISTORY_POINTS, UsageHistory, usagePoint } from "../../http/ui/app/usage.ts";
import type { InstanceUsage } from "../../mod/mod.ts";

Deno.test("sizes, numbers, times, amounts and GPUs as the dashboard writes them", () => {
  assert.equal(shortId("12D3KooWAbcdefghijklmnopqrstuvwxyz123456"), "12D3KooWAb…123456");
  assert.equal(shortId("short"), "short");
  assert.equal(formatMib(512), "512 MiB");
  assert.equal(formatMib(81559), "79.6 GiB");
  assert.equal(formatMib(24 * 1024), "24 GiB");
  assert.equal(formatMib(null), "—");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(3 * 2 ** 30), "3.0 GiB");
  assert.equal(formatBytes(12), "12 B");
  assert.equal(formatNumber(0.3449), "0.34");
  assert.equal(formatNumber(12.34), "12.3");
  assert.equal(formatNumber(1234.5), "1235");
  assert.equal(formatRelative(1_000, 46_000), "45 s ago");
  assert.equal(formatRelative(3_600_000, 0), "in 60 min");
  assert.equal(formatAmount("1200"), "1\u202f200");
  assert.equal(formatAmount("1000000"), "1\u202f000\u202f000");
  assert.equal(formatAmount(null), "—");
  assert.equal(
    formatGpus({
      gpu_status: "present",
      gpus: [{ model: "NVIDIA H100 80GB HBM3", count: 2, memory_total_mib: 81559 }],
    }),
    "2 × NVIDIA H100 80GB HBM3, 79.6 GiB each",
  );
  assert.equal(formatGpus({ gpu_status: "none", gpus: [] }), "no GPU");
  assert.equal(formatGpus({ gpu_status: "error", gpus: [] }), "GPUs unreadable");
});

Deno.test("availability: ledger state, a ping, the announcement's age and the wallet's rental together", () => {
  const now = 100_000;
  const node = { state: "online" as const, received_at: now - 2_000, announce_interval_s: 30 };
  const pong = { kind: "reachable" as const, rttMs: 3.4, route: "direct" };
  assert.deepEqual(availability(node, pong, false, now), {
    label: "available",
    tone: "good",
    detail: "answers in 3 ms (direct); announced 2 s ago",
  });
  assert.equal(availability({ ...node, state: "leased" }, pong, false, now).label, "rented");
  assert.equal(availability({ ...node, state: "leased" }, pong, true, now).label, "rented by you");
  assert.equal(
    availability({ ...node, state: "verifying" }, pong, false, now).label,
    "being verified",
  );
  assert.equal(availability({ ...node, state: "failed" }, pong, false, now).tone, "bad");
  const gone = availability(node, { kind: "unreachable", reason: "timed out" }, false, now);
  assert.equal(gone.label, "unreachable");
  assert.match(gone.detail, /^timed out/);
  // Two announcements missed: listed still, but silent.
  assert.equal(
    availability({ ...node, received_at: now - 61_000 }, pong, false, now).label,
    "silent",
  );
});

Deno.test("a command line splits as a shell would, quotes keeping spaces", () => {
  assert.deepEqual(splitCommand("sleep 3600"), ["sleep", "3600"]);
  assert.deepEqual(splitCommand(`sh -c "echo hi; sleep 1"`), ["sh", "-c", "echo hi; sleep 1"]);
  assert.deepEqual(splitCommand(`echo 'a  b' "c \\"d\\"" ''`), ["echo", "a  b", 'c "d"', ""]);
  assert.deepEqual(splitCommand("  "), []);
  assert.throws(() => splitCommand(`sh -c "echo`), /unclosed "/);
});

const reading = (at: number, fields: Partial<InstanceUsage> = {}): InstanceUsage => ({
  id: "ct-1",
  kind: "container",
  at,
  cpu_time_ns: 0,
  cpus: 2,
  memory_used_bytes: 100,
  memory_limit_bytes: 1000,
  net_rx_bytes: 0,
  net_tx_bytes: 0,
  disk_read_bytes: null,
  disk_write_bytes: null,
  ...fields,
});

Deno.test("usage: rates between readings, none for the first, none after a restart", () => {
  assert.deepEqual(usagePoint(undefined, reading(10_000)), {
    t: 10,
    cpuPercent: null,
    memoryBytes: 100,
    netBytesPerS: null,
    diskBytesPerS: null,
  });
  // 1.5 s of CPU in 5 s: 30 % of one core; 5000 bytes in and out in 5 s.
  const point = usagePoint(
    reading(10_000, { cpu_time_ns: 1e9, net_rx_bytes: 1_000, net_tx_bytes: 1_000 }),
    reading(15_000, { cpu_time_ns: 2.5e9, net_rx_bytes: 4_000, net_tx_bytes: 3_000 }),
  );
  assert.equal(point.cpuPercent, 30);
  assert.equal(point.netBytesPerS, 1_000);
  assert.equal(point.diskBytesPerS, null);
  // A counter that went back (the instance restarted) gives no rate.
  assert.equal(
    usagePoint(reading(1_000, { cpu_time_ns: 5e9 }), reading(2_000, { cpu_time_ns: 1e8 }))
      .cpuPercent,
    null,
  );

  const history = new UsageHistory();
  assert.ok(history.add(reading(1_000)));
  assert.equal(history.add(reading(1_000)), undefined, "a reading no newer is ignored");
  for (let index = 2; index < USAGE_HISTORY_POINTS + 10; index++) {
    history.add(reading(index * 1_000));
  }
  assert.equal(history.points.length, USAGE_HISTORY_POINTS);
  const [times, memory] = history.columns((sample) => sample.memoryBytes);
  assert.equal(times.length, USAGE_HISTORY_POINTS);
  assert.ok(times.every((time, index) => index === 0 || time > times[index - 1]!));
  assert.ok(memory.every((value) => value === 100));
});

Deno.test("metrics text: samples by family, added up or the largest", () => {
  const samples = parseMetricsText([
    "# HELP dbc_p2p_peers Connected peers",
    "# TYPE dbc_p2p_peers gauge",
    'dbc_p2p_peers{direction="inbound"} 2',
    'dbc_p2p_peers{direction="outbound"} 3',
    'nodejs_eventloop_lag_p99_seconds{worker="http"} 0.004',
    'nodejs_eventloop_lag_p99_seconds{worker="network"} 0.012',
    "process_resident_memory_bytes 2.5e+08",
    "garbage line",
    "",
  ].join("\n"));
  assert.equal(total(samples, "dbc_p2p_peers"), 5);
  assert.equal(largest(samples, "nodejs_eventloop_lag_p99_seconds"), 0.012);
  assert.equal(total(samples, "process_resident_memory_bytes"), 250_000_000);
  assert.equal(total(samples, "dbc_missing"), null);
});
