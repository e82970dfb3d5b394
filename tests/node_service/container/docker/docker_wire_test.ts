/**
 * The pure parts of the container code: request bodies, answers read from
 * recorded Podman output, error classification, the log demultiplexer, host
 * port bookkeeping, the instance state machine and the message schemas.
 */
import assert from "node:assert/strict";
import { ContainerCreateParamsSchema, ImageReferenceSchema } from "../../../../mod/mod.ts";
import { splitReference } from "../../../../node_service/container/docker/engine.ts";
import {
  LogCollector,
  MAX_LOG_LINE_BYTES,
} from "../../../../node_service/container/docker/logs.ts";
import {
  containerCreateBody,
  containerDetailsFrom,
  engineErrorFrom,
  engineStatus,
  gpuDeviceRequests,
  JsonLineSplitter,
  pullEventFrom,
} from "../../../../node_service/container/docker/wire.ts";
import {
  parsePortRange,
  parseSsListening,
  pickFreePort,
  portKey,
} from "../../../../node_service/host/ports.ts";
import { nextInstanceState } from "../../../../node_service/instances.ts";

Deno.test("GPU device requests: none for no GPU, one nvidia request naming every device otherwise", () => {
  assert.equal(gpuDeviceRequests([]), undefined);
  assert.deepEqual(gpuDeviceRequests(["GPU-a"]), [
    { Driver: "nvidia", DeviceIDs: ["GPU-a"], Capabilities: [["gpu"]] },
  ]);
  assert.deepEqual(gpuDeviceRequests(["GPU-a", "GPU-b", "GPU-c"]), [
    { Driver: "nvidia", DeviceIDs: ["GPU-a", "GPU-b", "GPU-c"], Capabilities: [["gpu"]] },
  ]);
});

Deno.test("the create body carries command, env, limits, ports, volume and labels", () => {
  const body = containerCreateBody({
    name: "dbc-x",
    image: "busybox:1",
    command: ["sh", "-c", "echo hi"],
    env: { A: "1", B: "two words" },
    labels: { "dbc.instance": "ct-1" },
    gpuDeviceIds: [],
    nanoCpus: 1_500_000_000,
    memoryBytes: 1 << 30,
    ports: [
      { containerPort: 22, protocol: "tcp", hostPort: 20022 },
      { containerPort: 53, protocol: "udp", hostPort: 20053 },
    ],
    volume: { name: "dbc-ct-1-data", mountPath: "/data" },
  });
  assert.deepEqual(body, {
    Image: "busybox:1",
    Cmd: ["sh", "-c", "echo hi"],
    Env: ["A=1", "B=two words"],
    Labels: { "dbc.instance": "ct-1" },
    ExposedPorts: { "22/tcp": {}, "53/udp": {} },
    HostConfig: {
      PortBindings: {
        "22/tcp": [{ HostIp: "", HostPort: "20022" }],
        "53/udp": [{ HostIp: "", HostPort: "20053" }],
      },
      NanoCpus: 1_500_000_000,
      Memory: 1 << 30,
      Mounts: [{ Type: "volume", Source: "dbc-ct-1-data", Target: "/data", ReadOnly: false }],
    },
  });
  const bare = containerCreateBody({
    name: "dbc-y",
    image: "busybox",
    labels: {},
    gpuDeviceIds: [],
    ports: [],
  });
  assert.equal("Cmd" in bare, false, "no command: the image's own");
  assert.deepEqual(bare.HostConfig, { PortBindings: {} });
});

Deno.test("a recorded Podman inspect answer reads into details", async () => {
  const recorded = JSON.parse(
    await Deno.readTextFile(
      new URL("../../../fixtures/podman/inspect_running.json", import.meta.url),
    ),
  );
  const details = containerDetailsFrom(recorded);
  assert.equal(details.name, "dbc-probe");
  assert.equal(details.status, "running");
  assert.equal(details.image, "localhost/dbc-test-busybox:latest");
  assert.deepEqual(details.ports, [{ containerPort: 22, protocol: "tcp", hostPort: 23456 }]);
  assert.deepEqual(details.mounts, [{
    type: "volume",
    name: "dbc-probe-vol",
    destination: "/data",
  }]);
  assert.equal(details.nanoCpus, 500_000_000);
  assert.equal(details.memoryBytes, 67_108_864);
  assert.equal(details.finishedAt, null, "Docker's year-1 time means never");
  assert.ok(details.startedAt! > Date.UTC(2020, 0, 1));
  assert.throws(() => containerDetailsFrom({ Id: 1 }), /unexpected container inspect answer/);
});

Deno.test("engine errors: status first, and Podman's 500s told apart by their message", () => {
  // Messages recorded from Podman 4.3.1.
  const cases: Array<[number, string, string]> = [
    [404, 'no container with name or ID "x" found: no such container', "not_found"],
    [
      409,
      "image localhost/a:latest is in use: image used by 4462: image is in use by a container",
      "conflict",
    ],
    [
      500,
      'container create: creating container storage: the container name "dbc-probe" is already in use by 4462',
      "conflict",
    ],
    [
      500,
      "cannot remove container 4462 as it is running - running or paused containers cannot be removed without force: container state improper",
      "conflict",
    ],
    [500, "rootlessport listen tcp 0.0.0.0:8080: bind: address already in use", "conflict"],
    [400, "bad parameter", "invalid"],
    [500, "something broke", "failed"],
  ];
  for (const [status, message, kind] of cases) {
    const error = engineErrorFrom(status, { cause: "x", message, response: status }, "POST /x");
    assert.equal(error.kind, kind, message);
    assert.equal(error.message, `POST /x: ${message}`);
    assert.equal(error.status, status);
  }
  assert.equal(engineErrorFrom(502, null, "GET /y").message, "GET /y: HTTP 502");
});

Deno.test("engine status words: Podman's synonyms map to Docker's", () => {
  assert.equal(engineStatus("running"), "running");
  assert.equal(engineStatus("configured"), "created");
  assert.equal(engineStatus("stopped"), "exited");
  assert.equal(engineStatus("Exited"), "exited");
  assert.equal(engineStatus("weird"), "unknown");
});

function frame(stream: 1 | 2, text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  const bytes = new Uint8Array(8 + payload.byteLength);
  bytes[0] = stream;
  new DataView(bytes.buffer).setUint32(4, payload.byteLength);
  bytes.set(payload, 8);
  return bytes;
}

Deno.test("the log demultiplexer splits frames into lines, whatever the chunking", () => {
  const stream = new Uint8Array([
    ...frame(1, "one\ntw"),
    ...frame(2, "err\n"),
    ...frame(1, "o\nthree\n"),
    ...frame(1, "last"),
  ]);
  for (const chunkSize of [1, 3, 7, stream.byteLength]) {
    const collector = new LogCollector({ from: "tail", lines: 100 });
    for (let offset = 0; offset < stream.byteLength; offset += chunkSize) {
      collector.push(stream.subarray(offset, offset + chunkSize));
    }
    assert.deepEqual(collector.finish(), {
      lines: [
        { stream: "stdout", text: "one" },
        { stream: "stderr", text: "err" },
        { stream: "stdout", text: "two" },
        { stream: "stdout", text: "three" },
        { stream: "stdout", text: "last" },
      ],
      truncated: false,
    }, `chunks of ${chunkSize}`);
  }
});

Deno.test("the log collector keeps the head or the tail, and cuts overlong lines", () => {
  const many = new Uint8Array(
    Array.from({ length: 50 }, (_, index) => [...frame(1, `line-${index + 1}\n`)]).flat(),
  );
  const head = new LogCollector({ from: "head", lines: 3 });
  assert.equal(head.push(many), false, "the head is complete: reading can stop");
  assert.deepEqual(head.finish().lines.map((line) => line.text), ["line-1", "line-2", "line-3"]);
  const tail = new LogCollector({ from: "tail", lines: 2 });
  tail.push(many);
  assert.deepEqual(tail.finish().lines.map((line) => line.text), ["line-49", "line-50"]);

  const long = new LogCollector({ from: "tail", lines: 10 });
  long.push(frame(1, `${"x".repeat(MAX_LOG_LINE_BYTES + 10)}\nshort\n`));
  const result = long.finish();
  assert.equal(result.truncated, true);
  assert.equal(result.lines[0]!.text.length, MAX_LOG_LINE_BYTES);
  assert.equal(result.lines[1]!.text, "short");

  const tty = new LogCollector({ from: "tail", lines: 10 });
  tty.push(new TextEncoder().encode("plain tty output\nsecond line\n"));
  assert.deepEqual(tty.finish().lines.map((line) => line.text), [
    "plain tty output",
    "second line",
  ]);
});

Deno.test("pull progress: JSON lines in any chunking, errors surfaced", () => {
  const text = [
    '{"status":"Pulling from library/busybox","id":"latest"}',
    '{"status":"Downloading","progressDetail":{"current":100,"total":1000},"id":"abc"}',
    "not json",
    '{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}',
  ].join("\r\n");
  const splitter = new JsonLineSplitter();
  const bytes = new TextEncoder().encode(text);
  const values = [...splitter.push(bytes.subarray(0, 30)), ...splitter.push(bytes.subarray(30))];
  values.push(...splitter.end());
  const events = values.map(pullEventFrom);
  assert.deepEqual(events, [
    {
      kind: "progress",
      status: "Pulling from library/busybox",
      layer: "latest",
      currentBytes: null,
      totalBytes: null,
    },
    { kind: "progress", status: "Downloading", layer: "abc", currentBytes: 100, totalBytes: 1000 },
    { kind: "error", message: "manifest unknown" },
  ]);
});

Deno.test("image references split into name and tag for a pull", () => {
  assert.deepEqual(splitReference("busybox"), { fromImage: "busybox", tag: "latest" });
  assert.deepEqual(splitReference("localhost:5000/a/b:v1"), {
    fromImage: "localhost:5000/a/b",
    tag: "v1",
  });
  assert.deepEqual(splitReference("localhost:5000/a/b"), {
    fromImage: "localhost:5000/a/b",
    tag: "latest",
  });
  const digest = `sha256:${"a".repeat(64)}`;
  assert.deepEqual(splitReference(`a/b@${digest}`), { fromImage: "a/b", tag: digest });
});

Deno.test("host ports: ss output read, free ports picked round the range", () => {
  // Recorded from this machine (`ss -Htuln`), plus the address forms ss prints.
  const ss = [
    "tcp   LISTEN 0      128          0.0.0.0:2024       0.0.0.0:*",
    "tcp   LISTEN 0      4096       127.0.0.1%lo:5900    0.0.0.0:*",
    "tcp   LISTEN 0      128             [::]:22            [::]:*",
    "udp   UNCONN 0      0                  *:5353             *:*",
    "garbage",
  ].join("\n");
  assert.deepEqual(
    [...parseSsListening(ss)].sort(),
    ["tcp:2024", "tcp:22", "tcp:5900", "udp:5353"],
  );

  const range = parsePortRange("100-104")!;
  assert.deepEqual(range, { first: 100, last: 104 });
  assert.equal(parsePortRange("5-1"), undefined);
  assert.equal(parsePortRange("0-10"), undefined);
  const taken = new Set([portKey("tcp", 100), portKey("tcp", 101), portKey("udp", 102)]);
  assert.equal(pickFreePort(range, "tcp", taken), 102);
  assert.equal(pickFreePort(range, "udp", taken), 100);
  assert.equal(pickFreePort(range, "tcp", taken, 102), 103, "after the last pick");
  assert.equal(pickFreePort(range, "tcp", taken, 104), 102, "wraps round");
  const full = new Set([100, 101, 102, 103, 104].map((port) => portKey("tcp", port)));
  assert.equal(pickFreePort(range, "tcp", full), undefined);
});

Deno.test("instance states: the allowed moves, and why the others are refused", () => {
  const move = (state: Parameters<typeof nextInstanceState>[0], type: string) =>
    nextInstanceState(state, { type } as Parameters<typeof nextInstanceState>[1]);
  assert.deepEqual(move("creating", "created"), { ok: true, state: "running" });
  assert.deepEqual(move("creating", "create_failed"), { ok: true, state: "failed" });
  assert.deepEqual(move("running", "stop"), { ok: true, state: "stopped" });
  assert.deepEqual(move("stopped", "stop"), { ok: true, state: "stopped" });
  assert.deepEqual(move("stopped", "start"), { ok: true, state: "running" });
  assert.deepEqual(move("stopped", "restart"), { ok: true, state: "running" });
  assert.deepEqual(move("running", "expire"), { ok: true, state: "expired" });
  assert.deepEqual(move("expired", "renew"), { ok: true, state: "running" });
  assert.deepEqual(move("failed", "delete"), { ok: true, state: "deleted" });
  assert.deepEqual(move("expired", "start"), {
    ok: false,
    reason: "its lease has expired; renew it first",
  });
  assert.deepEqual(move("failed", "start"), {
    ok: false,
    reason: "its creation failed; delete it",
  });
  assert.deepEqual(move("creating", "delete"), { ok: false, reason: "it is still being created" });
  assert.deepEqual(move("deleted", "start"), { ok: false, reason: "it is deleted" });
  assert.deepEqual(move("running", "renew"), { ok: false, reason: "it is running, not expired" });
});

Deno.test("create parameters: defaults applied, and bounds enforced", () => {
  const parsed = ContainerCreateParamsSchema.parse({ actor: "a", image: "busybox" });
  assert.deepEqual(parsed.gpus, { count: 0 });
  assert.deepEqual(parsed.ports, []);
  const bad = [
    { image: "UPPER/case" },
    { image: "a b" },
    { gpus: { count: 17 } },
    { gpus: { uuids: ["not-a-gpu"] } },
    { memory_mib: 5 },
    { cpu_cores: 0 },
    { env: { "1BAD": "x" } },
    { volume: { mount_path: "relative" } },
    { volume: { mount_path: "/" } },
    { volume: { mount_path: "/a/../etc" } },
    { volume: { mount_path: "/a:b" } },
    { ports: [{ container_port: 70000 }] },
    { unknown_field: 1 },
  ];
  for (const override of bad) {
    assert.equal(
      ContainerCreateParamsSchema.safeParse({ actor: "a", image: "busybox", ...override }).success,
      false,
      JSON.stringify(override),
    );
  }
  for (
    const reference of ["busybox", "localhost/dbc-test-busybox:latest", "reg.io:5000/a/b-c_d:1.2"]
  ) {
    assert.equal(ImageReferenceSchema.safeParse(reference).success, true, reference);
  }
});
