/**
 * The native routes of the VM operations beside the lifecycle
 * (http/routes/vm_ops.ts) and the create and restart fields they came with,
 * on the app with a stand-in node service and real keyring signatures:
 * each becomes its typed call with the signer as actor; another renter's
 * VM is a 404; bad bodies are 400 before anything is called.
 */
import assert from "node:assert/strict";
import { type AppDeps, createApp } from "../../http/mod.ts";
import { RpcError, silentLogger, type Vm } from "../../mod/mod.ts";
import { devWallets } from "../wallets.ts";
import { appRequest } from "./app_request.ts";

const VM_ID = "vm-ops-1";

/** A node service with one VM of `owner`, recording each call. */
function standIn(owner: string) {
  const calls: { method: string; params: Record<string, unknown> }[] = [];
  const vm = {
    id: VM_ID,
    kind: "vm",
    owner,
    state: "stopped",
    gpus: [],
    created_at: 1,
    updated_at: 1,
    last_error: null,
    domain: `dbc-${VM_ID}`,
    os: "linux",
    image: "debian-12",
    cpu_cores: 1,
    memory_mib: 512,
    disk_gib: 10,
    firmware: "bios",
    gpu_devices: [],
    network: { mode: "user", source: null },
    login: null,
    vnc: { listen: "127.0.0.1", port: null, password: "secret12" },
  } as unknown as Vm;
  const disks = {
    vm_id: VM_ID,
    disks: [{
      name: "vda",
      file: "/vms/disk.qcow2",
      size_gib: 10,
      size_bytes: 10 * 2 ** 30,
      kind: "system",
    }],
  };
  const call = ((method: string, params: Record<string, unknown>) => {
    calls.push({ method, params });
    switch (method) {
      case "vm.get":
        return Promise.resolve({ ...vm, credentials: null, hypervisor: { state: "missing" } });
      case "vm.create":
        return Promise.resolve({ ...vm, id: params.id });
      case "vm.stop":
      case "vm.restart":
      case "vm.reset":
      case "vm.passwd":
        return Promise.resolve(vm);
      case "vm.disk_list":
      case "vm.disk_add":
      case "vm.disk_resize":
      case "vm.disk_delete":
        return Promise.resolve(disks);
      case "vm.recorded":
        return Promise.resolve({ recorded: true });
      default:
        return Promise.reject(new RpcError("unavailable", `${method} is not wired in this test`));
    }
  }) as unknown as AppDeps["call"];
  return { call, calls, last: (method: string) => calls.filter((c) => c.method === method).at(-1) };
}

Deno.test("shutdown, poweroff, restart with force_reboot, passwd and disks become their typed calls", async () => {
  const { alice, bob } = await devWallets();
  const service = standIn(alice.address);
  const app = createApp({ call: service.call, log: silentLogger });
  const post = (path: string, body: unknown, signer = alice) =>
    appRequest(app, "POST", path, { signer }, body);
  const base = `/api/v1/tasks/${VM_ID}`;

  const cases: Array<[string, unknown, string, Record<string, unknown>]> = [
    [`${base}/shutdown`, {}, "vm.stop", { force: false, acpi_only: true }],
    [`${base}/poweroff`, {}, "vm.stop", { force: true, acpi_only: false }],
    [`${base}/restart`, {}, "vm.restart", {}],
    [`${base}/restart`, { force_reboot: true }, "vm.reset", {}],
    [`${base}/passwd`, { password: "new-secret-1" }, "vm.passwd", { password: "new-secret-1" }],
    [`${base}/passwd`, { username: "ubuntu", password: "new-secret-1" }, "vm.passwd", {
      user: "ubuntu",
    }],
    [`${base}/disks/add`, { size: 20 }, "vm.disk_add", { size_gib: 20 }],
    [`${base}/disks/vdc/resize`, { size: 30 }, "vm.disk_resize", { disk: "vdc", size_gib: 30 }],
    [`${base}/disks/vdc/delete`, {}, "vm.disk_delete", { disk: "vdc" }],
  ];
  for (const [path, body, method, fields] of cases) {
    const answer = await post(path, body);
    assert.equal(answer.status, 200, `${path}: ${JSON.stringify(answer.body)}`);
    const params = service.last(method)?.params;
    assert.ok(params, `${path} called ${method}`);
    assert.deepEqual({ ...params, ...fields }, params, path);
    assert.equal(params.actor, alice.address);
    assert.equal(params.id, VM_ID);
  }
  const listed = await appRequest(app, "GET", `${base}/disks`, { signer: alice });
  assert.equal(listed.status, 200);
  assert.equal(listed.body.data.disks[0].name, "vda");

  const before = service.calls.length;
  const bad: Array<[string, unknown]> = [
    [`${base}/passwd`, { password: "short" }],
    [`${base}/passwd`, { username: "Root;", password: "new-secret-1" }],
    [`${base}/disks/add`, { size: 0 }],
    [`${base}/disks/add`, { size: 1.5 }],
    [`${base}/disks/../resize`, { size: 2 }],
    [`${base}/disks/sdz1/resize`, { size: 2 }],
  ];
  for (const [path, body] of bad) {
    const answer = await post(path, body);
    assert.ok(answer.status === 400 || answer.status === 404, `${path}: ${answer.status}`);
  }
  assert.equal(service.calls.length, before, "nothing reached the node service");

  // Another renter's VM does not exist for it.
  const theirs = await post(`${base}/poweroff`, {}, bob);
  assert.equal(theirs.status, 404);
  assert.equal(service.calls.filter((c) => c.method === "vm.stop").length, 2);
});

Deno.test("create takes desc, custom_ports, firmware and rdp_port", async () => {
  const { alice } = await devWallets();
  const service = standIn(alice.address);
  const app = createApp({ call: service.call, log: silentLogger });
  const created = await appRequest(app, "POST", "/api/v1/tasks/start", { signer: alice }, {
    image_name: "win-11",
    os: "windows",
    firmware: "uefi",
    cpu_cores: 4,
    mem_size: 8,
    rdp_port: 3390,
    desc: "render box",
    custom_ports: [{ protocol: "udp", host_port: 6000, guest_port: 7000 }],
  });
  assert.equal(created.status, 202, JSON.stringify(created.body));
  const params = service.last("vm.create")!.params;
  assert.equal(params.os, "windows");
  assert.equal(params.firmware, "uefi");
  assert.equal(params.login_port, 3390);
  assert.equal(params.desc, "render box");
  assert.deepEqual(params.custom_ports, [{ protocol: "udp", host_port: 6000, guest_port: 7000 }]);
  const refused = await appRequest(app, "POST", "/api/v1/tasks/start", { signer: alice }, {
    image_name: "win-11",
    cpu_cores: 4,
    mem_size: 8,
    custom_ports: [{ protocol: "sctp", host_port: 6000, guest_port: 7000 }],
  });
  assert.equal(refused.status, 400);
});
