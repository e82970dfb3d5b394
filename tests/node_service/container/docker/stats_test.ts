/**
 * The engine's one-shot stats read into usage counters: an answer recorded
 * from Podman 4 (cgroup v2; no block I/O reported), Docker's documented shape
 * (page cache to leave out of memory, block I/O by operation), and answers
 * that are not stats at all.
 */
import assert from "node:assert/strict";
import { containerUsageFrom } from "../../../../node_service/container/docker/stats.ts";
import { EngineError } from "../../../../node_service/container/engine.ts";

/** `GET /v1.41/containers/<id>/stats?stream=false&one-shot=true` on Podman 4.3, trimmed of nulls. */
const PODMAN = {
  read: "2026-12-07T03:04:37.499726207Z",
  pids_stats: { current: 1 },
  blkio_stats: { io_service_bytes_recursive: [] },
  cpu_stats: {
    cpu_usage: {
      total_usage: 880916840,
      percpu_usage: [870330788, 10586052],
      usage_in_kernelmode: 24000000,
      usage_in_usermode: 856916840,
    },
    system_cpu_usage: 1787162792105,
    online_cpus: 2,
  },
  precpu_stats: { cpu_usage: { total_usage: 0 } },
  memory_stats: { usage: 262144, limit: 25276182528 },
  name: "nervous_dubinsky",
  networks: {
    network: { rx_bytes: 516, rx_packets: 0, tx_bytes: 586, tx_packets: 0 },
  },
};

const DOCKER = {
  cpu_stats: { cpu_usage: { total_usage: 2_000_000_000 }, online_cpus: 8 },
  memory_stats: { usage: 50_000_000, limit: 1_073_741_824, stats: { inactive_file: 20_000_000 } },
  networks: { eth0: { rx_bytes: 100, tx_bytes: 200 }, eth1: { rx_bytes: 1, tx_bytes: 2 } },
  blkio_stats: {
    io_service_bytes_recursive: [
      { major: 8, minor: 0, op: "read", value: 4096 },
      { major: 8, minor: 0, op: "write", value: 8192 },
      { major: 8, minor: 16, op: "Read", value: 4096 },
    ],
  },
};

Deno.test("Podman's stats: CPU time, memory, network; no block I/O reported is null", () => {
  assert.deepEqual(containerUsageFrom(PODMAN), {
    cpuTimeNs: 880916840,
    cpus: 2,
    memoryUsedBytes: 262144,
    memoryLimitBytes: 25276182528,
    netRxBytes: 516,
    netTxBytes: 586,
    diskReadBytes: null,
    diskWriteBytes: null,
  });
});

Deno.test("Docker's stats: reclaimable page cache left out, networks and block devices added up", () => {
  assert.deepEqual(containerUsageFrom(DOCKER), {
    cpuTimeNs: 2_000_000_000,
    cpus: 8,
    memoryUsedBytes: 30_000_000,
    memoryLimitBytes: 1_073_741_824,
    netRxBytes: 101,
    netTxBytes: 202,
    diskReadBytes: 8192,
    diskWriteBytes: 8192,
  });
});

Deno.test("a stopped container's empty stats are nulls; an answer that is not stats is an engine failure", () => {
  const empty = containerUsageFrom({ cpu_stats: { cpu_usage: {} }, memory_stats: {} });
  assert.ok(Object.values(empty).every((value) => value === null), JSON.stringify(empty));
  assert.throws(() => containerUsageFrom({ cpu_stats: "busy" }), EngineError);
  assert.throws(() => containerUsageFrom("not json"), /unexpected container stats answer/);
});
