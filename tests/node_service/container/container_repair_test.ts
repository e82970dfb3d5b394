/**
 * Start-up repair of containers (node_service/container/repair.ts): the plan
 * alone, then over a real SQLite file and the real engine left as a node
 * killed mid-operation leaves them: a create cut short after the engine made
 * and started its container, a stop cut short after the engine stopped it,
 * a delete cut short after the engine removed it. The crash test
 * (`deno task crashtest`) finds these by killing a real node; these fail
 * against the node before the repair (records stay `creating`, `running`).
 */
import assert from "node:assert/strict";
import { openDatabase } from "../../../mod/mod.ts";
import {
  INTERRUPTED_REASON,
  planContainerRepairs,
  VANISHED_REASON,
} from "../../../node_service/container/repair.ts";
import { ContainerService } from "../../../node_service/container/service.ts";
import { ContainerStore } from "../../../node_service/container/store.ts";
import { DockerEngine } from "../../../node_service/container/docker/engine.ts";
import type { ContainerListing } from "../../../node_service/container/engine.ts";
import { EventLog } from "../../../node_service/event_log.ts";
import { GpuAllocator } from "../../../node_service/gpu/allocation.ts";
import { listeningPorts } from "../../../node_service/host/ports.ts";
import { parseGpuCsv, SERVICE_MIGRATIONS } from "../../../node_service/mod.ts";
import { scratchDir } from "../../helpers.ts";
import {
  cleanUpEngine,
  ENGINE_SOCKET,
  idleCommand,
  rawEngine,
  requireEngine,
  TEST_IMAGE,
  TEST_LABEL,
  testRunId,
} from "./engine_fixture.ts";

const NODE_ID = "12D3KooWRepairTestNode";
const INVENTORY = parseGpuCsv(
  await Deno.readTextFile(new URL("../../fixtures/nvidia-smi/two_h100.csv", import.meta.url)),
);

function listing(
  name: string,
  status: ContainerListing["status"],
  labels: Record<string, string> = {},
): ContainerListing {
  return { id: `engine-${name}`, name, image: TEST_IMAGE, status, labels, ports: [] };
}

Deno.test("the repair plan: interrupted creates, vanished and drifted containers, strangers", () => {
  const record = (id: string, state: string, engineId: string | null = null) => ({
    id,
    name: `dbc-${id}`,
    engineId,
    state: state as "running",
  });
  const plan = planContainerRepairs(
    [
      record("ct-a", "creating"),
      record("ct-b", "creating"),
      record("ct-c", "running", "engine-dbc-ct-c"),
      record("ct-d", "stopped"),
      record("ct-e", "running"),
      record("ct-f", "failed"),
      record("ct-g", "running"),
      record("ct-h", "expired"),
    ],
    [
      listing("dbc-ct-a", "running", { "dbc.node": NODE_ID, "dbc.instance": "ct-a" }),
      listing("dbc-ct-c", "exited"),
      listing("dbc-ct-d", "running"),
      listing("dbc-ct-g", "restarting"),
      listing("dbc-ct-h", "exited"),
      listing("dbc-ct-z", "running", { "dbc.node": NODE_ID, "dbc.instance": "ct-z" }),
      listing("someone-else", "running", { "dbc.node": "12D3KooWAnotherNode" }),
    ],
    NODE_ID,
  );
  assert.deepEqual(plan, [
    { kind: "interrupted", id: "ct-a", container: "dbc-ct-a" },
    { kind: "interrupted", id: "ct-b", container: null },
    { kind: "state_changed", id: "ct-c", from: "running", to: "stopped", status: "exited" },
    { kind: "state_changed", id: "ct-d", from: "stopped", to: "running", status: "running" },
    { kind: "vanished", id: "ct-e", from: "running" },
    // ct-f failed already; ct-g restarting counts as running; ct-h expired keeps its container.
    { kind: "appeared", container: "dbc-ct-z", instance: "ct-z", status: "running" },
  ]);
});

Deno.test({
  name:
    "after a crash, an interrupted create is undone, a stopped container's record follows, a vanished one is failed",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await requireEngine();
    const runId = testRunId("repair");
    // Its own node id: another run's containers are no business of this one's repair.
    const nodeId = `${NODE_ID}-${runId}`;
    const dir = await scratchDir("containers-repair");
    const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS);
    const engine = new DockerEngine(ENGINE_SOCKET);
    try {
      const store = new ContainerStore(db, Date.now);
      const gpus = new GpuAllocator(db, Date.now);
      const events = new EventLog(db, Date.now);
      const labels = (id: string) => ({
        [TEST_LABEL]: runId,
        "dbc.instance": id,
        "dbc.kind": "container",
        "dbc.node": nodeId,
      });
      // What the killed node had written and made, step by step as ContainerService does.
      const recordOf = (id: string, hostPort: number, gpuCount: number) =>
        store.atomically(() => {
          store.insert({
            id,
            name: `dbc-${id}`,
            owner: "renter",
            image: TEST_IMAGE,
            spec: { gpus: { count: gpuCount } },
            cpuCores: null,
            memoryMib: null,
            volume: null,
            ports: [{ container_port: 22, protocol: "tcp", host_port: hostPort }],
          });
          gpus.allocateGpus(id, "container", { count: gpuCount }, INVENTORY);
        });
      const engineContainer = async (id: string) => {
        const engineId = await engine.createContainer({
          name: `dbc-${id}`,
          image: TEST_IMAGE,
          command: idleCommand(id),
          labels: labels(id),
          gpuDeviceIds: [],
          ports: [],
        });
        await engine.startContainer(engineId);
        return engineId;
      };
      // Killed after the engine started it, before the record said so.
      recordOf("ct-cut-create", 29001, 1);
      await engineContainer("ct-cut-create");
      // Killed after the engine stopped it, before the record said so.
      recordOf("ct-cut-stop", 29002, 0);
      store.update("ct-cut-stop", {
        engineId: await engineContainer("ct-cut-stop"),
        state: "running",
      });
      await engine.stopContainer("dbc-ct-cut-stop", 0);
      // Killed after the engine removed it, before the record said so.
      recordOf("ct-cut-delete", 29003, 1);
      const deletedId = await engineContainer("ct-cut-delete");
      store.update("ct-cut-delete", { engineId: deletedId, state: "running" });
      await engine.removeContainer(deletedId);

      const service = new ContainerService({
        engine,
        store,
        gpus,
        events,
        gpuReport: () => Promise.resolve({ state: "present", gpus: INVENTORY, queried_at: 0 }),
        listeningPorts,
        hostPortRange: { first: 20000, last: 29999 },
        stopTimeoutS: 0,
        nodeId,
        extraLabels: { [TEST_LABEL]: runId },
      });
      const repairs = await service.reconcile();
      assert.deepEqual(repairs.map((repair) => repair.kind).sort(), [
        "interrupted",
        "state_changed",
        "vanished",
      ]);

      const created = store.get("ct-cut-create")!;
      assert.equal(created.state, "failed");
      assert.equal(created.lastError, INTERRUPTED_REASON);
      assert.equal((await rawEngine("GET", "/containers/dbc-ct-cut-create/json")).status, 404);
      assert.deepEqual(gpus.heldBy("ct-cut-create", "container"), [], "its GPU is given back");
      assert.deepEqual(created.ports, [], "and its host port");

      assert.equal(store.get("ct-cut-stop")!.state, "stopped");

      const vanished = store.get("ct-cut-delete")!;
      assert.equal(vanished.state, "failed");
      assert.equal(vanished.lastError, VANISHED_REASON);
      // Kept until the renter deletes it, as a VM whose domain vanished.
      assert.equal(gpus.heldBy("ct-cut-delete", "container").length, 1);
      assert.equal((await service.delete("renter", "ct-cut-delete", false)).state, "deleted");
      assert.deepEqual(gpus.heldBy("ct-cut-delete", "container"), []);

      const logged = events.list({ action: "container.reconcile", limit: 10 })
        .map((event) => `${event.target}:${event.result}`).sort();
      assert.deepEqual(logged, [
        "ct-cut-create:error",
        "ct-cut-delete:error",
        "ct-cut-stop:ok",
      ]);
      // Nothing left to set right: a second start finds everything as recorded.
      assert.deepEqual(await service.reconcile(), []);
    } finally {
      engine.close();
      await cleanUpEngine(runId);
      db.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
