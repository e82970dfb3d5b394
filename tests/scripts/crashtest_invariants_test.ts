/**
 * The crash test's checker (scripts/crashtest/invariants.ts) and planner,
 * without I/O: every figure counts what it names, and a consistent node
 * counts nothing, so an all-zero report means something.
 */
import assert from "node:assert/strict";
import type { GroundTruth, NodeRecords } from "../../scripts/crashtest/ground_truth.ts";
import { checkInvariants, type Figure, FIGURES } from "../../scripts/crashtest/invariants.ts";
import { planRun, type PoolInstance, Random } from "../../scripts/crashtest/plan.ts";

const GIB = 1024 ** 3;
const PREFIX = "dbct-test-";

function consistent(): GroundTruth {
  const records: NodeRecords = {
    vms: [
      {
        id: "vm-run",
        domain: `${PREFIX}vm-run`,
        state: "running",
        cpuCores: 1,
        memoryMib: 256,
        diskGib: 2,
      },
      {
        id: "vm-gone",
        domain: `${PREFIX}vm-gone`,
        state: "deleted",
        cpuCores: 1,
        memoryMib: 256,
        diskGib: null,
      },
      {
        id: "vm-failed",
        domain: `${PREFIX}vm-failed`,
        state: "failed",
        cpuCores: 1,
        memoryMib: 256,
        diskGib: null,
      },
    ],
    containers: [{ id: "ct-run", name: "dbc-ct-run", engineId: "e1", state: "running" }],
    gpuAllocations: [{ gpuUuid: "GPU-1", instanceKind: "container", instanceId: "ct-run" }],
    snapshots: [{ vmId: "vm-run", name: "s1" }],
  };
  return {
    records,
    domains: [{ name: `${PREFIX}vm-run`, active: true }],
    vmDirEntries: ["vm-run", "vm-failed", "lost+found"],
    engineContainers: [{ id: "e1", name: "dbc-ct-run", instance: "ct-run", running: true }],
    vmFacts: new Map([["vm-run", {
      vcpus: 1,
      memoryKib: 256 * 1024,
      diskBytes: 2 * GIB,
      diskSnapshots: ["s1"],
    }]]),
  };
}

function figures(truth: GroundTruth, extra: Partial<Parameters<typeof checkInvariants>[0]> = {}) {
  const counts = Object.fromEntries(FIGURES.map((figure) => [figure, 0])) as Record<Figure, number>;
  for (
    const finding of checkInvariants({
      truth,
      atKill: truth.records,
      createsAnswered: [],
      eventsMissing: [],
      ...extra,
    })
  ) {
    counts[finding.figure]++;
  }
  return counts;
}

const zero = Object.fromEntries(FIGURES.map((figure) => [figure, 0]));

Deno.test("a node whose records match libvirt, its disks and the engine counts nothing", () => {
  assert.deepEqual(figures(consistent()), zero);
});

Deno.test("each figure counts what it names", () => {
  const truth = consistent();
  truth.domains.push({ name: `${PREFIX}vm-gone`, active: false });
  truth.vmDirEntries.push("vm-gone");
  truth.engineContainers.push({ id: "e9", name: "dbc-ct-x", instance: "ct-x", running: true });
  truth.records.gpuAllocations.push({
    gpuUuid: "GPU-2",
    instanceKind: "vm",
    instanceId: "vm-gone",
  });
  truth.records.vms.push({
    id: "vm-new",
    domain: `${PREFIX}vm-new`,
    state: "creating",
    cpuCores: 1,
    memoryMib: 256,
    diskGib: null,
  });
  truth.records.containers.push({
    id: "ct-lost",
    name: "dbc-ct-lost",
    engineId: null,
    state: "stopped",
  });
  const atKill = structuredClone(truth.records);
  atKill.vms.push({ ...atKill.vms[0]!, id: "vm-vanished-record" });
  truth.vmFacts.set("vm-run", {
    vcpus: 2,
    memoryKib: 256 * 1024,
    diskBytes: GIB,
    diskSnapshots: [],
  });
  assert.deepEqual(
    figures(truth, {
      atKill,
      createsAnswered: ["vm-answered"],
      eventsMissing: [{ action: "vm.stop", target: "vm-run" }],
    }),
    {
      orphan_domains: 1,
      orphan_disks: 1,
      orphan_containers: 1,
      // Gone from the records after the kill; answered 202 but never recorded; stopped, no container.
      lost_records: 3,
      leaked_gpus: 1,
      stuck_operations: 1,
      lost_events: 1,
      // CPU cores, disk size, snapshots.
      mismatched_records: 3,
    },
  );
});

Deno.test("a run's plan is the seed's: the same seed and pool, the same scenarios", () => {
  const pool: PoolInstance[] = [
    { id: "vm-a", kind: "vm", state: "running", snapshots: ["r1"], diskGib: null },
    { id: "ct-a", kind: "container", state: "stopped", snapshots: [], diskGib: null },
    { id: "vm-b", kind: "vm", state: "failed", snapshots: [], diskGib: null },
    { id: "vm-c", kind: "vm", state: "deleted", snapshots: [], diskGib: null },
  ];
  const plans = (seed: number) => {
    const random = new Random(seed);
    return Array.from({ length: 50 }, (_, run) => planRun(random, pool, run));
  };
  const text = (seed: number) => JSON.stringify(plans(seed));
  assert.equal(text(42), text(42));
  assert.notEqual(text(42), text(43));
  const steps = plans(7).flat().flatMap((scenario) => scenario.steps);
  assert.ok(steps.length >= 50);
  for (const step of steps) {
    if (!("id" in step)) continue;
    assert.notEqual(step.id, "vm-c", "a deleted instance is never acted on");
    if (step.id === "vm-b") assert.equal(step.op, "vm.delete", "a failed one is only deleted");
  }
});
