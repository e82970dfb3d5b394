/**
 * The node service's metrics on a real SQLite file: the event log tells them of every event
 * (with the operation's duration where it began on the log's clock), ledger writes are counted
 * by their outcome, instances and GPUs are read from the database at each scrape.
 */
import assert from "node:assert/strict";
import {
  type MetricsSnapshot,
  MetricsSnapshotSchema,
  openDatabase,
  RpcError,
} from "../../mod/mod.ts";
import { EventLog } from "../../node_service/event_log.ts";
import { ContainerStore, GpuAllocator } from "../../node_service/mod.ts";
import { SERVICE_MIGRATIONS } from "../../node_service/migrations.ts";
import { classifyEvent, ServiceMetrics } from "../../node_service/metrics/mod.ts";
import { scratchDir } from "../helpers.ts";

/** `name{labels}` -> value, labels sorted, from a snapshot. */
function samples(snapshot: MetricsSnapshot): Map<string, number> {
  const map = new Map<string, number>();
  for (const family of snapshot.families) {
    for (const sample of family.values) {
      const labels = Object.entries(sample.labels).sort(([a], [b]) => a.localeCompare(b))
        .map(([key, value]) => `${key}=${value}`).join(",");
      map.set(`${sample.metricName ?? family.name}{${labels}}`, sample.value);
    }
  }
  return map;
}

async function openService(prefix: string) {
  const dir = await scratchDir(prefix);
  const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS);
  const metrics = new ServiceMetrics(db);
  let now = 10_000;
  const events = new EventLog(db, () => now, (event, ms) => metrics.observe(event, ms));
  const scrape = async () => samples(MetricsSnapshotSchema.parse(await metrics.collect()));
  return {
    db,
    metrics,
    events,
    scrape,
    advance: (ms: number) => (now += ms),
    close: () => db.close(),
  };
}

Deno.test("an event's action decides its family: VM and container operations, lease steps, the rest", () => {
  assert.deepEqual(classifyEvent("vm.start"), { family: "operation", kind: "vm", action: "start" });
  assert.deepEqual(classifyEvent("vm.snapshot_create"), {
    family: "operation",
    kind: "vm",
    action: "snapshot_create",
  });
  assert.deepEqual(classifyEvent("container.delete"), {
    family: "operation",
    kind: "container",
    action: "delete",
  });
  assert.deepEqual(classifyEvent("lease.expire"), { family: "lease", action: "expire" });
  for (const other of ["vm_image.added", "container_image.pull", "ledger.fund", "node", ".x"]) {
    assert.deepEqual(classifyEvent(other), { family: "other" }, other);
  }
});

Deno.test("every recorded event is counted; VM and container operations with their durations", async () => {
  const service = await openService("service-metrics");
  try {
    const { events, scrape, advance } = service;
    const before = await scrape();
    assert.equal(before.get("dbc_events_total{action=vm.start,result=ok}"), undefined);

    const started = advance(0);
    advance(1_500);
    events.record({
      actor: "5Alice",
      action: "vm.start",
      target: "vm-1",
      result: "ok",
      startedAt: started,
    });
    const again = advance(0);
    advance(40);
    events.record({
      actor: "5Alice",
      action: "vm.start",
      target: "vm-2",
      result: "error",
      startedAt: again,
    });
    // Not an operation with a start: counted, not timed.
    events.record({ actor: "node", action: "vm.observe", target: "vm-1", result: "ok" });
    const created = advance(0);
    advance(200_000);
    events.record({
      actor: "5Bob",
      action: "container.create",
      target: "ct-1",
      result: "ok",
      startedAt: created,
    });
    events.record({ actor: "lease", action: "lease.expire", target: "ct-1", result: "ok" });
    events.record({ actor: "lease", action: "lease.delete", target: "vm-9", result: "error" });
    events.record({ actor: "node", action: "vm_image.added", target: "ubuntu", result: "ok" });

    const after = await scrape();
    const at = (key: string) => after.get(key);
    assert.equal(at("dbc_events_total{action=vm.start,result=ok}"), 1);
    assert.equal(at("dbc_events_total{action=vm.start,result=error}"), 1);
    assert.equal(at("dbc_events_total{action=vm_image.added,result=ok}"), 1);
    assert.equal(at("dbc_vm_operations_total{action=start,result=ok}"), 1);
    assert.equal(at("dbc_vm_operations_total{action=start,result=error}"), 1);
    assert.equal(at("dbc_vm_operations_total{action=observe,result=ok}"), 1);
    assert.equal(at("dbc_container_operations_total{action=create,result=ok}"), 1);
    assert.equal(at("dbc_lease_actions_total{action=expire,result=ok}"), 1);
    assert.equal(at("dbc_lease_actions_total{action=delete,result=error}"), 1);
    // 1.5 s lies in the 2.5 s bucket and not in the 1 s one; 40 ms in the first.
    const bucket = (le: number, result: string) =>
      at(`dbc_vm_operation_duration_seconds_bucket{action=start,le=${le},result=${result}}`);
    assert.equal(bucket(1, "ok"), 0);
    assert.equal(bucket(2.5, "ok"), 1);
    assert.equal(bucket(0.05, "error"), 1);
    assert.equal(at("dbc_vm_operation_duration_seconds_sum{action=start,result=ok}"), 1.5);
    assert.equal(
      at("dbc_vm_operation_duration_seconds_count{action=observe,result=ok}"),
      undefined,
    );
    assert.equal(
      at("dbc_container_operation_duration_seconds_bucket{action=create,le=300,result=ok}"),
      1,
    );
    assert.equal(
      at("dbc_container_operation_duration_seconds_bucket{action=create,le=120,result=ok}"),
      0,
    );
    // What the log stores is unchanged: the start time is for the metrics only.
    const [stored] = events.list({ action: "container.create", limit: 1 });
    assert.deepEqual(Object.keys(stored!).sort(), [
      "action",
      "actor",
      "at",
      "detail",
      "id",
      "result",
      "target",
    ]);
  } finally {
    service.close();
  }
});

Deno.test("ledger writes are counted by kind and outcome; reads are not", async () => {
  const service = await openService("service-metrics-ledger");
  try {
    const funded = { account: "5Eve", balance: "10", changes: [] };
    const handlers = service.metrics.countLedgerWrites({
      "ledger.fund": (params: { amount: string }) => {
        if (params.amount === "0") throw new RpcError("invalid_params", "nothing to fund");
        return funded;
      },
      "ledger.balance": () => funded,
    } as never) as unknown as Record<
      string,
      (params: unknown, context: unknown) => Promise<unknown>
    >;
    assert.deepEqual(await handlers["ledger.fund"]!({ amount: "10" }, { from: "http" }), funded);
    await handlers["ledger.fund"]!({ amount: "10" }, { from: "http" });
    await assert.rejects(
      handlers["ledger.fund"]!({ amount: "0" }, { from: "http" }),
      (error) => error instanceof RpcError && error.code === "invalid_params",
    );
    await handlers["ledger.balance"]!({}, { from: "http" });
    const after = await service.scrape();
    assert.equal(after.get("dbc_ledger_writes_total{kind=fund,result=ok}"), 2);
    assert.equal(after.get("dbc_ledger_writes_total{kind=fund,result=error}"), 1);
    assert.equal([...after.keys()].some((key) => key.includes("kind=balance")), false);
  } finally {
    service.close();
  }
});

Deno.test("instances by kind and state and GPUs held are read from the database at each scrape", async () => {
  const service = await openService("service-metrics-state");
  try {
    const before = await service.scrape();
    for (const kind of ["vm", "container"]) {
      for (const state of ["creating", "running", "stopped", "expired", "failed", "deleted"]) {
        assert.equal(
          before.get(`dbc_instances{kind=${kind},state=${state}}`),
          0,
          `${kind} ${state}`,
        );
      }
      assert.equal(before.get(`dbc_gpus_allocated{kind=${kind}}`), 0);
    }
    const store = new ContainerStore(service.db, Date.now);
    for (const id of ["ct-1", "ct-2", "ct-3"]) {
      store.insert({
        id,
        name: `dbc-${id}`,
        owner: "5Alice",
        image: "alpine:3.20",
        spec: { command: [], env: {}, gpus: { count: 0 } },
        cpuCores: null,
        memoryMib: null,
        volume: null,
        ports: [],
      });
    }
    store.update("ct-1", { state: "running" });
    store.update("ct-2", { state: "running" });
    const gpu = (index: number) => ({
      index,
      uuid: `GPU-${index}`,
      name: "Test GPU",
      pci_bus_id: `00000000:0${index}:00.0`,
      memory_total_mib: 1024,
      memory_used_mib: 0,
      utilization_percent: 0,
      temperature_c: 30,
      driver_version: "550",
    });
    new GpuAllocator(service.db, Date.now).allocateGpus("ct-1", "container", { count: 2 }, [
      gpu(0),
      gpu(1),
      gpu(2),
    ]);
    const after = await service.scrape();
    assert.equal(after.get("dbc_instances{kind=container,state=running}"), 2);
    assert.equal(after.get("dbc_instances{kind=container,state=creating}"), 1);
    assert.equal(after.get("dbc_instances{kind=vm,state=running}"), 0);
    assert.equal(after.get("dbc_gpus_allocated{kind=container}"), 2);
    assert.equal(after.get("dbc_gpus_allocated{kind=vm}"), 0);
  } finally {
    service.close();
  }
});
