/**
 * Each worker, started with the permission set main.ts gives it, is refused
 * what that set does not grant, even though this test process holds every
 * permission. The probes run in a real worker with the real set. Programs
 * probed must exist (Deno reports a missing program before checking
 * permission): qemu-img and sh are installed wherever the suite runs.
 */
import assert from "node:assert/strict";
import {
  generateNodeKeys,
  loadConfig,
  nodePaths,
  type WorkerName,
  type WorkerPermissions,
} from "../mod/mod.ts";
import { workerSpecs } from "../main.ts";
import type { Probe, ProbeOutcome } from "./fixtures/permission_probe.ts";
import { freePort, scratchDir } from "./helpers.ts";

async function probe(permissions: WorkerPermissions, probes: Probe[]): Promise<ProbeOutcome[]> {
  const worker = new Worker(new URL("./fixtures/permission_probe.ts", import.meta.url), {
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
      worker.postMessage(probes);
    });
  } finally {
    worker.terminate();
  }
}

async function setting(extraArgs: string[] = []) {
  const dir = await scratchDir("permissions");
  const httpPort = freePort();
  const { config } = loadConfig({
    args: ["--data-dir", `${dir}/data`, "--http-port", String(httpPort), ...extraArgs],
    env: {},
    cwd: dir,
  });
  const paths = nodePaths(config.data_dir);
  for (const sub of [paths.dataDir, paths.networkDir, paths.serviceDir]) {
    await Deno.mkdir(sub, { recursive: true });
  }
  await Deno.writeTextFile(paths.keyFile, "secret");
  const specs = workerSpecs({
    config,
    paths,
    keys: generateNodeKeys(),
    operatorToken: "test-operator-token",
    startedAt: 0,
    searchPath: Deno.env.get("PATH"),
  });
  const permissionsOf = (name: WorkerName) => specs.find((spec) => spec.name === name)!.permissions;
  return { dir, httpPort, paths, permissionsOf };
}

Deno.test("the HTTP worker may listen on its address and nothing else: no files, programs, env or other sockets", async () => {
  const { dir, httpPort, paths, permissionsOf } = await setting();
  try {
    const outcomes = await probe(permissionsOf("http"), [
      { op: "listen", host: "127.0.0.1", port: httpPort },
      { op: "read", path: paths.keyFile },
      { op: "read", path: "/etc/hostname" },
      { op: "write", path: `${paths.dataDir}/planted` },
      { op: "run", program: "qemu-img" },
      { op: "run", program: "sh" },
      { op: "env", name: "PATH" },
      { op: "listen", host: "127.0.0.1", port: httpPort + 1 },
      { op: "connect", host: "127.0.0.1", port: 22 },
      { op: "sys" },
    ]);
    assert.deepEqual(outcomes, [
      "allowed",
      "denied",
      "denied",
      "denied",
      "denied",
      "denied",
      "denied",
      "denied",
      "denied",
      "denied",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the network worker may use the network and its own directory, but cannot run a program or read the key", async () => {
  const { dir, paths, permissionsOf } = await setting();
  try {
    const outcomes = await probe(permissionsOf("network"), [
      { op: "write", path: `${paths.networkDir}/scratch` },
      { op: "listen", host: "127.0.0.1", port: 0 },
      { op: "run", program: "qemu-img" },
      { op: "run", program: "sh" },
      { op: "read", path: paths.keyFile },
      { op: "read", path: paths.serviceDb },
      { op: "write", path: `${paths.serviceDir}/planted` },
      { op: "env", name: "PATH" },
    ]);
    assert.deepEqual(outcomes, [
      "allowed",
      "allowed",
      "denied",
      "denied",
      "denied",
      "denied",
      "denied",
      "denied",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the node service may run its programs and use its directory, but no other program, file or socket", async () => {
  const { dir, paths, permissionsOf } = await setting();
  try {
    const outcomes = await probe(permissionsOf("node_service"), [
      { op: "run", program: "qemu-img" },
      { op: "write", path: `${paths.serviceDir}/scratch` },
      { op: "run", program: "sh" },
      { op: "run", program: "curl" },
      { op: "read", path: paths.keyFile },
      { op: "write", path: `${paths.networkDir}/planted` },
      { op: "connect", host: "127.0.0.1", port: 22 },
      { op: "listen", host: "127.0.0.1", port: 0 },
    ]);
    assert.deepEqual(outcomes, [
      "allowed",
      "allowed",
      "denied",
      "denied",
      "denied",
      "denied",
      "denied",
      "denied",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the node service may run stat and id and read qemu.conf for its host checks, and no other file there", async () => {
  const { dir, permissionsOf } = await setting();
  try {
    const outcomes = await probe(permissionsOf("node_service"), [
      { op: "run", program: "stat" },
      { op: "run", program: "id" },
      { op: "read", path: "/etc/libvirt/qemu.conf" },
      { op: "read", path: "/etc/libvirt/libvirtd.conf" },
      { op: "read", path: "/etc/passwd" },
    ]);
    assert.deepEqual(outcomes, ["allowed", "allowed", "allowed", "denied", "denied"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a GPU node's node service may run ip and bridge (renters' LANs); a seed's may not", async () => {
  for (const [role, outcome] of [["gpu", "allowed"], ["seed", "denied"]] as const) {
    const { dir, permissionsOf } = await setting(["--role", role]);
    try {
      const outcomes = await probe(permissionsOf("node_service"), [
        { op: "run", program: "ip" },
        { op: "run", program: "bridge" },
      ]);
      assert.deepEqual(outcomes, [outcome, outcome], role);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("a client-end's HTTP worker may also listen on compat_http_port (the original dialect); a GPU node's may not", async () => {
  const dir = await scratchDir("permissions-compat");
  try {
    const [httpPort, compatPort] = [freePort(), freePort()];
    const httpPermissions = (role: string) => {
      const { config } = loadConfig({
        args: [
          "--role",
          role,
          "--data-dir",
          `${dir}/${role}`,
          "--http-port",
          String(httpPort),
          "--compat-http-port",
          String(compatPort),
        ],
        env: {},
        cwd: dir,
      });
      return workerSpecs({
        config,
        paths: nodePaths(config.data_dir),
        keys: generateNodeKeys(),
        operatorToken: "test-operator-token",
        startedAt: 0,
        searchPath: Deno.env.get("PATH"),
      }).find((spec) => spec.name === "http")!.permissions;
    };
    const listens: Probe[] = [
      { op: "listen", host: "127.0.0.1", port: httpPort },
      { op: "listen", host: "127.0.0.1", port: compatPort },
      { op: "listen", host: "127.0.0.1", port: compatPort + 1 },
    ];
    assert.deepEqual(await probe(httpPermissions("client"), listens), [
      "allowed",
      "allowed",
      "denied",
    ]);
    assert.deepEqual(await probe(httpPermissions("gpu"), listens), ["allowed", "denied", "denied"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
