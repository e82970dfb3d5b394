/**
 * A container's usage, read from the real engine (Podman's Docker API): CPU
 * time that grows while it works, memory within the limit it was given, its
 * network counters; a stopped container has none to give (conflict), an
 * unknown one is not found.
 */
import assert from "node:assert/strict";
import { ContainerCreateParamsSchema, openDatabase, type RpcError } from "../../../mod/mod.ts";
import { ContainerService } from "../../../node_service/container/service.ts";
import { ContainerStore } from "../../../node_service/container/store.ts";
import { DockerEngine } from "../../../node_service/container/docker/engine.ts";
import { EventLog } from "../../../node_service/event_log.ts";
import { GpuAllocator } from "../../../node_service/gpu/allocation.ts";
import { listeningPorts } from "../../../node_service/host/ports.ts";
import { SERVICE_MIGRATIONS } from "../../../node_service/mod.ts";
import { scratchDir, waitFor } from "../../helpers.ts";
import {
  cleanUpEngine,
  ENGINE_SOCKET,
  requireEngine,
  TEST_IMAGE,
  TEST_LABEL,
  testRunId,
} from "./engine_fixture.ts";

const MEMORY_MIB = 64;

Deno.test({
  name: "a running container's usage: CPU time grows, memory within its limit, none once stopped",
  sanitizeResources: false,
  async fn() {
    await requireEngine();
    const runId = testRunId("usage");
    const dir = await scratchDir("containers-usage");
    const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS);
    const engine = new DockerEngine(ENGINE_SOCKET);
    const service = new ContainerService({
      engine,
      store: new ContainerStore(db, Date.now),
      gpus: new GpuAllocator(db, Date.now),
      events: new EventLog(db, Date.now),
      gpuReport: () => Promise.resolve({ state: "none", gpus: [], reason: "none", queried_at: 0 }),
      listeningPorts,
      hostPortRange: { first: 20000, last: 29999 },
      stopTimeoutS: 10,
      nodeId: "12D3KooWTestNode",
      extraLabels: { [TEST_LABEL]: runId },
    });
    try {
      const container = await service.create(ContainerCreateParamsSchema.parse({
        actor: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
        image: TEST_IMAGE,
        memory_mib: MEMORY_MIB,
        // Some work every moment, so its CPU time grows between two readings.
        command: ["sh", "-c", "trap 'exit 0' TERM; while true; do seq 1 5000 >/dev/null; done"],
      }));
      assert.equal(container.state, "running");

      const first = await service.usage(container.id);
      assert.equal(first.id, container.id);
      assert.equal(first.kind, "container");
      assert.ok(first.cpu_time_ns !== null && first.cpu_time_ns > 0, JSON.stringify(first));
      assert.ok(first.cpus !== null && first.cpus >= 1);
      assert.equal(first.memory_limit_bytes, MEMORY_MIB * 2 ** 20);
      assert.ok(
        first.memory_used_bytes !== null && first.memory_used_bytes > 0 &&
          first.memory_used_bytes <= MEMORY_MIB * 2 ** 20,
        JSON.stringify(first),
      );
      assert.notEqual(first.net_rx_bytes, null);
      const later = await waitFor("its CPU time to grow", async () => {
        const reading = await service.usage(container.id);
        return reading.cpu_time_ns! > first.cpu_time_ns! ? reading : undefined;
      }, 20_000);
      assert.ok(later.at > first.at);

      await service.stop("test", container.id);
      await assert.rejects(
        () => service.usage(container.id),
        (error: RpcError) =>
          error.code === "conflict" && /stopped, not running/.test(error.message),
      );
      await assert.rejects(
        () => service.usage("ct-nonexistent"),
        (error: RpcError) => error.code === "not_found",
      );
    } finally {
      engine.close();
      await cleanUpEngine(runId);
      db.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
