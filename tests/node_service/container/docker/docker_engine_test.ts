/**
 * DockerEngine against the real engine (Podman's Docker API service on this
 * machine): lifecycle, logs, volumes, ports, images, GPU device requests as
 * the engine receives them, and a dead socket.
 */
import assert from "node:assert/strict";
import { EngineError } from "../../../../node_service/container/engine.ts";
import { DockerEngine } from "../../../../node_service/container/docker/engine.ts";
import { freePort, scratchDir, waitFor } from "../../../helpers.ts";
import {
  cleanUpEngine,
  ENGINE_SOCKET,
  idleCommand,
  rawEngine,
  RecordingProxy,
  requireEngine,
  TEST_IMAGE,
  TEST_LABEL,
  testRunId,
} from "../engine_fixture.ts";

const LONG = 120_000;

async function withEngine(
  name: string,
  work: (engine: DockerEngine, runId: string) => Promise<void>,
  socket = ENGINE_SOCKET,
): Promise<void> {
  await requireEngine();
  const runId = testRunId(name);
  const engine = new DockerEngine(socket);
  try {
    await work(engine, runId);
  } finally {
    engine.close();
    await cleanUpEngine(runId);
  }
}

async function logText(engine: DockerEngine, id: string): Promise<string> {
  const logs = await engine.containerLogs(id, { from: "tail", lines: 100 });
  return logs.lines.map((line) => `${line.stream}:${line.text}`).join("\n");
}

Deno.test({
  name:
    "a container runs its command, shows its own output, stops, starts, restarts and is removed",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withEngine("lifecycle", async (engine, runId) => {
      const id = await engine.createContainer({
        name: `dbc-test-${runId}`,
        image: TEST_IMAGE,
        command: [
          "sh",
          "-c",
          `trap 'exit 0' TERM; echo out-$GREETING; echo err-line >&2; while true; do sleep 1; done`,
        ],
        env: { GREETING: runId },
        labels: { [TEST_LABEL]: runId },
        gpuDeviceIds: [],
        ports: [],
        nanoCpus: 500_000_000,
        memoryBytes: 64 * 1024 * 1024,
      });
      assert.equal((await engine.inspectContainer(id)).status, "created");
      await engine.startContainer(id);
      const running = await engine.inspectContainer(id);
      assert.equal(running.status, "running");
      assert.equal(running.nanoCpus, 500_000_000);
      assert.equal(running.memoryBytes, 64 * 1024 * 1024);
      assert.equal(running.labels[TEST_LABEL], runId);

      await waitFor("its own output in its logs", async () => {
        const text = await logText(engine, id);
        return text.includes(`stdout:out-${runId}`) && text.includes("stderr:err-line")
          ? true
          : undefined;
      }, LONG);

      await engine.stopContainer(id, 30);
      const stopped = await engine.inspectContainer(id);
      assert.equal(stopped.status, "exited");
      assert.equal(stopped.exitCode, 0, "the TERM trap ran: it exited cleanly, not killed");
      await engine.stopContainer(id, 30); // already stopped: not an error

      await engine.startContainer(id);
      assert.equal((await engine.inspectContainer(id)).status, "running");
      const firstStart = (await engine.inspectContainer(id)).startedAt!;
      await engine.restartContainer(id, 30);
      const restarted = await engine.inspectContainer(id);
      assert.equal(restarted.status, "running");
      assert.ok(restarted.startedAt! >= firstStart, "the restart started it anew");

      const listed = await engine.listContainers([`${TEST_LABEL}=${runId}`]);
      assert.deepEqual(listed.map((container) => container.id), [id]);

      await engine.removeContainer(id);
      await assert.rejects(engine.inspectContainer(id), (error: EngineError) => {
        assert.equal(error.kind, "not_found");
        return true;
      });
      await engine.removeContainer(id); // already gone: not an error
      assert.deepEqual(await engine.listContainers([`${TEST_LABEL}=${runId}`]), []);
    }),
});

Deno.test({
  name: "logs are bounded: the head or the tail, at most the lines asked for",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withEngine("logs", async (engine, runId) => {
      const id = await engine.createContainer({
        name: `dbc-test-${runId}`,
        image: TEST_IMAGE,
        command: [
          "sh",
          "-c",
          "trap 'exit 0' TERM; i=1; while [ $i -le 300 ]; do echo line-$i; i=$((i+1)); done; while true; do sleep 1; done",
        ],
        labels: { [TEST_LABEL]: runId },
        gpuDeviceIds: [],
        ports: [],
      });
      await engine.startContainer(id);
      await waitFor("all 300 lines", async () => {
        const tail = await engine.containerLogs(id, { from: "tail", lines: 1 });
        return tail.lines[0]?.text === "line-300" ? true : undefined;
      }, LONG);
      const head = await engine.containerLogs(id, { from: "head", lines: 100 });
      assert.equal(head.lines.length, 100);
      assert.equal(head.lines[0]!.text, "line-1");
      assert.equal(head.lines[99]!.text, "line-100");
      const tail = await engine.containerLogs(id, { from: "tail", lines: 5 });
      assert.deepEqual(tail.lines.map((line) => line.text), [
        "line-296",
        "line-297",
        "line-298",
        "line-299",
        "line-300",
      ]);
      assert.equal(tail.truncated, false);
    }),
});

Deno.test({
  name: "a named volume keeps its files across a restart, and after the container is removed",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withEngine("volume", async (engine, runId) => {
      const volume = `dbc-test-${runId}-data`;
      await engine.createVolume(volume, { [TEST_LABEL]: runId });
      assert.equal(await engine.volumeExists(volume), true);
      const counting = [
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo boot >> /data/boots; echo boots=$(wc -l < /data/boots); while true; do sleep 1; done",
      ];
      const spec = {
        image: TEST_IMAGE,
        command: counting,
        labels: { [TEST_LABEL]: runId },
        gpuDeviceIds: [],
        ports: [],
        volume: { name: volume, mountPath: "/data" },
      };
      const first = await engine.createContainer({ ...spec, name: `dbc-test-${runId}-a` });
      await engine.startContainer(first);
      const mounts = (await engine.inspectContainer(first)).mounts;
      assert.deepEqual(mounts, [{ type: "volume", name: volume, destination: "/data" }]);
      await waitFor("the first boot", async () =>
        (await logText(engine, first)).includes("boots=1") || undefined, LONG);
      await engine.restartContainer(first, 30);
      await waitFor("the second boot, counting the first", async () =>
        (await logText(engine, first)).includes("boots=2") || undefined, LONG);

      // The container goes; its named volume stays (only anonymous ones go with it).
      await engine.removeContainer(first);
      assert.equal(await engine.volumeExists(volume), true);
      const second = await engine.createContainer({ ...spec, name: `dbc-test-${runId}-b` });
      await engine.startContainer(second);
      await waitFor("a new container seeing the old files", async () =>
        (await logText(engine, second)).includes("boots=3") || undefined, LONG);

      // A volume in use cannot be removed; once free it can.
      await assert.rejects(engine.removeVolume(volume), (error: EngineError) => {
        assert.equal(error.kind, "conflict");
        return true;
      });
      await engine.removeContainer(second);
      await engine.removeVolume(volume);
      assert.equal(await engine.volumeExists(volume), false);
      await engine.removeVolume(volume); // already gone: not an error
    }),
});

Deno.test({
  name: "port bindings appear in the details, running or stopped, and in the listing",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withEngine("ports", async (engine, runId) => {
      const sshPort = freePort();
      const appPort = freePort();
      const id = await engine.createContainer({
        name: `dbc-test-${runId}`,
        image: TEST_IMAGE,
        command: idleCommand("ports"),
        labels: { [TEST_LABEL]: runId },
        gpuDeviceIds: [],
        ports: [
          { containerPort: 22, protocol: "tcp", hostPort: sshPort },
          { containerPort: 8080, protocol: "tcp", hostPort: appPort },
        ],
      });
      const expected = [
        { containerPort: 22, protocol: "tcp", hostPort: sshPort },
        { containerPort: 8080, protocol: "tcp", hostPort: appPort },
      ];
      assert.deepEqual((await engine.inspectContainer(id)).ports, expected);
      await engine.startContainer(id);
      assert.deepEqual((await engine.inspectContainer(id)).ports, expected);
      const [listed] = await engine.listContainers([`${TEST_LABEL}=${runId}`]);
      assert.deepEqual(listed!.ports, expected);
      await engine.stopContainer(id, 30);
      assert.deepEqual((await engine.inspectContainer(id)).ports, expected);
    }),
});

Deno.test({
  name:
    "GPU device requests reach the engine as built: none for 0 GPUs, one entry for 1 or several",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await requireEngine();
    const proxy = await RecordingProxy.start();
    try {
      await withEngine("gpus", async (engine, runId) => {
        const cases: string[][] = [
          [],
          ["GPU-3f1f6c8e-2b6a-4f55-9a3c-0f6c1c2d9e11"],
          [
            "GPU-3f1f6c8e-2b6a-4f55-9a3c-0f6c1c2d9e11",
            "GPU-8d0a5b1c-7e2f-4c3a-b1d4-52e6f0a9c7b3",
            "GPU-0b7c1f2e-9a3d-4e5f-8c6b-1d2e3f4a5b6c",
          ],
        ];
        for (const [index, gpuDeviceIds] of cases.entries()) {
          const id = await engine.createContainer({
            name: `dbc-test-${runId}-${index}`,
            image: TEST_IMAGE,
            command: idleCommand("gpu"),
            labels: { [TEST_LABEL]: runId },
            gpuDeviceIds,
            ports: [],
          });
          // The engine took the request: the container starts (Podman ignores the device request).
          await engine.startContainer(id);
        }
        const bodies = proxy.createBodies();
        assert.equal(bodies.length, 3);
        const deviceRequests = bodies.map((body) =>
          (body.HostConfig as Record<string, unknown>).DeviceRequests
        );
        assert.equal(deviceRequests[0], undefined, "no GPUs: no device request at all");
        assert.deepEqual(deviceRequests[1], [{
          Driver: "nvidia",
          DeviceIDs: cases[1],
          Capabilities: [["gpu"]],
        }]);
        assert.deepEqual(deviceRequests[2], [{
          Driver: "nvidia",
          DeviceIDs: cases[2],
          Capabilities: [["gpu"]],
        }]);
        assert.ok(bodies.every((body) => body.Image === TEST_IMAGE));
      }, proxy.socket);
    } finally {
      await proxy.stop();
    }
  },
});

Deno.test({
  name: "images: import a tarball, list it, refuse to delete it while a container uses it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withEngine("images", async (engine, runId) => {
      const reference = `localhost/dbc-test-import-${runId}:v1`;
      const dir = await scratchDir("image-import");
      try {
        const tarball = await busyboxTarball(dir);
        const file = await Deno.open(tarball);
        const imageId = await engine.importImage(reference, file.readable);
        assert.match(imageId, /^sha256:[a-f0-9]{64}$/);
        const listed = (await engine.listImages()).find((image) => image.id === imageId);
        assert.deepEqual(listed?.tags, [reference]);
        assert.ok(listed!.sizeBytes > 0);

        const id = await engine.createContainer({
          name: `dbc-test-${runId}`,
          image: reference,
          command: ["/bin/busybox", "echo", `imported-${runId}`],
          labels: { [TEST_LABEL]: runId },
          gpuDeviceIds: [],
          ports: [],
        });
        await engine.startContainer(id);
        await waitFor("the imported image's output", async () =>
          (await logText(engine, id)).includes(`imported-${runId}`) || undefined, LONG);

        await assert.rejects(engine.removeImage(reference), (error: EngineError) => {
          assert.equal(error.kind, "conflict");
          assert.match(error.message, /in use/);
          return true;
        });
        await engine.removeContainer(id);
        await engine.removeImage(reference);
        assert.equal(
          (await engine.listImages()).some((image) =>
            image.id === imageId
          ),
          false,
        );
        await assert.rejects(engine.removeImage(reference), (error: EngineError) => {
          assert.equal(error.kind, "not_found");
          return true;
        });
      } finally {
        await rawEngine("DELETE", `/images/${reference}?force=true`);
        await Deno.remove(dir, { recursive: true });
      }
    }),
});

Deno.test({
  name: "a pull from a registry that cannot be reached ends with the engine's reason",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withEngine("pull", async (engine) => {
      const events = [];
      for await (const event of engine.pullImage(`127.0.0.1:${freePort()}/nothing/here:v1`)) {
        events.push(event);
      }
      const last = events.at(-1);
      assert.equal(last?.kind, "error");
      assert.match(last.kind === "error" ? last.message : "", /127\.0\.0\.1:\d+/);
    }),
});

Deno.test({
  name: "an image or container that does not exist is a not_found error naming it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withEngine("missing", async (engine, runId) => {
      await assert.rejects(
        engine.createContainer({
          name: `dbc-test-${runId}`,
          image: "localhost/dbc-no-such-image:v0",
          labels: { [TEST_LABEL]: runId },
          gpuDeviceIds: [],
          ports: [],
        }),
        (error: EngineError) => {
          assert.equal(error.kind, "not_found");
          assert.match(error.message, /dbc-no-such-image/);
          return true;
        },
      );
      await assert.rejects(
        engine.startContainer(`dbc-test-${runId}-none`),
        (error: EngineError) => {
          assert.equal(error.kind, "not_found");
          return true;
        },
      );
    }),
});

Deno.test({
  name: "a second container with the same name is a conflict (Podman says 500, the message tells)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withEngine("name-conflict", async (engine, runId) => {
      const spec = {
        name: `dbc-test-${runId}`,
        image: TEST_IMAGE,
        command: idleCommand("x"),
        labels: { [TEST_LABEL]: runId },
        gpuDeviceIds: [],
        ports: [],
      };
      await engine.createContainer(spec);
      await assert.rejects(engine.createContainer(spec), (error: EngineError) => {
        assert.equal(error.kind, "conflict");
        assert.match(error.message, /already in use/);
        return true;
      });
    }),
});

Deno.test("a missing or dead socket is an `unavailable` error that names the socket", async () => {
  const dir = await scratchDir("dead-engine");
  try {
    const missing = new DockerEngine(`${dir}/missing.sock`);
    await assert.rejects(missing.info(), (error: EngineError) => {
      assert.equal(error.kind, "unavailable");
      assert.match(error.message, /missing\.sock does not exist: is the engine running\?/);
      return true;
    });
    // A file at the path that nobody listens on.
    await Deno.writeTextFile(`${dir}/dead.sock`, "");
    const dead = new DockerEngine(`${dir}/dead.sock`);
    await assert.rejects(dead.listContainers([]), (error: EngineError) => {
      assert.equal(error.kind, "unavailable");
      assert.match(error.message, /dead\.sock refuses connections/);
      return true;
    });
    missing.close();
    dead.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A root filesystem of one static busybox, as a tarball. */
async function busyboxTarball(dir: string): Promise<string> {
  const root = `${dir}/rootfs`;
  await Deno.mkdir(`${root}/bin`, { recursive: true });
  await Deno.copyFile("/bin/busybox", `${root}/bin/busybox`);
  await Deno.chmod(`${root}/bin/busybox`, 0o755);
  const tarball = `${dir}/rootfs.tar`;
  const tar = await new Deno.Command("tar", { args: ["-C", root, "-cf", tarball, "."] }).output();
  assert.equal(tar.code, 0, new TextDecoder().decode(tar.stderr));
  return tarball;
}
