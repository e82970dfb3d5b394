/** The hono app on its own, with a stand-in for the rest of the node behind `call`. */
import assert from "node:assert/strict";
import { type AppDeps, createApp, MAX_BODY_BYTES } from "../../http/mod.ts";
import {
  type GpuReport,
  type HostCheckReport,
  type Method,
  type NodeStatus,
  RpcError,
  silentLogger,
} from "../../mod/mod.ts";

const status: NodeStatus = {
  node_id: "12D3KooWExample",
  role: "gpu",
  version: "0.1.0",
  network_id: "dbc-mainnet",
  started_at: 1_000,
  uptime_s: 5,
  workers: {
    network: { state: "running", since: 1_000, restarts: 0 },
    node_service: { state: "running", since: 1_000, restarts: 0 },
    http: { state: "restarting", since: 2_000, restarts: 2, last_error: "boom", retry_at: 3_000 },
  },
};

function appWith(answers: Partial<Record<Method, () => unknown>>) {
  const call = ((method: Method) => {
    const answer = answers[method];
    if (!answer) {
      return Promise.reject(new RpcError("unavailable", `${method} is not wired in this test`));
    }
    try {
      return Promise.resolve(answer());
    } catch (error) {
      return Promise.reject(error);
    }
  }) as AppDeps["call"];
  return createApp({ call, log: silentLogger });
}

Deno.test("GET /api/v1/node answers in the original envelope with workers and GPUs", async () => {
  const gpus: GpuReport = {
    state: "present",
    queried_at: 1,
    gpus: [{
      index: 0,
      uuid: "GPU-1",
      name: "NVIDIA H100 80GB HBM3",
      pci_bus_id: "00000000:18:00.0",
      memory_total_mib: 81559,
      memory_used_mib: 1,
      utilization_percent: 0,
      temperature_c: 29,
      driver_version: "550.90.07",
    }],
  };
  const app = appWith({ "node.status": () => status, "gpu.inventory": () => gpus });
  const response = await app.request("/api/v1/node");
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /application\/json/);
  const body = await response.json();
  assert.equal(body.error_code, 0);
  assert.equal(body.data.node_id, status.node_id);
  assert.equal(body.data.workers.http.state, "restarting");
  assert.equal(body.data.gpus[0].pci_bus_id, "00000000:18:00.0");
  assert.deepEqual(body.data.gpu_status, { state: "present", count: 1 });
});

Deno.test("no GPU is said plainly: an empty list and the reason", async () => {
  const app = appWith({
    "node.status": () => status,
    "gpu.inventory": () => ({
      state: "none",
      gpus: [],
      reason: "nvidia-smi is not installed",
      queried_at: 1,
    }),
  });
  const body = await (await app.request("/api/v1/node")).json();
  assert.deepEqual(body.data.gpus, []);
  assert.deepEqual(body.data.gpu_status, {
    state: "none",
    count: 0,
    reason: "nvidia-smi is not installed",
  });
});

Deno.test("node info still answers when the node service is down, saying why GPUs are unknown", async () => {
  const app = appWith({ "node.status": () => status });
  const response = await app.request("/api/v1/node");
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.equal(body.data.gpu_status.state, "error");
  assert.match(body.data.gpu_status.reason, /GPU inventory unavailable/);
});

Deno.test("node info carries the host checks, or why they are unavailable", async () => {
  const report: HostCheckReport = {
    state: "checked",
    checked_at: 1,
    problems: 1,
    checks: [{
      check: "kvm",
      device: "/dev/kvm",
      state: "problem",
      detail: "KVM is not usable by libvirt-qemu: /dev/kvm is root:root 0600",
      fix: "chgrp kvm /dev/kvm && chmod 0660 /dev/kvm (what udev does)",
    }],
  };
  const app = appWith({ "node.status": () => status, "host.checks": () => report });
  const body = await (await app.request("/api/v1/node")).json();
  assert.deepEqual(body.data.host, report);
  const down = await (await appWith({ "node.status": () => status }).request("/api/v1/node"))
    .json();
  assert.equal(down.data.host.state, "unavailable");
  assert.match(down.data.host.reason, /node service unavailable/);
});

Deno.test("failures between workers map to fitting HTTP statuses and non-zero error codes", async () => {
  const cases: Array<[RpcError, number, number]> = [
    [new RpcError("timeout", "no answer"), 504, -32700],
    [new RpcError("unavailable", "main is restarting"), 503, -32602],
    [new RpcError("not_found", "no such VM"), 404, -32004],
    [new RpcError("conflict", "GPU busy"), 409, -32009],
    [new RpcError("forbidden", "not your VM"), 403, -32003],
    [new RpcError("invalid_params", "bad"), 400, -25],
    [new RpcError("internal", "bug"), 500, -32603],
  ];
  for (const [error, httpStatus, code] of cases) {
    const app = appWith({
      "node.status": () => {
        throw error;
      },
    });
    const response = await app.request("/api/v1/node");
    assert.equal(response.status, httpStatus, error.code);
    assert.deepEqual(await response.json(), { error_code: code, error_message: error.message });
  }
});

Deno.test("unknown endpoints get 404 with method-not-found, oversize bodies 413, in the same envelope", async () => {
  const app = appWith({});
  const missing = await app.request("/api/v1/nothing-here");
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), {
    error_code: -32601,
    error_message: "no endpoint GET /api/v1/nothing-here",
  });

  const oversize = await app.request("/api/v1/node", {
    method: "POST",
    body: "x".repeat(MAX_BODY_BYTES + 1),
    headers: { "content-length": String(MAX_BODY_BYTES + 1) },
  });
  assert.equal(oversize.status, 413);
  assert.equal((await oversize.json()).error_code, -32013);
});

Deno.test("an unexpected exception becomes a 500 without leaking its message", async () => {
  const app = appWith({
    "node.status": () => {
      throw new TypeError("secret internals");
    },
  });
  const response = await app.request("/api/v1/node");
  assert.equal(response.status, 500);
  assert.deepEqual(await response.json(), { error_code: -32603, error_message: "internal error" });
});
