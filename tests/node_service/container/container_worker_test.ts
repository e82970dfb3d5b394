/**
 * Containers through the real node-service worker, started by the real
 * supervisor with the permission set main.ts gives it: the engine's socket
 * and the kernel's port tables are enough to run a container, and a socket
 * outside that set is refused cleanly while the node stays up.
 */
import assert from "node:assert/strict";
import { startNode } from "../../../main.ts";
import {
  generateNodeKeys,
  nodePaths,
  type RpcError,
  silentLogger,
  systemClock,
} from "../../../mod/mod.ts";
import { freePort, scratchDir, testNodeConfig, waitFor } from "../../helpers.ts";
import { cleanUpEngine, ENGINE_SOCKET, requireEngine, TEST_IMAGE } from "./engine_fixture.ts";

function hostPortWindow(): string {
  const first = freePort();
  return `${first}-${Math.min(first + 20, 65535)}`;
}

async function withNode(
  dockerSocket: string,
  work: (node: Awaited<ReturnType<typeof startNode>>) => Promise<void>,
): Promise<void> {
  const dir = await scratchDir("container-worker");
  const config = testNodeConfig(dir, [
    "--docker-socket",
    dockerSocket,
    "--container-stop-timeout-s",
    "30",
    // A window of its own: the default range's first ports are what parallel tests pick too.
    "--container-host-ports",
    hostPortWindow(),
  ]);
  const paths = nodePaths(config.data_dir);
  for (const sub of [paths.dataDir, paths.networkDir, paths.serviceDir]) {
    await Deno.mkdir(sub, { recursive: true });
  }
  const keys = generateNodeKeys();
  const node = await startNode({ config, paths, keys, log: silentLogger, clock: systemClock });
  try {
    await work(node);
  } finally {
    await node.stop("test over");
    // Everything the node made carries its node id.
    await cleanUpEngine("", `dbc.node=${keys.nodeId}`);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "the node-service worker runs a container through the engine socket with its narrow permissions",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await requireEngine();
    await withNode(ENGINE_SOCKET, async (node) => {
      const status = await node.rpc.call("container.engine_status", {});
      assert.equal(status.state, "available", JSON.stringify(status));

      const created = await node.rpc.call("container.create", {
        actor: "renter",
        image: TEST_IMAGE,
        command: [
          "sh",
          "-c",
          "trap 'exit 0' TERM; echo from-the-worker; while true; do sleep 1; done",
        ],
        ssh: {},
        volume: { mount_path: "/data" },
      });
      assert.equal(created.state, "running");
      assert.equal(created.ports.length, 1);
      await waitFor("the container's output", async () => {
        const logs = await node.rpc.call("container.logs", { id: created.id, lines: 10 });
        return logs.lines.some((line) => line.text === "from-the-worker") || undefined;
      }, 60_000);
      const detail = await node.rpc.call("container.get", { id: created.id });
      assert.equal(detail.engine.state, "present");
      assert.deepEqual(detail.engine.state === "present" ? detail.engine.ports : [], created.ports);
      assert.equal(
        (await node.rpc.call("container.stop", { actor: "renter", id: created.id })).state,
        "stopped",
      );
      assert.equal(
        (await node.rpc.call("container.start", { actor: "renter", id: created.id })).state,
        "running",
      );
      const images = await node.rpc.call("container_image.list", {});
      assert.ok(images.some((image) => image.tags.includes(TEST_IMAGE)));
      const deleted = await node.rpc.call("container.delete", { actor: "renter", id: created.id });
      assert.equal(deleted.state, "deleted");
      assert.deepEqual(await node.rpc.call("container.list", {}), []);
    });
  },
});

Deno.test({
  name:
    "an engine socket the node cannot reach: clear errors, and the node service keeps answering",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await scratchDir("no-engine");
    try {
      await withNode(`${dir}/engine.sock`, async (node) => {
        const status = await node.rpc.call("container.engine_status", {});
        assert.equal(status.state, "unavailable");
        assert.match(status.state === "unavailable" ? status.reason : "", /engine\.sock/);
        await assert.rejects(
          node.rpc.call("container.create", { actor: "renter", image: TEST_IMAGE }),
          (error: RpcError) => {
            assert.equal(error.code, "unavailable");
            assert.match(error.message, /container engine unavailable/);
            return true;
          },
        );
        assert.deepEqual(await node.rpc.call("container.list", {}), []);
        assert.equal(node.supervisor.status().node_service.state, "running");
        const gpu = await node.rpc.call("gpu.inventory", {});
        assert.ok(["none", "present", "error"].includes(gpu.state));
      });
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
