/**
 * ContainerService and ContainerImages over a real SQLite file and the real
 * engine: records, GPU allocation shared with VMs, host ports, the event log,
 * and an engine that is down. The GPUs come from recorded nvidia-smi output
 * (this machine has none); what the engine is asked for is checked on the
 * requests it receives, through a recording proxy on its socket.
 */
import assert from "node:assert/strict";
import {
  type ContainerCreateParams,
  ContainerCreateParamsSchema,
  type GpuReport,
  openDatabase,
  type RpcError,
} from "../../../mod/mod.ts";
import { ContainerImages } from "../../../node_service/container/image_pulls.ts";
import { ContainerService } from "../../../node_service/container/service.ts";
import { ContainerStore } from "../../../node_service/container/store.ts";
import { DockerEngine } from "../../../node_service/container/docker/engine.ts";
import { EventLog } from "../../../node_service/event_log.ts";
import { GpuAllocator } from "../../../node_service/gpu/allocation.ts";
import { listeningPorts } from "../../../node_service/host/ports.ts";
import { parseGpuCsv, SERVICE_MIGRATIONS } from "../../../node_service/mod.ts";
import { scratchDir, waitFor } from "../../helpers.ts";
import {
  cleanUpEngine,
  ENGINE_SOCKET,
  labelledContainers,
  rawEngine,
  RecordingProxy,
  requireEngine,
  TEST_IMAGE,
  TEST_LABEL,
  testRunId,
} from "./engine_fixture.ts";

const LONG = 120_000;
const INVENTORY = parseGpuCsv(
  await Deno.readTextFile(new URL("../../fixtures/nvidia-smi/two_h100.csv", import.meta.url)),
);
const [GPU0, GPU1] = INVENTORY.map((gpu) => gpu.uuid) as [string, string];
const TWO_GPUS: GpuReport = { state: "present", gpus: INVENTORY, queried_at: 0 };

type Setting = {
  runId: string;
  dir: string;
  dbPath: string;
  service: (socket?: string) => ContainerService;
  images: (socket?: string) => ContainerImages;
  store: ContainerStore;
  gpus: GpuAllocator;
  events: EventLog;
  proxy: RecordingProxy;
};

/** A service over a fresh database, talking to the engine through a recording proxy. */
async function withService(name: string, work: (setting: Setting) => Promise<void>): Promise<void> {
  await requireEngine();
  const runId = testRunId(name);
  const dir = await scratchDir(`containers-${name}`);
  const dbPath = `${dir}/node.db`;
  const db = openDatabase(dbPath, SERVICE_MIGRATIONS);
  const proxy = await RecordingProxy.start();
  const engines: DockerEngine[] = [];
  const store = new ContainerStore(db, Date.now);
  const gpus = new GpuAllocator(db, Date.now);
  const events = new EventLog(db, Date.now);
  const engineAt = (socket: string) => {
    const engine = new DockerEngine(socket);
    engines.push(engine);
    return engine;
  };
  const setting: Setting = {
    runId,
    dir,
    dbPath,
    store,
    gpus,
    events,
    proxy,
    service: (socket = proxy.socket) =>
      new ContainerService({
        engine: engineAt(socket),
        store,
        gpus,
        events,
        gpuReport: () => Promise.resolve(TWO_GPUS),
        listeningPorts,
        hostPortRange: { first: 20000, last: 29999 },
        stopTimeoutS: 30,
        nodeId: "12D3KooWTestNode",
        extraLabels: { [TEST_LABEL]: runId },
      }),
    images: (socket = proxy.socket) =>
      new ContainerImages({
        engine: engineAt(socket),
        store,
        events,
        imageDir: dir,
        now: Date.now,
      }),
  };
  try {
    await work(setting);
  } finally {
    for (const engine of engines) engine.close();
    await proxy.stop();
    await cleanUpEngine(runId);
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const SSH_KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb7n6cXq1B2Ht0qW8Qy7Vd0m3tO9qkOqg2rS6uYF5Zy renter@laptop";

function createParams(overrides: Partial<ContainerCreateParams> = {}) {
  return ContainerCreateParamsSchema.parse({
    actor: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
    image: TEST_IMAGE,
    command: [
      "sh",
      "-c",
      "trap 'exit 0' TERM; echo hello-from-container; while true; do sleep 1; done",
    ],
    ...overrides,
  });
}

const rpcCode = (code: string, pattern?: RegExp) => (error: RpcError) => {
  assert.equal(error.code, code, error.message);
  if (pattern) assert.match(error.message, pattern);
  return true;
};

async function logText(service: ContainerService, id: string): Promise<string> {
  return (await service.logs(id, { from: "tail", lines: 100 })).lines.map((line) => line.text)
    .join("\n");
}

Deno.test({
  name:
    "a container is created with GPUs, ports and a volume, runs, stops, starts, restarts and is deleted",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withService(
      "lifecycle",
      async ({ service: makeService, store, gpus, events, proxy, dbPath }) => {
        const service = makeService();
        const created = await service.create(createParams({
          command: [
            "sh",
            "-c",
            "trap 'exit 0' TERM; echo boot >> /data/boots; echo boots=$(wc -l < /data/boots); " +
            "cat /root/.ssh/authorized_keys; stat -c 'mode %a %u:%g %n' /root/.ssh /root/.ssh/authorized_keys; " +
            "while true; do sleep 1; done",
          ],
          gpus: { count: 2 },
          cpu_cores: 0.5,
          memory_mib: 64,
          ssh: { authorized_keys: [SSH_KEY, `${SSH_KEY.split(" ").slice(0, 2).join(" ")} second`] },
          ports: [{ container_port: 8080 }],
          volume: { mount_path: "/data" },
        }));
        assert.equal(created.state, "running");
        assert.equal(created.kind, "container");
        assert.deepEqual(created.gpus, [GPU0, GPU1]);
        assert.deepEqual(created.ports.map((port) => port.container_port), [22, 8080]);
        assert.ok(
          created.ports.every((port) => port.host_port >= 20000 && port.host_port <= 29999),
        );
        assert.equal(created.volume?.name, `dbc-${created.id}-data`);

        // What the engine was asked for.
        const [body] = proxy.createBodies();
        const hostConfig = body!.HostConfig as Record<string, unknown>;
        assert.deepEqual(hostConfig.DeviceRequests, [
          { Driver: "nvidia", DeviceIDs: [GPU0, GPU1], Capabilities: [["gpu"]] },
        ]);
        assert.equal(hostConfig.NanoCpus, 500_000_000);
        assert.equal(hostConfig.Memory, 64 * 1024 * 1024);
        assert.equal((body!.Labels as Record<string, string>)["dbc.instance"], created.id);

        const detail = await service.get(created.id);
        assert.equal(detail.engine.state, "present");
        assert.deepEqual(
          detail.engine.state === "present" ? detail.engine.ports : [],
          created.ports,
        );
        // Waits for the first boot's last line: the boot count alone can be logged before `cat`
        // and `stat` have written theirs.
        await waitFor("the first boot in the logs", async () => {
          const text = await logText(service, created.id);
          return (text.includes("boots=1") && / \/root\/\.ssh\/authorized_keys$/m.test(text)) ||
            undefined;
        }, LONG);
        // The renter's keys were in place before the container's first process ran, as sshd wants.
        const firstBoot = await logText(service, created.id);
        assert.ok(firstBoot.includes(`${SSH_KEY}\n`), firstBoot);
        assert.ok(firstBoot.includes(" second\n"), firstBoot);
        assert.match(firstBoot, /mode 700 0:0 \/root\/\.ssh\n/);
        assert.match(firstBoot, /mode 600 0:0 \/root\/\.ssh\/authorized_keys/);

        assert.equal((await service.stop("renter", created.id)).state, "stopped");
        assert.equal((await service.get(created.id)).engine.state, "present");
        assert.equal((await service.start("renter", created.id)).state, "running");
        assert.equal((await service.restart("renter", created.id)).state, "running");
        await waitFor("the volume counting three boots", async () =>
          (await logText(service, created.id)).includes("boots=3") || undefined, LONG);

        // The records outlive the service: a new one over the same file sees the same.
        const reopened = openDatabase(dbPath, SERVICE_MIGRATIONS);
        const again = new ContainerStore(reopened, Date.now).get(created.id);
        assert.equal(again?.state, "running");
        assert.deepEqual(
          new GpuAllocator(reopened, Date.now).heldBy(created.id, "container").map((
            held,
          ) =>
            held.gpu_uuid
          ),
          [GPU0, GPU1],
        );
        reopened.close();

        const deleted = await service.delete("renter", created.id, true);
        assert.equal(deleted.state, "deleted");
        assert.deepEqual(deleted.gpus, []);
        assert.deepEqual(deleted.ports, []);
        assert.equal(deleted.volume?.kept, true);
        assert.equal((await rawEngine("GET", `/volumes/${deleted.volume!.name}`)).status, 200);
        assert.equal(gpus.list().length, 0);
        assert.equal(store.heldHostPorts().size, 0);
        assert.deepEqual(service.list({ includeDeleted: false }), []);
        assert.equal(service.list({ includeDeleted: true }).length, 1);
        await assert.rejects(service.start("renter", created.id), rpcCode("conflict", /deleted/));

        const logged = events.list({ target: created.id, limit: 20 }).map((event) =>
          `${event.action}:${event.result}`
        ).reverse();
        assert.deepEqual(logged, [
          "container.create:ok",
          "container.stop:ok",
          "container.start:ok",
          "container.restart:ok",
          "container.delete:ok",
          "container.start:error",
        ]);
      },
    ),
});

Deno.test({
  name: "deleting without keeping the volume removes it with the container",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withService("delete-volume", async ({ service: makeService }) => {
      const service = makeService();
      const created = await service.create(createParams({ volume: { mount_path: "/data" } }));
      const volume = created.volume!.name;
      assert.equal((await rawEngine("GET", `/volumes/${volume}`)).status, 200);
      const deleted = await service.delete("renter", created.id, false);
      assert.equal(deleted.volume?.kept, false);
      assert.equal((await rawEngine("GET", `/volumes/${volume}`)).status, 404);
    }),
});

Deno.test({
  name:
    "a GPU held by a VM cannot be given to a container, and nothing is created for the refused one",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withService("gpu-held", async ({ service: makeService, gpus, proxy, runId, events }) => {
      const service = makeService();
      gpus.allocateGpus("vm-test-1", "vm", { uuids: [GPU0] }, INVENTORY);

      await assert.rejects(
        service.create(createParams({ gpus: { uuids: [GPU0] } })),
        rpcCode("conflict", /held by vm vm-test-1/),
      );
      await assert.rejects(
        service.create(createParams({ gpus: { count: 2 } })),
        rpcCode("conflict", /2 GPU\(s\) asked for; 1 of 2 free/),
      );
      assert.deepEqual(
        service.list({ includeDeleted: true }),
        [],
        "no record for a refused create",
      );
      assert.deepEqual(proxy.createBodies(), [], "the engine was asked for nothing");
      assert.deepEqual(await labelledContainers(runId), []);
      assert.equal(
        events.list({ action: "container.create", limit: 10 }).filter((event) =>
          event.result === "error"
        ).length,
        2,
      );

      // The free one can be had.
      const created = await service.create(createParams({ gpus: { count: 1 } }));
      assert.deepEqual(created.gpus, [GPU1]);
      const [body] = proxy.createBodies();
      assert.deepEqual(
        (body!.HostConfig as Record<string, unknown>).DeviceRequests,
        [{ Driver: "nvidia", DeviceIDs: [GPU1], Capabilities: [["gpu"]] }],
      );
      // And now no instance of either kind can take it.
      assert.throws(
        () => gpus.allocateGpus("vm-test-2", "vm", { uuids: [GPU1] }, INVENTORY),
        /held by container/,
      );
      await service.delete("renter", created.id, false);
      assert.deepEqual(gpus.list().map((held) => held.instance_id), ["vm-test-1"]);
    }),
});

Deno.test({
  name:
    "a host port in use is refused before the engine sees it; a stopped container cannot start on a taken port",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withService("ports", async ({ service: makeService, proxy }) => {
      const service = makeService();
      const squatter = listenInRange(20000, 29999);
      const taken = (squatter.addr as Deno.NetAddr).port;
      try {
        // Only the node's range (container_host_ports) may be named, never a host service's port.
        for (const outside of [22, 8080, 19999, 30000]) {
          await assert.rejects(
            service.create(createParams({ ssh: { host_port: outside } })),
            rpcCode("invalid_params", /outside this node's container ports 20000-29999/),
          );
          await assert.rejects(
            service.create(createParams({ ports: [{ container_port: 80, host_port: outside }] })),
            rpcCode("invalid_params", /outside this node's container ports/),
          );
        }
        await assert.rejects(
          service.create(createParams({ ssh: { host_port: taken } })),
          rpcCode("conflict", new RegExp(`host port ${taken}/tcp is in use`)),
        );
        await assert.rejects(
          service.create(createParams({ ports: [{ container_port: 80 }, { container_port: 80 }] })),
          rpcCode("invalid_params", /published twice/),
        );
        assert.deepEqual(proxy.createBodies(), []);
      } finally {
        squatter.close();
      }

      const created = await service.create(createParams({ ssh: {} }));
      const sshPort = created.ports[0]!.host_port;
      // Another container may not get the same host port, even automatically.
      const second = await service.create(createParams({ ports: [{ container_port: 22 }] }));
      assert.notEqual(second.ports[0]!.host_port, sshPort);
      await assert.rejects(
        service.create(createParams({ ssh: { host_port: sshPort } })),
        rpcCode("conflict", /is in use/),
      );

      await service.stop("renter", created.id);
      const thief = Deno.listen({ hostname: "0.0.0.0", port: sshPort });
      try {
        await assert.rejects(
          service.start("renter", created.id),
          rpcCode("conflict", new RegExp(`${sshPort}/tcp taken by another program`)),
        );
        assert.equal(service.list({ includeDeleted: false })[0]!.state, "stopped");
      } finally {
        thief.close();
      }
      assert.equal((await service.start("renter", created.id)).state, "running");
    }),
});

Deno.test({
  name: "engine down: operations fail with a clear error and the records stay as they were",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withService("engine-down", async ({ service: makeService, dir, gpus, store }) => {
      const live = makeService();
      const created = await live.create(createParams({ gpus: { count: 1 }, ssh: {} }));
      const before = live.list({ includeDeleted: true });

      const deadSocket = `${dir}/no-engine.sock`;
      const down = makeService(deadSocket);
      const unavailable = rpcCode("unavailable", /container engine unavailable: .*no-engine\.sock/);
      await assert.rejects(down.create(createParams({ gpus: { count: 1 } })), unavailable);
      await assert.rejects(down.stop("renter", created.id), unavailable);
      await assert.rejects(down.delete("renter", created.id, false), unavailable);
      await assert.rejects(down.logs(created.id, { from: "tail", lines: 10 }), unavailable);

      const detail = await down.get(created.id);
      assert.equal(detail.state, "running");
      assert.equal(detail.engine.state, "unavailable");
      assert.match(
        detail.engine.state === "unavailable" ? detail.engine.reason : "",
        /no-engine\.sock/,
      );
      const status = await down.engineStatus(deadSocket);
      assert.equal(status.state, "unavailable");

      // Nothing lost, nothing half-done: same records, same GPUs, same ports; the reason is kept.
      const after = down.list({ includeDeleted: true });
      assert.deepEqual(
        after.map(({ last_error: _, updated_at: __, ...rest }) => rest),
        before.map(({ last_error: _, updated_at: __, ...rest }) => rest),
      );
      assert.match(after[0]!.last_error ?? "", /unavailable/);
      assert.deepEqual(gpus.list().map((held) => held.instance_id), [created.id]);
      assert.equal(store.heldHostPorts().size, 1);

      // The engine back: the same records work again.
      assert.equal((await live.engineStatus(ENGINE_SOCKET)).state, "available");
      assert.equal((await live.delete("renter", created.id, false)).state, "deleted");
    }),
});

Deno.test({
  name: "a create the engine refuses (no such image) leaves a failed record that holds nothing",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withService("bad-image", async ({ service: makeService, gpus, store, runId }) => {
      const service = makeService();
      await assert.rejects(
        service.create(createParams({
          image: "localhost/dbc-no-such-image:v0",
          gpus: { count: 1 },
          ssh: {},
          volume: { mount_path: "/data" },
        })),
        rpcCode("not_found", /dbc-no-such-image/),
      );
      const [failed] = service.list({ includeDeleted: false });
      assert.equal(failed?.state, "failed");
      assert.match(failed?.last_error ?? "", /dbc-no-such-image/);
      assert.deepEqual(failed?.gpus, []);
      assert.equal(gpus.list().length, 0);
      assert.equal(store.heldHostPorts().size, 0);
      assert.deepEqual(await labelledContainers(runId), []);
      await assert.rejects(service.start("renter", failed!.id), rpcCode("conflict", /delete it/));
      assert.equal((await service.delete("renter", failed!.id, false)).state, "deleted");
    }),
});

Deno.test({
  name:
    "images through the service: import from the image directory, refuse deletion while used, pull reports failure",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withService(
      "images",
      async ({ service: makeService, images: makeImages, dir, runId, events }) => {
        const service = makeService();
        const images = makeImages();
        const reference = `localhost/dbc-test-svc-${runId}:v1`;
        try {
          await Deno.mkdir(`${dir}/rootfs/bin`, { recursive: true });
          await Deno.copyFile("/bin/busybox", `${dir}/rootfs/bin/busybox`);
          const tar = await new Deno.Command("tar", {
            args: ["-C", `${dir}/rootfs`, "-cf", `${dir}/busybox.tar`, "."],
          }).output();
          assert.equal(tar.code, 0);

          await assert.rejects(
            images.import("operator", "missing.tar", reference),
            rpcCode("not_found", /missing\.tar/),
          );
          const imported = await images.import("operator", "busybox.tar", reference);
          assert.deepEqual(imported.tags, [reference]);
          assert.ok((await images.list()).some((image) => image.id === imported.id));

          const created = await service.create(createParams({
            image: reference,
            command: ["/bin/busybox", "sleep", "600"],
          }));
          await assert.rejects(
            images.delete("operator", reference),
            rpcCode("conflict", new RegExp(`in use by container\\(s\\) ${created.id}`)),
          );
          await service.delete("renter", created.id, false);
          assert.deepEqual(await images.delete("operator", reference), { deleted: reference });
          assert.equal((await images.list()).some((image) => image.id === imported.id), false);

          const started = images.pull("operator", "127.0.0.1:1/nothing/here:v1");
          assert.equal(started.state, "pulling");
          const ended = await images.settled(started.pull_id);
          assert.equal(ended.state, "failed");
          assert.match(ended.message, /127\.0\.0\.1:1/);
          assert.equal(images.pullStatus(started.pull_id).state, "failed");
          assert.deepEqual(
            events.list({ action: "container_image.pull", limit: 1 }).map((event) => event.result),
            ["error"],
          );
        } finally {
          await rawEngine("DELETE", `/images/${reference}?force=true`);
        }
      },
    ),
});

/** A listener on some free port from `first` to `last`. */
function listenInRange(first: number, last: number): Deno.Listener {
  for (let port = first + Math.floor(Math.random() * 1000); port <= last; port++) {
    try {
      return Deno.listen({ hostname: "0.0.0.0", port });
    } catch {
      // Taken: the next one.
    }
  }
  throw new Error(`no free port from ${first} to ${last}`);
}
