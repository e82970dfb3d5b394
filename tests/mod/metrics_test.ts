/**
 * The shared metrics kernel: who may scrape (CIDR blocks, IPv4-mapped clients), the merge of
 * several workers' registries into one exposition, and metrics mirrored from running totals.
 */
import assert from "node:assert/strict";
import {
  addressAllowed,
  Counter,
  DEFAULT_METRICS_ALLOW,
  Gauge,
  Histogram,
  loadConfig,
  mergeSnapshots,
  MetricsMergeError,
  type MetricsSnapshot,
  MetricsSnapshotSchema,
  mirroredCounter,
  mirroredGauge,
  parseCidr,
  parseCidrList,
  parseIp,
  registerIsolateMetrics,
  registerProcessMetrics,
  Registry,
  renderExposition,
  snapshotOf,
} from "../../mod/mod.ts";

Deno.test("addresses and CIDR blocks parse in both families, and nonsense does not", () => {
  assert.deepEqual(parseIp("10.1.2.3"), { family: 4, value: 0x0a010203n });
  assert.deepEqual(parseIp("::1"), { family: 6, value: 1n });
  assert.deepEqual(parseIp("2001:db8::ff"), {
    family: 6,
    value: (0x20010db8n << 96n) + 0xffn,
  });
  assert.deepEqual(parseIp("::ffff:127.0.0.1"), {
    family: 6,
    value: (0xffffn << 32n) + 0x7f000001n,
  });
  assert.deepEqual(parseCidr("127.0.0.0/8"), { family: 4, value: 0x7f000000n, prefix: 8 });
  assert.deepEqual(parseCidr("192.0.2.7"), { family: 4, value: 0xc0000207n, prefix: 32 });
  for (
    const bad of [
      "",
      "localhost",
      "256.0.0.1",
      "10.0.0.0/33",
      "::1/129",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "10.0.0.0/8/8",
      "10.0.0.0/-1",
      "12345::",
    ]
  ) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
  assert.throws(
    () => parseCidrList(["127.0.0.0/8", "nope"]),
    /not an address or CIDR block: "nope"/,
  );
});

Deno.test("the default allows loopback only, IPv4 clients of dual-stack sockets included", () => {
  const allow = parseCidrList(DEFAULT_METRICS_ALLOW);
  for (const address of ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"]) {
    assert.equal(addressAllowed(address, allow), true, address);
  }
  for (
    const address of ["10.0.0.1", "192.168.1.20", "::2", "::ffff:10.0.0.1", "fe80::1", "unknown"]
  ) {
    assert.equal(addressAllowed(address, allow), false, address);
  }
  const lan = parseCidrList(["10.0.0.0/8", "2001:db8::/32", "::ffff:192.168.0.0/112"]);
  assert.equal(addressAllowed("10.200.0.1", lan), true);
  assert.equal(addressAllowed("11.0.0.1", lan), false);
  assert.equal(addressAllowed("2001:db8:1::5", lan), true);
  assert.equal(addressAllowed("2001:db9::5", lan), false);
  // A mapped block stands for the IPv4 block it names.
  assert.equal(addressAllowed("192.168.3.4", lan), true);
  assert.equal(addressAllowed("192.169.3.4", lan), false);
  // ::/0 is every IPv6 address, not every address; 0.0.0.0/0 is every IPv4 one.
  assert.equal(addressAllowed("10.0.0.1", parseCidrList(["::/0"])), false);
  assert.equal(addressAllowed("10.0.0.1", parseCidrList(["0.0.0.0/0"])), true);
  assert.equal(addressAllowed("127.0.0.1", []), false);
});

Deno.test("metrics_allow is a setting: loopback by default, CIDR lists checked at start", () => {
  const load = (args: string[], env: Record<string, string> = {}) =>
    loadConfig({ args, env, cwd: "/srv/dbc" }).config.metrics_allow;
  assert.deepEqual(load([]), ["127.0.0.0/8", "::1/128"]);
  assert.deepEqual(load(["--metrics-allow", "10.0.0.0/8, ::1"]), ["10.0.0.0/8", "::1"]);
  assert.deepEqual(load([], { DBC_METRICS_ALLOW: "" }), []);
  assert.throws(
    () => load(["--metrics-allow", "10.0.0.0/40"]),
    /metrics_allow \(from flag --metrics-allow\).*expected IP addresses or CIDR blocks/,
  );
});

Deno.test("snapshots of several registries merge into one exposition, families by name", async () => {
  const http = new Registry();
  const network = new Registry();
  new Gauge({
    name: "nodejs_heap_size_used_bytes",
    help: "Heap.",
    labelNames: ["worker"],
    registers: [http],
  })
    .set({ worker: "http" }, 10);
  new Gauge({
    name: "nodejs_heap_size_used_bytes",
    help: "Heap.",
    labelNames: ["worker"],
    registers: [network],
  }).set({ worker: "network" }, 20);
  const requests = new Counter({
    name: "dbc_http_requests_total",
    help: 'Requests with "quotes" and a \\ backslash.',
    labelNames: ["route"],
    registers: [http],
  });
  requests.inc({ route: '/a/"b"' }, 3);
  const durations = new Histogram({
    name: "dbc_op_seconds",
    help: "Durations.",
    buckets: [1, 5],
    registers: [network],
  });
  durations.observe(2);
  // What crosses the worker boundary is checked against the message catalogue's schema.
  const snapshots = [await snapshotOf(http), await snapshotOf(network)].map((snapshot) =>
    MetricsSnapshotSchema.parse(structuredClone(snapshot))
  );
  const text = await renderExposition(snapshots);
  assert.equal(text.match(/# TYPE nodejs_heap_size_used_bytes gauge/g)?.length, 1);
  assert.match(text, /nodejs_heap_size_used_bytes\{worker="http"\} 10\n/);
  assert.match(text, /nodejs_heap_size_used_bytes\{worker="network"\} 20\n/);
  assert.match(
    text,
    /# HELP dbc_http_requests_total Requests with "quotes" and a \\\\ backslash\./,
  );
  assert.match(text, /dbc_http_requests_total\{route="\/a\/\\"b\\""\} 3\n/);
  assert.match(text, /dbc_op_seconds_bucket\{le="1"\} 0\n/);
  assert.match(text, /dbc_op_seconds_bucket\{le="5"\} 1\n/);
  assert.match(text, /dbc_op_seconds_bucket\{le="\+Inf"\} 1\n/);
  assert.match(text, /dbc_op_seconds_count 1\n/);
});

Deno.test("a family of two types, or the same series twice, is refused rather than served", () => {
  const family = (type: "gauge" | "counter", worker: string): MetricsSnapshot => ({
    families: [{ name: "x_total", help: "x", type, values: [{ value: 1, labels: { worker } }] }],
  });
  assert.throws(
    () => mergeSnapshots([family("counter", "a"), family("gauge", "b")]),
    (error) =>
      error instanceof MetricsMergeError &&
      /x_total is a counter .* and a gauge/.test(error.message),
  );
  assert.throws(
    () => mergeSnapshots([family("counter", "a"), family("counter", "a")]),
    /series x_total\{worker="a"\} is reported twice/,
  );
  assert.equal(
    mergeSnapshots([family("counter", "a"), family("counter", "b")])[0]!.values.length,
    2,
  );
});

Deno.test("mirrored metrics copy running totals at each collect, without adding them up", async () => {
  const registry = new Registry();
  const totals = { opened: 2, refused: 0 };
  let peers = 3;
  mirroredCounter({
    registry,
    name: "links_total",
    help: "Links.",
    labelNames: ["event"],
    read: () => Object.entries(totals).map(([event, value]) => [{ event }, value]),
  });
  mirroredGauge({
    registry,
    name: "peers",
    help: "Peers.",
    labelNames: [],
    read: () => [[{}, peers]],
  });
  const values = async () =>
    Object.fromEntries(
      (await snapshotOf(registry)).families.flatMap((family) =>
        family.values.map((
          sample,
        ) => [`${family.name}${JSON.stringify(sample.labels)}`, sample.value])
      ),
    );
  assert.deepEqual(await values(), {
    'links_total{"event":"opened"}': 2,
    'links_total{"event":"refused"}': 0,
    "peers{}": 3,
  });
  totals.opened = 5;
  peers = 1;
  assert.deepEqual(await values(), {
    'links_total{"event":"opened"}': 5,
    'links_total{"event":"refused"}': 0,
    "peers{}": 1,
  });
});

Deno.test("the runtime metrics that hold under Deno report real figures", async () => {
  const registry = new Registry();
  const startedAt = Date.now() - 5_000;
  registerProcessMetrics(registry, startedAt);
  registerIsolateMetrics(registry, "test");
  await new Promise((resolve) => setTimeout(resolve, 50));
  const families = new Map((await snapshotOf(registry)).families.map((f) => [f.name, f]));
  const value = (name: string) => families.get(name)?.values[0]?.value;
  assert.ok(value("process_resident_memory_bytes")! > 10 * 2 ** 20, "resident memory in bytes");
  assert.equal(value("process_start_time_seconds"), Math.round(startedAt / 1_000));
  assert.ok(value("process_cpu_seconds_total")! > 0);
  assert.ok(value("nodejs_heap_size_used_bytes")! > 0);
  const lag = families.get("nodejs_eventloop_lag_seconds");
  assert.equal(lag?.type, "gauge");
  assert.deepEqual(lag?.values[0]?.labels, { worker: "test" });
  assert.ok(lag!.values[0]!.value >= 0, "measured at registration, so the first scrape has it");
  // Left out: they would read 0 under Deno's permissions rather than the truth.
  for (
    const name of [
      "process_open_fds",
      "process_virtual_memory_bytes",
      "nodejs_active_handles_total",
    ]
  ) {
    assert.equal(families.has(name), false, name);
  }
});
