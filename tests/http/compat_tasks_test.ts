/**
 * The original dialect's task endpoints on a GPU node, in process: each
 * request as an original client sends it (POST, action first, `additional`
 * with strings, sr25519 over the bare nonce), the native call it becomes,
 * and the original's answer (`task_id`, `ssh_port` as text, `mem_size` like
 * "32G", local-time strings, a bare array, "ok"), refusals at HTTP 200 with
 * errcode 1 (task manager) or -3 (authority).
 */
import assert from "node:assert/strict";
import { devWallets } from "../wallets.ts";
import { gpuNode, type GpuNodeFixture, send, walletFields } from "./compat_fixture.ts";

const LOCAL_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

/** The DBC-DOC create (example 2 of ORIGINAL_API.md) with resources this stand-in has. */
const CREATE_ADDITIONAL = {
  ssh_port: "5678",
  image_name: "ubuntu.qcow2",
  gpu_count: "0",
  cpu_cores: "30",
  mem_size: "32",
  disk_size: "10",
  vnc_port: "5907",
  vm_xml: "",
  vm_xml_url: "",
};

async function created(node: GpuNodeFixture, pair: Parameters<typeof walletFields>[0]) {
  const app = node.makeApp();
  const answer = await send(app, "/api/v1/tasks/start", node.signedBody(pair, CREATE_ADDITIONAL));
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body.errcode, 0, JSON.stringify(answer.body));
  /** POSTs `additional` to `path` on the app, signed by `by` (the creator unless said). */
  const post = (path: string, additional: Record<string, unknown> = {}, by = pair) =>
    send(app, path, node.signedBody(by, additional));
  return { app, taskId: answer.body.message.task_id as string, post };
}

Deno.test("create: additional's strings become vm.create's numbers; the answer is the original's", async () => {
  const { alice } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  try {
    const app = node.makeApp();
    const answer = await send(app, "/api/v1/tasks/start", {
      peer_nodes_list: [node.machineId],
      additional: { ...CREATE_ADDITIONAL, desc: "mine" },
      ...walletFields(alice),
      session_id: "",
      session_id_sign: "",
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.errcode, 0, JSON.stringify(answer.body));
    const message = answer.body.message;
    assert.deepEqual(Object.keys(message).sort(), ["create_time", "desc", "status", "task_id"]);
    assert.equal(message.status, "creating");
    assert.equal(message.desc, "mine");
    assert.match(message.create_time, LOCAL_TIME);
    const [create] = node.callsOf("vm.create");
    assert.deepEqual(
      {
        ...create!.params,
        id: undefined,
      },
      {
        actor: alice.address,
        owner: alice.address,
        id: undefined,
        os: "linux",
        image: "ubuntu.qcow2",
        cpu_cores: 30,
        memory_mib: 32 * 1024,
        disk_gib: 10,
        gpus: { count: 0 },
        login_port: 5678,
        vnc_port: 5907,
        firmware: "bios",
        desc: "mine",
        custom_ports: [],
        ssh_keys: [],
        start: true,
      },
    );
    assert.equal(create!.params.id, message.task_id);
  } finally {
    await node.close();
  }
});

Deno.test("create refusals: not the renter (-3), numbers instead of strings, PXE, bad custom ports or desc, no GPUs (1)", async () => {
  const { alice, bob } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  try {
    const app = node.makeApp();
    const create = (pair: typeof alice, additional: Record<string, unknown>) =>
      send(app, "/api/v1/tasks/start", node.signedBody(pair, additional));
    const notRenter = await create(bob, CREATE_ADDITIONAL);
    assert.equal(notRenter.status, 200);
    assert.equal(notRenter.body.errcode, -3);
    assert.match(notRenter.body.message, /^check authority failed: wallet not rented/);

    const cases: Array<[Record<string, unknown>, RegExp]> = [
      // The original reads only strings: a number is as good as absent.
      [{ ...CREATE_ADDITIONAL, cpu_cores: 30 }, /^cpu_cores is invalid$/],
      [{ ...CREATE_ADDITIONAL, mem_size: 32 }, /^mem_size is invalid$/],
      [{ ...CREATE_ADDITIONAL, image_name: "" }, /^image_name is empty$/],
      [{ ...CREATE_ADDITIONAL, ssh_port: "22a" }, /^ssh_port is not digit$/],
      [{ ...CREATE_ADDITIONAL, vnc_port: "5000" }, /^vnc_port is invalid/],
      [{ ...CREATE_ADDITIONAL, operation_system: "beos" }, /unsupported operation system: beos/],
      [{ ...CREATE_ADDITIONAL, bios_mode: "pxe" }, /bios_mode pxe is not supported/],
      [{ ...CREATE_ADDITIONAL, bios_mode: "coreboot" }, /unsupported bios mode/],
      [{ ...CREATE_ADDITIONAL, custom_port: ["tcp;123"] }, /custom_port "tcp;123" is invalid/],
      [{ ...CREATE_ADDITIONAL, custom_port: ["sctp,9"] }, /custom_port "sctp,9" is invalid/],
      [{ ...CREATE_ADDITIONAL, custom_port: ["udp,70000"] }, /ports are 1-65535/],
      [{ ...CREATE_ADDITIONAL, custom_port: "tcp,123" }, /expected a list of strings/],
      [{ ...CREATE_ADDITIONAL, custom_port: ["tcp,10-12:20-21"] }, /same length/],
      [{ ...CREATE_ADDITIONAL, custom_port: ["tcp,10-12:20"] }, /same length/],
      [{ ...CREATE_ADDITIONAL, custom_port: ["tcp,12-10"] }, /same length/],
      [{ ...CREATE_ADDITIONAL, custom_port: ["tcp,1000-1100"] }, /at most 64 ports/],
      [{ ...CREATE_ADDITIONAL, desc: "two\nlines" }, /^desc is invalid/],
      [{ ...CREATE_ADDITIONAL, gpu_count: "2" }, /2 GPUs asked, 0 free/],
    ];
    for (const [additional, message] of cases) {
      const answer = await create(alice, additional);
      assert.equal(answer.status, 200, JSON.stringify(additional));
      assert.equal(answer.body.errcode, 1, JSON.stringify(answer.body));
      assert.match(answer.body.message, message);
    }
    // Only the GPU refusal got as far as the node service.
    assert.equal(node.callsOf("vm.create").length, 1);
    assert.equal(node.vms.size, 0);
  } finally {
    await node.close();
  }
});

Deno.test("list and detail: a bare array of the signer's tasks; the detail in the original's names and units", async () => {
  const { alice, bob } = await devWallets();
  const node = await gpuNode({ renters: [alice.address, bob.address] });
  try {
    const { app, taskId } = await created(node, alice);
    await created(node, bob);
    const list = await send(app, "/api/v1/tasks", node.signedBody(alice));
    assert.equal(list.body.errcode, 0);
    assert.ok(Array.isArray(list.body.message));
    assert.deepEqual(list.body.message.map((task: { task_id: string }) => task.task_id), [taskId]);
    assert.deepEqual(Object.keys(list.body.message[0]).sort(), [
      "create_time",
      "desc",
      "status",
      "task_id",
    ]);
    assert.equal(list.body.message[0].status, "running");

    const detail = await send(app, `/api/v1/tasks/${taskId}`, node.signedBody(alice));
    assert.equal(detail.body.errcode, 0, JSON.stringify(detail.body));
    const task = detail.body.message;
    assert.equal(task.task_id, taskId);
    assert.equal(task.os, "linux");
    assert.equal(task.ssh_ip, "203.0.113.7");
    assert.equal(task.ssh_port, "5678");
    assert.equal(task.user_name, "dbc");
    assert.equal(task.login_password, "login-secret-1");
    assert.equal(task.cpu_cores, 30);
    assert.equal(task.gpu_count, 0);
    assert.equal(task.mem_size, "32G");
    assert.equal(task.disk_system, "10G");
    assert.equal(task.vnc_port, "5907");
    assert.equal(task.vnc_password, "vnc-secret");
    assert.match(task.create_time, LOCAL_TIME);
    assert.equal(task.status, "running");
    assert.deepEqual(task.interface, []);

    // Bob is told it does not exist, with the detail's own words (-3).
    const bobs = await send(app, `/api/v1/tasks/${taskId}`, node.signedBody(bob));
    assert.deepEqual(bobs, { status: 200, body: { errcode: -3, message: "task_id not exist" } });
  } finally {
    await node.close();
  }
});

Deno.test("actions: stop and poweroff power off, shutdown asks ACPI, restart?force_reboot=true resets, delete; each answers ok", async () => {
  const { alice, bob } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  try {
    const { app, taskId } = await created(node, alice);
    const act = (path: string, pair = alice) =>
      send(app, path, { peer_nodes_list: [node.machineId], additional: {}, ...walletFields(pair) });
    const expectations: Array<[string, string, Record<string, unknown>]> = [
      [`/api/v1/tasks/stop/${taskId}`, "vm.stop", { force: true }],
      [`/api/v1/tasks/start/${taskId}`, "vm.start", {}],
      [`/api/v1/tasks/shutdown/${taskId}`, "vm.stop", { force: false, acpi_only: true }],
      [`/api/v1/tasks/poweroff/${taskId}`, "vm.stop", { force: true, acpi_only: false }],
      [`/api/v1/tasks/restart/${taskId}`, "vm.restart", {}],
      [`/api/v1/tasks/restart/${taskId}?force_reboot=true`, "vm.reset", {}],
      [`/api/v1/tasks/reset/${taskId}`, "vm.reset", {}],
    ];
    for (const [path, method, fields] of expectations) {
      const before = node.calls.length;
      assert.deepEqual(await act(path), { status: 200, body: { errcode: 0, message: "ok" } }, path);
      const made = node.calls.slice(before).filter((entry) => entry.method.startsWith("vm."))
        .map((entry) => entry.method);
      assert.deepEqual(made, ["vm.get", method], path);
      const params = node.calls.at(-1)!.params;
      assert.deepEqual({ ...params, ...fields }, params, path);
      assert.equal(params.id, taskId);
      assert.equal(params.actor, alice.address);
    }
    // Someone else's task does not exist for them; nothing is called on it.
    const before = node.callsOf("vm.stop").length;
    assert.deepEqual(await act(`/api/v1/tasks/stop/${taskId}`, bob), {
      status: 200,
      body: { errcode: 1, message: "task not exist" },
    });
    assert.equal(node.callsOf("vm.stop").length, before);
    assert.deepEqual(await act(`/api/v1/tasks/delete/${taskId}`), {
      status: 200,
      body: { errcode: 0, message: "ok" },
    });
    assert.equal(node.vms.get(taskId)?.state, "deleted");
    assert.deepEqual(await act(`/api/v1/tasks/start/${taskId}`), {
      status: 200,
      body: { errcode: 1, message: "task not exist" },
    });
  } finally {
    await node.close();
  }
});

Deno.test("logs: flag=head|tail and line_num 1..100 reach vm.logs; a bad flag or line_num is the client-end's 400 (-25)", async () => {
  const { alice } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  try {
    const { app, taskId } = await created(node, alice);
    const logs = (query: string) =>
      send(app, `/api/v1/tasks/logs/${taskId}${query}`, node.signedBody(alice));
    const head = await logs("?flag=head&line_num=3");
    assert.deepEqual(head.body, {
      errcode: 0,
      message: { task_id: taskId, log_content: ["head line 0", "head line 1", "head line 2"] },
    });
    assert.deepEqual(node.callsOf("vm.logs").at(-1)!.params, {
      id: taskId,
      from: "head",
      lines: 3,
    });
    await logs("");
    assert.deepEqual(node.callsOf("vm.logs").at(-1)!.params, {
      id: taskId,
      from: "tail",
      lines: 100,
    });
    await logs("?flag=tail&line_num=500");
    assert.equal(node.callsOf("vm.logs").at(-1)!.params.lines, 100);
    assert.deepEqual(await logs("?flag=middle"), {
      status: 400,
      body: { errcode: -25, message: 'head_or_tail is invalid"' },
    });
    assert.deepEqual(await logs("?flag=tail&line_num=0"), {
      status: 400,
      body: { errcode: -25, message: "invalid line num" },
    });
  } finally {
    await node.close();
  }
});

Deno.test("modify: new_cpu_cores and new_mem_size of a stopped VM; what this node cannot change is refused", async () => {
  const { alice } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  try {
    const { taskId, post } = await created(node, alice);
    const running = await post(`/api/v1/tasks/modify/${taskId}`, { new_cpu_cores: "2" });
    assert.equal(running.body.errcode, 1);
    assert.match(running.body.message, /it is running/);
    await post(`/api/v1/tasks/stop/${taskId}`, {});
    const changed = await post(`/api/v1/tasks/modify/${taskId}`, {
      new_cpu_cores: "2",
      new_mem_size: "8",
    });
    assert.deepEqual(changed.body, { errcode: 0, message: "ok" });
    assert.equal(node.vms.get(taskId)?.memory_mib, 8 * 1024);
    const gpus = await post(`/api/v1/tasks/modify/${taskId}`, { new_gpu_count: "1" });
    assert.equal(gpus.body.errcode, 1);
    assert.match(gpus.body.message, /new_gpu_count cannot be changed/);
  } finally {
    await node.close();
  }
});

Deno.test("create: a Windows guest on UEFI with an RDP port, custom ports and a desc, kept and shown", async () => {
  const { alice } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  try {
    const app = node.makeApp();
    const answer = await send(app, "/api/v1/tasks/start", {
      peer_nodes_list: [node.machineId],
      // Example 3 of ORIGINAL_API.md, with custom ports.
      additional: {
        ssh_port: "",
        rdp_port: "3389",
        image_name: "ubuntu.qcow2",
        data_file_name: "",
        gpu_count: "0",
        cpu_cores: "8",
        mem_size: "32",
        disk_size: "1",
        vnc_port: "5907",
        operation_system: "windows",
        bios_mode: "uefi",
        desc: "omniverse",
        custom_port: ["tcp,8080", "udp, 6000:7000", "tcp,9000-9001", "udp,9100-9101:9200-9201"],
      },
      ...walletFields(alice),
      session_id: "",
      session_id_sign: "",
    });
    assert.equal(answer.body.errcode, 0, JSON.stringify(answer.body));
    assert.equal(answer.body.message.desc, "omniverse");
    const taskId = answer.body.message.task_id;
    const params = node.callsOf("vm.create")[0]!.params;
    assert.equal(params.os, "windows");
    assert.equal(params.firmware, "uefi");
    assert.equal(params.login_port, 3389);
    assert.deepEqual(params.custom_ports, [
      { protocol: "tcp", host_port: 8080, guest_port: 8080 },
      { protocol: "udp", host_port: 6000, guest_port: 7000 },
      { protocol: "tcp", host_port: 9000, guest_port: 9000 },
      { protocol: "tcp", host_port: 9001, guest_port: 9001 },
      { protocol: "udp", host_port: 9100, guest_port: 9200 },
      { protocol: "udp", host_port: 9101, guest_port: 9201 },
    ]);
    const signed = () => node.signedBody(alice);
    const detail = await send(app, `/api/v1/tasks/${taskId}`, signed());
    assert.equal(detail.body.message.rdp_port, "3389");
    assert.equal(detail.body.message.ssh_port, undefined);
    assert.equal(detail.body.message.desc, "omniverse");
    const list = await send(app, "/api/v1/tasks", signed());
    assert.deepEqual(list.body.message.map((task: { desc: string }) => task.desc), ["omniverse"]);
  } finally {
    await node.close();
  }
});

Deno.test("passwd: a running VM's password through vm.passwd; bad input and a stopped VM are refused (1)", async () => {
  const { alice } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  try {
    const { taskId, post } = await created(node, alice);
    const changed = await post(`/api/v1/tasks/passwd/${taskId}`, {
      username: "dbc",
      password: "another-secret",
    });
    assert.deepEqual(changed, { status: 200, body: { errcode: 0, message: "ok" } });
    assert.deepEqual(node.callsOf("vm.passwd").at(-1)!.params, {
      actor: alice.address,
      id: taskId,
      user: "dbc",
      password: "another-secret",
    });
    const defaultUser = await post(`/api/v1/tasks/passwd/${taskId}`, { password: "third-secret" });
    assert.equal(defaultUser.body.errcode, 0);
    assert.equal(node.callsOf("vm.passwd").at(-1)!.params.user, undefined);
    for (
      const [additional, message] of [
        [{ password: "short" }, /^password is invalid/],
        [{ username: "Root;", password: "another-secret" }, /^username is invalid/],
      ] as const
    ) {
      const answer = await post(`/api/v1/tasks/passwd/${taskId}`, additional);
      assert.equal(answer.body.errcode, 1, JSON.stringify(answer.body));
      assert.match(answer.body.message, message);
    }
    await post(`/api/v1/tasks/poweroff/${taskId}`, {});
    const stopped = await post(`/api/v1/tasks/passwd/${taskId}`, { password: "another-secret" });
    assert.equal(stopped.body.errcode, 1);
    assert.match(stopped.body.message, /stopped/);
    assert.equal(node.callsOf("vm.passwd").length, 3);
  } finally {
    await node.close();
  }
});

Deno.test("disks: list, add, resize (up only) and delete a stopped VM's data disks; each action answers ok", async () => {
  const { alice, bob } = await devWallets();
  const node = await gpuNode({ renters: [alice.address, bob.address] });
  try {
    const { taskId, post } = await created(node, alice);
    const list = async () => (await post(`/api/v1/disk/list/${taskId}`, {})).body;
    assert.deepEqual(await list(), {
      errcode: 0,
      message: [{ name: "vda", file: `/vms/${taskId}/disk.qcow2`, size: "10G" }],
    });
    const running = await post(`/api/v1/disk/add/${taskId}`, { size: 20 });
    assert.equal(running.body.errcode, 1);
    assert.match(running.body.message, /running/);
    await post(`/api/v1/tasks/stop/${taskId}`, {});
    // `size` is a JSON integer in the original; digits in a string are taken too.
    assert.deepEqual((await post(`/api/v1/disk/add/${taskId}`, { size: 20 })).body, {
      errcode: 0,
      message: "ok",
    });
    assert.deepEqual(node.callsOf("vm.disk_add").at(-1)!.params, {
      actor: alice.address,
      id: taskId,
      size_gib: 20,
    });
    assert.equal(
      (await post(`/api/v1/disk/resize/${taskId}`, { disk: "vdc", size: "30" })).body.errcode,
      0,
    );
    assert.deepEqual((await list()).message[1], {
      name: "vdc",
      file: `/vms/${taskId}/data-vdc.qcow2`,
      size: "30G",
    });
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ["resize", { disk: "vdc", size: 10 }, /only grows/],
      ["resize", { disk: "vdc", size: 1.5 }, /^size is invalid/],
      ["resize", { disk: "vdc" }, /^size is invalid/],
      ["resize", { disk: "", size: 40 }, /^disk is empty$/],
      ["resize", { disk: "../etc", size: 40 }, /^disk \.\.\/etc not exist$/],
      ["delete", { disk: "vdz" }, /no disk vdz/],
      ["add", { size: "0" }, /^size is invalid/],
    ];
    for (const [word, additional, message] of cases) {
      const answer = await post(`/api/v1/disk/${word}/${taskId}`, additional);
      assert.equal(answer.status, 200, JSON.stringify(additional));
      assert.equal(answer.body.errcode, 1, JSON.stringify(answer.body));
      assert.match(answer.body.message, message);
    }
    // Another renter's task does not exist for it.
    assert.deepEqual((await post(`/api/v1/disk/list/${taskId}`, {}, bob)).body, {
      errcode: 1,
      message: "task not exist",
    });
    assert.deepEqual((await post(`/api/v1/disk/delete/${taskId}`, { disk: "vdc" })).body, {
      errcode: 0,
      message: "ok",
    });
    assert.equal((await list()).message.length, 1);
    const bad = await post(`/api/v1/disk/list`, {});
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errcode, -25);
    const unknown = await post(`/api/v1/disk/format/${taskId}`, {});
    assert.deepEqual(unknown, {
      status: 400,
      body: { errcode: -32600, message: "invalid requests uri" },
    });
  } finally {
    await node.close();
  }
});
