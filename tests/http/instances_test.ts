/**
 * The renter routes for VMs and containers, on the app with a stand-in node
 * service and real signatures from the polkadot-js keyring: the signer owns
 * what it creates, sees only its own, and another renter is told nothing.
 */
import assert from "node:assert/strict";
import { type AppDeps, createApp } from "../../http/mod.ts";
import { RpcError, silentLogger, type Vm } from "../../mod/mod.ts";
import { devWallets, walletHeaders } from "../wallets.ts";

/** A node service that keeps VMs in memory, answering with the shapes the real one does. */
function standInService() {
  const vms = new Map<string, Vm>();
  const calls: string[] = [];
  const call = ((method: string, params: Record<string, unknown>) => {
    calls.push(method);
    const id = params.id as string;
    switch (method) {
      case "vm.create": {
        const vm = {
          id,
          kind: "vm",
          owner: params.owner,
          state: "running",
          gpus: [],
          created_at: 1,
          updated_at: 1,
          last_error: null,
          domain: `dbc-${id}`,
          os: "linux",
          image: params.image,
          cpu_cores: params.cpu_cores,
          memory_mib: params.memory_mib,
          disk_gib: null,
          firmware: "bios",
          gpu_devices: [],
          network: { mode: "user", source: null },
          login: { protocol: "ssh", host: "127.0.0.1", port: 30001 },
          vnc: { listen: "127.0.0.1", port: null, password: "secret12" },
        } as unknown as Vm;
        vms.set(id, vm);
        return Promise.resolve(vm);
      }
      case "vm.list":
        return Promise.resolve({ vms: [...vms.values()] });
      case "vm.get": {
        const vm = vms.get(id);
        return vm
          ? Promise.resolve({ ...vm, hypervisor: { state: "missing" } })
          : Promise.reject(new RpcError("not_found", `no VM ${id}`));
      }
      case "vm.stop":
      case "vm.start":
      case "vm.delete": {
        const vm = vms.get(id)!;
        vm.state = method === "vm.stop" ? "stopped" : method === "vm.start" ? "running" : "deleted";
        return Promise.resolve(vm);
      }
      default:
        return Promise.reject(new RpcError("unavailable", `${method} is not wired in this test`));
    }
  }) as unknown as AppDeps["call"];
  return { call, calls, vms };
}

async function request(
  app: ReturnType<typeof createApp>,
  method: string,
  path: string,
  signer: Parameters<typeof walletHeaders>[0] | undefined,
  body?: unknown,
) {
  const text = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (signer) {
    Object.assign(headers, walletHeaders(signer, { method, path, body, timestamp: Date.now() }));
  }
  const response = await app.request(path, { method, headers, body: text });
  return { status: response.status, body: await response.json() };
}

async function waitForOperation(app: ReturnType<typeof createApp>, id: string) {
  for (let attempt = 0; attempt < 100; attempt++) {
    const { body } = await request(app, "GET", `/api/v1/operations/${id}`, undefined);
    if (body.data.state !== "running") return body.data;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error("operation did not finish");
}

Deno.test("a renter creates a VM (202 + operation), sees and stops it; another renter sees nothing", async () => {
  const { alice, bob } = await devWallets();
  const service = standInService();
  const app = createApp({ call: service.call, log: silentLogger });

  const created = await request(app, "POST", "/api/v1/tasks/start", alice, {
    image_name: "debian-12",
    cpu_cores: 2,
    mem_size: 0.5,
  });
  assert.equal(created.status, 202, JSON.stringify(created.body));
  const { task_id, operation_id } = created.body.data;
  assert.match(task_id, /^vm-/);
  const operation = await waitForOperation(app, operation_id);
  assert.equal(operation.state, "done");
  assert.equal(service.vms.get(task_id)?.owner, alice.address);
  assert.equal(service.vms.get(task_id)?.memory_mib, 512);

  const mine = await request(app, "GET", "/api/v1/tasks", alice);
  assert.equal(mine.status, 200, JSON.stringify(mine.body));
  assert.deepEqual(mine.body.data.tasks.map((vm: Vm) => vm.id), [task_id]);
  const detail = await request(app, "GET", `/api/v1/tasks/${task_id}`, alice);
  assert.equal(detail.status, 200);
  assert.equal(detail.body.data.login.port, 30001);

  const theirs = await request(app, "GET", "/api/v1/tasks", bob);
  assert.deepEqual(theirs.body.data.tasks, []);
  const peek = await request(app, "GET", `/api/v1/tasks/${task_id}`, bob);
  assert.equal(peek.status, 404);
  assert.doesNotMatch(JSON.stringify(peek.body), /30001|secret12/);
  const touch = await request(app, "POST", `/api/v1/tasks/${task_id}/stop`, bob, {});
  assert.equal(touch.status, 404);
  assert.equal(service.vms.get(task_id)?.state, "running");

  const stopped = await request(app, "POST", `/api/v1/tasks/${task_id}/stop`, alice, {});
  assert.equal(stopped.status, 200);
  assert.equal(stopped.body.data.state, "stopped");
});

Deno.test("unsigned, replayed, tampered and malformed renter requests get clear 4xx errors", async () => {
  const { alice } = await devWallets();
  const app = createApp({ call: standInService().call, log: silentLogger });

  const unsigned = await request(app, "GET", "/api/v1/tasks", undefined);
  assert.equal(unsigned.status, 401);
  assert.equal(unsigned.body.error_code, -32001);

  const body = { image_name: "debian-12", cpu_cores: 2, mem_size: 1 };
  const headers = {
    "content-type": "application/json",
    ...walletHeaders(alice, {
      method: "POST",
      path: "/api/v1/tasks/start",
      body,
      timestamp: Date.now(),
    }),
  };
  const first = await app.request("/api/v1/tasks/start", {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  assert.equal(first.status, 202);
  const replay = await app.request("/api/v1/tasks/start", {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  assert.equal(replay.status, 401);
  assert.match((await replay.json()).error_message, /replayed/);

  const tamperedHeaders = {
    "content-type": "application/json",
    ...walletHeaders(alice, {
      method: "POST",
      path: "/api/v1/tasks/start",
      body,
      timestamp: Date.now(),
    }),
  };
  const tampered = await app.request("/api/v1/tasks/start", {
    method: "POST",
    headers: tamperedHeaders,
    body: JSON.stringify({ ...body, cpu_cores: 64 }),
  });
  assert.equal(tampered.status, 401);

  const malformed = await request(app, "POST", "/api/v1/tasks/start", alice, {
    image_name: "debian-12",
    cpu_cores: "two",
    mem_size: 1,
  });
  assert.equal(malformed.status, 400);
  assert.match(malformed.body.error_message, /cpu_cores/);

  const notJson = await app.request("/api/v1/tasks/start", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{",
  });
  assert.equal(notJson.status, 400);
});
