/**
 * Renters' private networks through the HTTP API, natively (`/api/v1/lan...`) and in the original
 * dialect (`POST /api/v1/lan[/{name}]`, `/lan/create`, `/lan/delete/{name}`): only the machine's
 * renter makes them, each renter sees its own, bad input is refused and changes nothing. Behind
 * the app, the node service's real LAN handlers over a real SQLite file and the real host (libvirt
 * networks, VXLAN devices, named with the tests' prefixes and removed at the end), every call
 * checked against the message catalogue both ways as at the worker boundary.
 */
import assert from "node:assert/strict";
import { localTime } from "../../http/compat/answers.ts";
import { VmStore } from "../../node_service/vm/mod.ts";
import { lanNodeService } from "../node_service/lan/lan_fixture.ts";
import { run, virsh } from "../node_service/vm/libvirt_fixture.ts";
import { devWallets } from "../wallets.ts";
import { appRequest, gpuApp, TEST_GPU_NODE } from "./app_request.ts";
import { gpuNode, send, walletFields } from "./compat_fixture.ts";

const NODE = TEST_GPU_NODE;

Deno.test("native: the renter makes, lists, re-peers and deletes its LANs; bad input changes nothing", async () => {
  const { alice, bob } = await devWallets();
  const service = await lanNodeService([alice.address]);
  try {
    const { request } = gpuApp(service.call);
    const here = { peer_nodes_list: [NODE] };
    const lan = { ...here, network_name: "office1", ip_cidr: "10.213.30.0/24" };

    assert.equal((await request("POST", "/api/v1/lan/create", { signer: bob }, lan)).status, 403);
    assert.equal((await request("POST", "/api/v1/lan/create", {}, lan)).status, 401);

    const created = await request("POST", "/api/v1/lan/create", { signer: alice }, lan);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.data.network_name, "office1");
    assert.equal(created.body.data.gateway, "10.213.30.1");
    assert.deepEqual(created.body.data.members, []);
    assert.equal((await service.networks()).length, 1);

    const refusals: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ ...lan, ip_cidr: "10.213.31.0/24" }, 409, /already exists/],
      [
        { ...lan, network_name: "office2", ip_cidr: "10.213.30.64/26" },
        400,
        /overlaps your network office1/,
      ],
      [{ ...lan, network_name: "office2", ip_cidr: "10.213.31.0" }, 400, /invalid ip cidr/],
      [{ ...lan, network_name: "office2", ip_cidr: "1.1.1.0/24" }, 400, /private range/],
      [
        { ...lan, network_name: "off ce2", ip_cidr: "10.213.31.0/24" },
        400,
        /6 to 10 letters or numbers/,
      ],
      [
        { ...lan, network_name: "office2", ip_cidr: "10.213.31.0/24", peers: ["host.example"] },
        400,
        /not an IPv4 address/,
      ],
    ];
    for (const [body, status, reason] of refusals) {
      const refused = await request("POST", "/api/v1/lan/create", { signer: alice }, body);
      assert.equal(refused.status, status, JSON.stringify(refused.body));
      assert.match(refused.body.error_message, reason, JSON.stringify(body));
    }
    assert.equal((await service.networks()).length, 1);

    // The same network of another of the renter's hosts, joined here: its VNI, that host as
    // peer; this host serves no DHCP and takes no address on it.
    const [served] = await service.networks();
    const joined = await request("POST", "/api/v1/lan/create", { signer: alice }, {
      ...here,
      network_name: "office3",
      ip_cidr: "10.213.36.0/24",
      vxlan_vni: 424242,
      peers: ["192.0.2.99"],
    });
    assert.equal(joined.status, 201, JSON.stringify(joined.body));
    assert.equal(joined.body.data.vxlan_vni, 424242);
    assert.equal(joined.body.data.gateway, null);
    assert.equal(joined.body.data.dhcp_start, null);
    const joinedNetwork = (await service.networks()).find((name) => name !== served);
    const dumped = await virsh("net-dumpxml", joinedNetwork ?? "?");
    assert.equal(dumped.code, 0, dumped.stderr);
    assert.doesNotMatch(dumped.stdout, /<ip /);
    const fdb = await run("bridge", ["-j", "fdb", "show", "dev", joined.body.data.vxlan_name]);
    assert.deepEqual(
      (JSON.parse(fdb.stdout) as { mac: string; dst?: string }[])
        .filter((entry) => entry.mac === "00:00:00:00:00:00").map((entry) => entry.dst),
      ["192.0.2.99"],
    );
    const taken = await request("POST", "/api/v1/lan/create", { signer: alice }, {
      ...here,
      network_name: "office4",
      ip_cidr: "10.213.37.0/24",
      vxlan_vni: 424242,
    });
    assert.equal(taken.status, 409, JSON.stringify(taken.body));
    assert.equal(
      (await request("POST", "/api/v1/lan/office3/delete", { signer: alice }, here)).status,
      200,
    );
    assert.equal((await service.networks()).length, 1);

    const listed = await request("GET", `/api/v1/lan?node_id=${NODE}`, { signer: alice });
    assert.deepEqual(listed.body.data.networks.map((item: { ip_cidr: string }) => item.ip_cidr), [
      "10.213.30.0/24",
    ]);
    // Another account sees none of it, and cannot delete it.
    const theirs = await request("GET", `/api/v1/lan?node_id=${NODE}`, { signer: bob });
    assert.deepEqual(theirs.body.data, { networks: [] });
    assert.equal(
      (await request("GET", `/api/v1/lan/office1?node_id=${NODE}`, { signer: bob })).status,
      404,
    );
    assert.equal(
      (await request("POST", "/api/v1/lan/office1/delete", { signer: bob }, here)).status,
      404,
    );

    const peered = await request("POST", "/api/v1/lan/office1/peers", { signer: alice }, {
      ...here,
      peers: ["192.0.2.77"],
    });
    assert.equal(peered.status, 200, JSON.stringify(peered.body));
    assert.deepEqual(peered.body.data.peers, ["192.0.2.77"]);
    const one = await request("GET", `/api/v1/lan/office1?node_id=${NODE}`, { signer: alice });
    assert.deepEqual(one.body.data.peers, ["192.0.2.77"]);

    const deleted = await request("POST", "/api/v1/lan/office1/delete", { signer: alice }, here);
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    assert.deepEqual(await service.networks(), []);
    assert.equal(
      (await request("GET", `/api/v1/lan/office1?node_id=${NODE}`, { signer: alice })).status,
      404,
    );
    assert.deepEqual(
      service.events.list({ action: "lan.", limit: 10 }).map((event) => event.action).sort(),
      ["lan.create", "lan.create", "lan.delete", "lan.delete", "lan.peers"],
    );
  } finally {
    await service.close();
  }
});

Deno.test("original dialect: /lan/create, /lan, /lan/{name}, /lan/delete/{name} as the original answers", async () => {
  const { alice, bob } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  const service = await lanNodeService([alice.address], node.call);
  try {
    const app = node.makeApp(service.call);

    assert.deepEqual(
      await send(
        app,
        "/api/v1/lan/create",
        node.signedBody(alice, { network_name: "office1", ip_cidr: "10.213.32.0/24" }),
      ),
      { status: 200, body: { errcode: 0, message: "ok" } },
    );
    const listed = await send(app, "/api/v1/lan", node.signedBody(alice));
    assert.equal(listed.body.errcode, 0, JSON.stringify(listed.body));
    const [item] = listed.body.message;
    assert.equal(listed.body.message.length, 1);
    assert.equal(item.network_name, "office1");
    assert.equal(item.ip_cidr, "10.213.32.0/24");
    assert.equal(item.ip_start, "10.213.32.2");
    assert.equal(item.ip_end, "10.213.32.254");
    assert.equal(item.machine_id, node.machineId);
    assert.equal(item.rent_wallet, alice.address);
    assert.equal(item.native_flags, "3");
    assert.match(item.vxlan_vni, /^\d+$/);
    assert.match(item.lastUseTime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.deepEqual(item.members, []);
    const one = await send(app, "/api/v1/lan/office1", node.signedBody(alice));
    assert.deepEqual(one.body.message, item);

    // lastUseTime: the creation, then a VM joining (made on it), then leaving (deleted).
    const [stored] = (await service.call("lan.list", { account: alice.address })).networks;
    assert.equal(item.lastUseTime, localTime(stored!.created_at));
    const { id: lanId } = service.db.prepare("SELECT id FROM lans WHERE name = 'office1'")
      .get() as { id: string };
    let at = stored!.created_at + 3_600_000;
    const vms = new VmStore(service.db, () => at);
    vms.insert({
      id: "vm-lanuse01",
      domain: "lan-test-vm-lanuse01",
      owner: alice.address,
      state: "running",
      os: "linux",
      image: "ubuntu.qcow2",
      loginPort: null,
      vncPort: null,
      vncPassword: "x",
      // Only what the LAN reads of a VM's spec.
      spec: { lan: { id: lanId } } as unknown as Parameters<VmStore["insert"]>[0]["spec"],
      lastError: null,
    });
    const joined = (await send(app, "/api/v1/lan/office1", node.signedBody(alice))).body.message;
    assert.deepEqual(joined.members, ["vm-lanuse01"]);
    assert.equal(joined.lastUseTime, localTime(stored!.created_at + 3_600_000));
    at += 3_600_000;
    vms.setState("vm-lanuse01", "deleted");
    const left = (await send(app, "/api/v1/lan/office1", node.signedBody(alice))).body.message;
    assert.deepEqual(left.members, []);
    assert.equal(left.lastUseTime, localTime(stored!.created_at + 7_200_000));

    const refusals: Array<[Record<string, unknown>, RegExp]> = [
      [
        { network_name: "of", ip_cidr: "10.213.33.0/24" },
        /^network name requires a combination of 6 to 10 letters or numbers$/,
      ],
      [{ network_name: "office2" }, /^ip cidr can not be empty$/],
      [{ network_name: "office2", ip_cidr: "10.213.32.0/25" }, /overlaps your network office1/],
      [{ network_name: "office1", ip_cidr: "10.213.33.0/24" }, /already exists/],
      [
        { network_name: "office2", ip_cidr: "10.213.33.0/24", vxlan_vni: "x1" },
        /^vxlan_vni is not digit$/,
      ],
    ];
    for (const [additional, reason] of refusals) {
      const refused = await send(app, "/api/v1/lan/create", node.signedBody(alice, additional));
      assert.equal(refused.status, 200, JSON.stringify(additional));
      assert.equal(refused.body.errcode, 1, JSON.stringify(refused.body));
      assert.match(refused.body.message, reason, JSON.stringify(additional));
    }
    const notRenter = await send(
      app,
      "/api/v1/lan/create",
      node.signedBody(bob, { network_name: "office2", ip_cidr: "10.213.34.0/24" }),
    );
    assert.equal(notRenter.body.errcode, -3);
    assert.equal((await service.networks()).length, 1);
    assert.deepEqual((await send(app, "/api/v1/lan", node.signedBody(bob))).body.message, []);
    assert.equal((await send(app, "/api/v1/lan/office1", node.signedBody(bob))).body.errcode, 1);

    // A client-end asked without a peer keeps no networks of its own.
    const local = await send(app, "/api/v1/lan", {
      peer_nodes_list: [],
      additional: {},
      ...walletFields(alice),
    });
    assert.deepEqual(local.body, { errcode: 0, message: { networks: [] } });

    assert.deepEqual(await send(app, "/api/v1/lan/delete/office1", node.signedBody(alice)), {
      status: 200,
      body: { errcode: 0, message: "ok" },
    });
    assert.deepEqual(await service.networks(), []);
    assert.equal(
      (await send(app, "/api/v1/lan/delete/office1", node.signedBody(alice))).body.errcode,
      1,
    );
    assert.equal(
      (await send(app, "/api/v1/lan/delete/a/b", node.signedBody(alice))).body.errcode,
      -32600,
    );
  } finally {
    await service.close();
    await node.close();
  }
});

Deno.test("original dialect: a task's network_name reaches vm.create; a bad one is refused first", async () => {
  const { alice } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  try {
    const app = node.makeApp();
    const additional = {
      ssh_port: "5678",
      image_name: "ubuntu.qcow2",
      cpu_cores: "2",
      mem_size: "4",
      disk_size: "10",
    };
    const start = (extra: Record<string, string>) =>
      send(app, "/api/v1/tasks/start", node.signedBody(alice, { ...additional, ...extra }));
    const refused = await start({ network_name: "bad/name" });
    assert.equal(refused.body.errcode, 1);
    assert.match(refused.body.message, /6 to 10 letters or numbers/);
    assert.equal(node.callsOf("vm.create").length, 0);
    const answer = await start({ network_name: "office1" });
    assert.equal(answer.body.errcode, 0, JSON.stringify(answer.body));
    assert.equal(node.callsOf("vm.create")[0]!.params.network_name, "office1");
    // The detail names the network, as the original's did; a VM on none has no such field.
    const detail = await send(
      app,
      `/api/v1/tasks/${answer.body.message.task_id}`,
      node.signedBody(alice),
    );
    assert.equal(detail.body.message.network_name, "office1", JSON.stringify(detail.body));
    const plain = await start({});
    const plainDetail = await send(
      app,
      `/api/v1/tasks/${plain.body.message.task_id}`,
      node.signedBody(alice),
    );
    assert.equal(plainDetail.body.errcode, 0, JSON.stringify(plainDetail.body));
    assert.equal("network_name" in plainDetail.body.message, false);
  } finally {
    await node.close();
  }
});

Deno.test("native and original: a node service that answers no network for a name is a not-found, never a malformed answer", async () => {
  const { alice } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  const service = await lanNodeService([alice.address], node.call);
  // A node service of another version: `lan.list` with a name answers an empty list.
  const call =
    (async (method: string, params: never) =>
      method === "lan.list"
        ? { networks: [] }
        : await service.call(method as never, params)) as typeof service.call;
  try {
    const { app } = gpuApp(call);
    const one = await appRequest(app, "GET", `/api/v1/lan/office9?node_id=${NODE}`, {
      signer: alice,
    });
    assert.equal(one.status, 404, JSON.stringify(one.body));
    assert.match(JSON.stringify(one.body), /no network office9/);
    const compat = node.makeApp(call);
    assert.deepEqual(
      (await send(compat, "/api/v1/lan/office9", node.signedBody(alice))).body,
      { errcode: 1, message: "network office9 not exist" },
    );
  } finally {
    await service.close();
    await node.close();
  }
});
