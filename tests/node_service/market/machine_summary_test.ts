/**
 * What a GPU node announces: GPUs grouped from recorded nvidia-smi output,
 * and host facts read in a worker with exactly the node service's
 * permissions (Deno refuses it /proc/cpuinfo and /proc/meminfo, so the
 * narrow `sys` grants must be enough).
 */
import assert from "node:assert/strict";
import {
  generateNodeKeys,
  loadConfig,
  nodePaths,
  ServiceSummarySchema,
  type WorkerPermissions,
} from "../../../mod/mod.ts";
import { workerSpecs } from "../../../main.ts";
import { gpuReportFrom } from "../../../node_service/gpu/inventory.ts";
import {
  buildServiceSummary,
  gpuGroups,
  type HostFacts,
  readHostFacts,
} from "../../../node_service/market/machine_summary.ts";
import { REPO_ROOT, scratchDir } from "../../helpers.ts";

const FIXTURES = `${REPO_ROOT}/tests/fixtures/nvidia-smi`;
const T0 = Date.UTC(2026, 0, 1);

async function recordedReport(name: string) {
  const stdout = await Deno.readTextFile(`${FIXTURES}/${name}`);
  return gpuReportFrom({ kind: "exited", code: 0, stdout, stderr: "" }, T0);
}

Deno.test("GPUs of one model and memory are counted together, from recorded nvidia-smi output", async () => {
  assert.deepEqual(gpuGroups(await recordedReport("two_h100.csv")), [
    { model: "NVIDIA H100 80GB HBM3", count: 2, memory_total_mib: 81559 },
  ]);
  const eight = gpuGroups(await recordedReport("eight_a100.csv"));
  assert.equal(eight.reduce((sum, group) => sum + group.count, 0), 8);
  const none = gpuReportFrom({ kind: "not_found", program: "nvidia-smi" }, T0);
  assert.deepEqual(gpuGroups(none), []);
});

Deno.test("the summary carries the machine, state and price, and passes its own schema", async () => {
  const nodeId = generateNodeKeys().nodeId;
  const host: HostFacts = {
    cpuModel: "AMD EPYC 9654",
    cpuCores: 192,
    memoryTotalMib: 1_548_000,
    disk: { totalGib: 7_000, freeGib: 6_500 },
  };
  const summary = buildServiceSummary({
    nodeId,
    version: "0.1.0",
    gpuReport: await recordedReport("two_h100.csv"),
    host,
    state: "online",
    pricePerHour: "1200",
    announceIntervalS: 30,
    now: T0,
  });
  assert.deepEqual(ServiceSummarySchema.parse(summary), summary);
  assert.equal(summary.gpu_count, 2);
  assert.equal(summary.gpu_status, "present");
  assert.deepEqual(summary.cpu, { model: "AMD EPYC 9654", cores: 192 });
  assert.deepEqual(summary.disk, { total_gib: 7_000, free_gib: 6_500 });
  assert.equal(summary.price_per_hour, "1200");
  assert.equal(summary.signed_at, T0);

  const bare = buildServiceSummary({
    nodeId,
    version: "0.1.0",
    gpuReport: gpuReportFrom({ kind: "not_found", program: "nvidia-smi" }, T0),
    host: { cpuModel: null, cpuCores: null, memoryTotalMib: null, disk: null },
    state: "unknown",
    pricePerHour: null,
    announceIntervalS: 30,
    now: T0,
  });
  assert.deepEqual(ServiceSummarySchema.parse(bare), bare);
  assert.equal(bare.gpu_status, "none");
});

Deno.test("the node service's own permissions let it read CPU, memory and disk (and nothing is guessed)", async () => {
  const dir = await scratchDir("host-facts");
  try {
    const { config } = loadConfig({ args: ["--data-dir", `${dir}/data`], env: {}, cwd: dir });
    const paths = nodePaths(config.data_dir);
    for (const sub of [paths.dataDir, paths.networkDir, paths.serviceDir]) {
      await Deno.mkdir(sub, { recursive: true });
    }
    const spec = workerSpecs({
      config,
      paths,
      keys: generateNodeKeys(),
      operatorToken: "test-operator-token",
      startedAt: 0,
      searchPath: Deno.env.get("PATH"),
    }).find((candidate) => candidate.name === "node_service")!;
    // The VM directory does not exist yet: the service directory's file system is measured instead.
    const diskPaths = [`${paths.dataDir}/vms`, paths.serviceDir];
    const inWorker = await factsInWorker(spec.permissions, diskPaths);
    const here = await readHostFacts(diskPaths);
    assert.ok(inWorker.cpuCores !== null && inWorker.cpuCores >= 1, JSON.stringify(inWorker));
    assert.equal(inWorker.cpuCores, here.cpuCores);
    assert.equal(inWorker.cpuModel, here.cpuModel);
    assert.ok(inWorker.memoryTotalMib !== null && inWorker.memoryTotalMib > 0);
    assert.equal(inWorker.memoryTotalMib, here.memoryTotalMib);
    assert.ok(inWorker.disk !== null && inWorker.disk.totalGib >= inWorker.disk.freeGib);
    assert.equal(inWorker.disk.totalGib, here.disk?.totalGib);

    // Without the grants nothing is made up: the facts are null (the CPU count every script may know).
    const denied = await factsInWorker({ ...spec.permissions, sys: false }, diskPaths);
    assert.equal(denied.cpuModel, null);
    assert.equal(denied.memoryTotalMib, null);
    assert.equal(denied.disk, null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function factsInWorker(
  permissions: WorkerPermissions,
  diskPaths: string[],
): Promise<HostFacts> {
  const worker = new Worker(new URL("../../fixtures/host_facts_probe.ts", import.meta.url), {
    type: "module",
    deno: { permissions },
  } as WorkerOptions);
  try {
    return await new Promise((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
      worker.postMessage(diskPaths);
    });
  } finally {
    worker.terminate();
  }
}
