/**
 * The renter routes for VMs and containers, on the app with a stand-in node
 * service and real signatures from the polkadot-js keyring: the signer owns
 * what it creates, sees only its own, and another renter is told nothing.
 */
import assert from "node:assert/strict";
import { type AppDeps, createApp } from "../../http/mod.ts";
import { RpcError, silentLogger, type Vm, type VmSnapshot } from "../../mod/mod.ts";
import { ECDSA_KEY, ED25519_KEY } from "../fixtures/ssh_keys.ts";
import { devWallets, walletHeaders } from "../wallets.ts";
import { appRequest } from "./app_request.ts";

/** A node service that keeps VMs in memory, answering with the shapes the real one does. */
function standInService() {
  const vms = new Map<string, Vm>();
  const snapshots = new Map<string, VmSnapshot>();
  const calls: string[] = [];
  const params: Record<string, Record<string, unknown>> = {};
  const stopped = (id: string) =>
    vms.get(id)?.state === "stopped"
      ? Promise.resolve()
      : Promise.reject(new RpcError("conflict", `cannot change VM ${id}: it is running`));
  const snapshot = (id: string, name: string) =>
    snapshots.get(`${id}/${name}`) ??
      (() => {
        throw new RpcError("not_found", `no snapshot ${name} of VM ${id}`);
      })();
  const call = ((method: string, args: Record<string, unknown>) => {
    calls.push(method);
    params[method] = args;
    const id = args.id as string;
    const name = args.name as string;
    switch (method) {
      case "vm.create": {
        const vm = {
          id,
          kind: "vm",
          owner: args.owner,
          state: "running",
          gpus: [],
          created_at: 1,
          updated_at: 1,
          last_error: null,
          domain: `dbc-${id}`,
          os: "linux",
          image: args.image,
          cpu_cores: args.cpu_cores,
          memory_mib: args.memory_mib,
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
        const created = params["vm.create"] ?? {};
        // The node service's detail: the login details beside the VM, which lists never carry.
        const credentials = {
          user: "dbc",
          password: created.password ?? "generated-password-1",
          password_ssh: true,
          ssh_keys: created.ssh_keys ?? [],
        };
        return vm
          ? Promise.resolve({ ...vm, credentials, hypervisor: { state: "missing" } })
          : Promise.reject(new RpcError("not_found", `no VM ${id}`));
      }
      case "vm.stop":
      case "vm.start":
      case "vm.delete": {
        const vm = vms.get(id)!;
        vm.state = method === "vm.stop" ? "stopped" : method === "vm.start" ? "running" : "deleted";
        return Promise.resolve(vm);
      }
      case "vm.modify":
        return stopped(id).then(() => {
          const vm = vms.get(id)!;
          vm.cpu_cores = (args.cpu_cores as number | undefined) ?? vm.cpu_cores;
          vm.memory_mib = (args.memory_mib as number | undefined) ?? vm.memory_mib;
          return vm;
        });
      case "vm.snapshot_create":
        return stopped(id).then(() => {
          const taken: VmSnapshot = {
            vm_id: id,
            name,
            description: args.description as string,
            disk_bytes: 2 ** 30,
            created_at: 2,
            created_by: args.actor as string,
          };
          snapshots.set(`${id}/${name}`, taken);
          return taken;
        });
      case "vm.snapshot_list":
        return Promise.resolve({
          snapshots: [...snapshots.values()].filter((taken) => taken.vm_id === id),
        });
      case "vm.snapshot_get":
        return Promise.resolve().then(() => snapshot(id, name));
      case "vm.snapshot_revert":
        return stopped(id).then(() => (snapshot(id, name), vms.get(id)!));
      case "vm.snapshot_delete":
        return stopped(id).then(() => {
          snapshot(id, name);
          snapshots.delete(`${id}/${name}`);
          return { vm_id: id, name, deleted: true };
        });
      default:
        return Promise.reject(new RpcError("unavailable", `${method} is not wired in this test`));
    }
  }) as unknown as AppDeps["call"];
  return { call, calls, params, vms, snapshots };
}

function request(
  app: ReturnType<typeof createApp>,
  method: string,
  path: string,
  signer: Parameters<typeof walletHeaders>[0] | undefined,
  body?: unknown,
) {
  return appRequest(app, method, path, { signer }, body);
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

  const password = `Al1ce's "own" #pass`;
  const created = await request(app, "POST", "/api/v1/tasks/start", alice, {
    image_name: "debian-12",
    cpu_cores: 2,
    mem_size: 0.5,
    ssh_key: ED25519_KEY,
    password,
  });
  assert.equal(created.status, 202, JSON.stringify(created.body));
  const { task_id, operation_id } = created.body.data;
  assert.match(task_id, /^vm-/);
  const operation = await waitForOperation(app, operation_id);
  assert.equal(operation.state, "done");
  assert.doesNotMatch(JSON.stringify(operation), /Al1ce/, "an operation never shows login details");
  assert.equal(service.vms.get(task_id)?.owner, alice.address);
  assert.equal(service.vms.get(task_id)?.memory_mib, 512);
  // One key or a list; either way the node service gets a list.
  assert.deepEqual(service.params["vm.create"]?.ssh_keys, [ED25519_KEY]);
  assert.equal(service.params["vm.create"]?.password, password);

  const mine = await request(app, "GET", "/api/v1/tasks", alice);
  assert.equal(mine.status, 200, JSON.stringify(mine.body));
  assert.deepEqual(mine.body.data.tasks.map((vm: Vm) => vm.id), [task_id]);
  assert.doesNotMatch(JSON.stringify(mine.body), /credentials|Al1ce/, "lists carry no password");
  const detail = await request(app, "GET", `/api/v1/tasks/${task_id}`, alice);
  assert.equal(detail.status, 200);
  assert.equal(detail.body.data.login.port, 30001);
  assert.deepEqual(detail.body.data.credentials, {
    user: "dbc",
    password,
    password_ssh: true,
    ssh_keys: [ED25519_KEY],
  });

  const theirs = await request(app, "GET", "/api/v1/tasks", bob);
  assert.deepEqual(theirs.body.data.tasks, []);
  const peek = await request(app, "GET", `/api/v1/tasks/${task_id}`, bob);
  assert.equal(peek.status, 404);
  assert.doesNotMatch(JSON.stringify(peek.body), /30001|secret12|Al1ce/);
  assert.doesNotMatch(JSON.stringify(theirs.body), /Al1ce/);
  const touch = await request(app, "POST", `/api/v1/tasks/${task_id}/stop`, bob, {});
  assert.equal(touch.status, 404);
  assert.equal(service.vms.get(task_id)?.state, "running");

  const stopped = await request(app, "POST", `/api/v1/tasks/${task_id}/stop`, alice, {});
  assert.equal(stopped.status, 200);
  assert.equal(stopped.body.data.state, "stopped");
  // Asked politely unless told otherwise; `force` powers off at once; nothing else is a boolean.
  assert.equal(service.params["vm.stop"]?.force, false);
  const forced = await request(app, "POST", `/api/v1/tasks/${task_id}/stop`, alice, {
    force: true,
  });
  assert.equal(forced.status, 200, JSON.stringify(forced.body));
  assert.equal(service.params["vm.stop"]?.force, true);
  const garbled = await request(app, "POST", `/api/v1/tasks/${task_id}/stop`, alice, {
    force: "yes",
  });
  assert.equal(garbled.status, 400);
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

  // Login details that could smuggle lines into the guest's cloud-init config never get that far.
  const createVm = (fields: Record<string, unknown>) =>
    request(app, "POST", "/api/v1/tasks/start", alice, {
      image_name: "debian-12",
      cpu_cores: 1,
      mem_size: 1,
      ...fields,
    });
  for (
    const fields of [
      { ssh_key: `${ED25519_KEY}\nssh_pwauth: true` },
      { ssh_key: [ECDSA_KEY, "ssh-ed25519 AAAAC3Nza alice@laptop"] },
      { ssh_key: Array(9).fill(ED25519_KEY) },
      { password: "short" },
      { password: "long enough\nruncmd: [reboot]" },
    ]
  ) {
    const refused = await createVm(fields);
    assert.equal(refused.status, 400, JSON.stringify(fields));
    assert.match(refused.body.error_message, /ssh_key|password/);
  }
  assert.equal((await createVm({ ssh_key: [ED25519_KEY, ECDSA_KEY] })).status, 202);

  const notJson = await app.request("/api/v1/tasks/start", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{",
  });
  assert.equal(notJson.status, 400);
});

/** Alice's VM, created through the route and finished. */
async function aliceVm(app: ReturnType<typeof createApp>, alice: Wallet): Promise<string> {
  const created = await request(app, "POST", "/api/v1/tasks/start", alice, {
    image_name: "debian-12",
    cpu_cores: 2,
    mem_size: 1,
  });
  assert.equal(created.status, 202, JSON.stringify(created.body));
  assert.equal((await waitForOperation(app, created.body.data.operation_id)).state, "done");
  return created.body.data.task_id;
}

type Wallet = Parameters<typeof walletHeaders>[0];

Deno.test("snapshots: the owner takes, lists, reads, restores and deletes them; bad names are 400; another renter gets 404", async () => {
  const { alice, bob } = await devWallets();
  const service = standInService();
  const app = createApp({ call: service.call, log: silentLogger });
  const id = await aliceVm(app, alice);
  const base = `/api/v1/snapshot/${id}`;

  for (
    const [body, field] of [
      [{ name: "1st" }, /body field name/],
      [{ name: "a b" }, /body field name/],
      [{}, /body field name/],
      [{ name: "clean", description: "two\nlines" }, /body field description/],
      [{ name: "clean", description: "x".repeat(257) }, /body field description/],
    ] as const
  ) {
    const bad = await request(app, "POST", `${base}/create`, alice, body);
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.match(bad.body.error_message, field);
  }
  const badPath = await request(app, "GET", `${base}/no%20such`, alice);
  assert.equal(badPath.status, 400);
  assert.match(badPath.body.error_message, /path parameter name/);
  assert.ok(!service.calls.includes("vm.snapshot_create"), "nothing invalid reached the node");

  const running = await request(app, "POST", `${base}/create`, alice, { name: "clean" });
  assert.equal(running.status, 409, JSON.stringify(running.body));
  assert.match(running.body.error_message, /running/);
  assert.equal((await request(app, "POST", `/api/v1/tasks/${id}/stop`, alice, {})).status, 200);

  const created = await request(app, "POST", `${base}/create`, alice, {
    name: "clean",
    description: "fresh install",
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  assert.equal(created.body.data.name, "clean");
  assert.deepEqual(service.params["vm.snapshot_create"], {
    actor: alice.address,
    id,
    name: "clean",
    description: "fresh install",
  });

  const listed = await request(app, "GET", base, alice);
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.body.data.snapshots.map((taken: VmSnapshot) => taken.name), ["clean"]);
  const read = await request(app, "GET", `${base}/clean`, alice);
  assert.equal(read.status, 200);
  assert.equal(read.body.data.description, "fresh install");
  assert.equal((await request(app, "GET", `${base}/other`, alice)).status, 404);

  // Bob learns nothing and changes nothing; the node is not even asked about snapshots.
  const before = service.calls.length;
  for (
    const [method, path] of [
      ["GET", base],
      ["GET", `${base}/clean`],
      ["POST", `${base}/create`],
      ["POST", `${base}/clean/restore`],
      ["POST", `${base}/clean/delete`],
    ] as const
  ) {
    const peek = await request(
      app,
      method,
      path,
      bob,
      method === "POST" ? { name: "x" } : undefined,
    );
    assert.equal(peek.status, 404, `${method} ${path}: ${JSON.stringify(peek.body)}`);
    assert.doesNotMatch(JSON.stringify(peek.body), /fresh install/);
  }
  assert.deepEqual(new Set(service.calls.slice(before)), new Set(["vm.get"]));

  const restored = await request(app, "POST", `${base}/clean/restore`, alice, {});
  assert.equal(restored.status, 200, JSON.stringify(restored.body));
  assert.equal(restored.body.data.id, id);
  const deleted = await request(app, "POST", `${base}/clean/delete`, alice, {});
  assert.equal(deleted.status, 200);
  assert.deepEqual(deleted.body.data, { vm_id: id, name: "clean", deleted: true });
  assert.equal((await request(app, "POST", `${base}/clean/delete`, alice, {})).status, 404);
  assert.deepEqual((await request(app, "GET", base, alice)).body.data.snapshots, []);
});

Deno.test("modify: GiB become MiB, an empty or out-of-range body is 400, a running VM 409, another renter 404", async () => {
  const { alice, bob } = await devWallets();
  const service = standInService();
  const app = createApp({ call: service.call, log: silentLogger });
  const id = await aliceVm(app, alice);
  const path = `/api/v1/tasks/${id}/modify`;

  for (
    const [body, message] of [
      [{}, /at least one of cpu_cores, mem_size, disk_size, ssh_port/],
      [{ cpu_cores: 0 }, /body field cpu_cores/],
      [{ mem_size: 0.1 }, /body field mem_size/],
      [{ disk_size: 1.5 }, /body field disk_size/],
      [{ ssh_port: 70_000 }, /body field ssh_port/],
    ] as const
  ) {
    const bad = await request(app, "POST", path, alice, body);
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.match(bad.body.error_message, message);
  }
  assert.ok(!service.calls.includes("vm.modify"));

  const theirs = await request(app, "POST", path, bob, { cpu_cores: 8 });
  assert.equal(theirs.status, 404);
  assert.ok(!service.calls.includes("vm.modify"));

  const running = await request(app, "POST", path, alice, { cpu_cores: 4 });
  assert.equal(running.status, 409);
  assert.match(running.body.error_message, /running/);

  await request(app, "POST", `/api/v1/tasks/${id}/stop`, alice, {});
  const modified = await request(app, "POST", path, alice, {
    cpu_cores: 4,
    mem_size: 2.5,
    disk_size: 40,
    ssh_port: 30022,
  });
  assert.equal(modified.status, 200, JSON.stringify(modified.body));
  assert.equal(modified.body.data.cpu_cores, 4);
  assert.deepEqual(service.params["vm.modify"], {
    actor: alice.address,
    id,
    cpu_cores: 4,
    memory_mib: 2560,
    disk_gib: 40,
    login_port: 30022,
  });
  // The ports beside the login port: VNC and the custom forwards, as at create.
  const ports = await request(app, "POST", path, alice, {
    rdp_port: 30023,
    vnc_port: 5911,
    custom_ports: [{ protocol: "udp", host_port: 30053, guest_port: 53 }],
  });
  assert.equal(ports.status, 200, JSON.stringify(ports.body));
  // Through JSON, as the call carries them: what the body left out is absent.
  assert.deepEqual(JSON.parse(JSON.stringify(service.params["vm.modify"])), {
    actor: alice.address,
    id,
    login_port: 30023,
    vnc_port: 5911,
    custom_ports: [{ protocol: "udp", host_port: 30053, guest_port: 53 }],
  });
  const both = await request(app, "POST", path, alice, { ssh_port: 30022, rdp_port: 30023 });
  assert.equal(both.status, 400);
  assert.match(both.body.error_message, /name one/);
});

Deno.test("snapshot paths name their GPU node like the other VM paths (a client-end forwards them)", async () => {
  const { alice } = await devWallets();
  const app = createApp({
    call: standInService().call,
    log: silentLogger,
    node: { nodeId: "local-node", role: "client", forwardTimeoutMs: 1_000 },
  });
  const unnamed = await request(app, "GET", "/api/v1/snapshot/vm-abc", alice);
  assert.equal(unnamed.status, 400);
  assert.match(unnamed.body.error_message, /name the GPU node/);
  const here = await request(app, "GET", "/api/v1/snapshot/vm-abc?node_id=local-node", alice);
  assert.equal(here.status, 404, JSON.stringify(here.body));
});
