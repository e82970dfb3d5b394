/**
 * The original dialect at a client-end, in process: what the client-end
 * refuses itself (a GET, an unknown path, a missing `additional`, a number
 * where a string is wanted, no signature form) with the original's errcode
 * and status; the GPU node named by machine id or node id (only the first
 * element counts), the request forwarded as it came with the dialect's
 * header and the GPU node's answer passed through; a silent node is the
 * original's 500 "<op> timeout". Snapshots, images, machines, peers and the
 * refused prefixes in the original's shapes.
 */
import assert from "node:assert/strict";
import { derivedMachineId, generateNodeKeys, RpcError } from "../../mod/mod.ts";
import { DIALECT_HEADER, ORIGINAL_DIALECT } from "../../http/compat/mod.ts";
import { devWallets } from "../wallets.ts";
import {
  gpuNode,
  type GpuNodeFixture,
  type Json,
  marketNode,
  send,
  walletFields,
} from "./compat_fixture.ts";

/** A client-end whose `network.send` reaches the GPU node's compat app, as the network worker would. */
async function clientAndGpu(renters: string[], machineId?: string) {
  const gpu = await gpuNode({ renters, machineId });
  const client = await gpuNode({ renters: [], role: "client" });
  client.market.splice(
    0,
    client.market.length,
    marketNode(gpu.nodeId, { machine_id: gpu.machineId }),
  );
  const gpuApp = gpu.makeApp();
  const forwarded: Json[] = [];
  let silent = false;
  client.onNetworkSend(async (params) => {
    forwarded.push(params);
    if (silent || params.to !== gpu.nodeId) {
      throw new RpcError("timeout", `no answer from ${params.to}`);
    }
    const { method, path, headers, body } = params.payload.body;
    // The receiving node's dispatch (http/remote.ts): the dialect's header picks the compat app.
    assert.equal(headers[DIALECT_HEADER], ORIGINAL_DIALECT);
    const response = await gpuApp.fetch(
      new Request(`http://remote${path}`, { method, headers, body }),
      { remoteNode: client.nodeId },
    );
    return {
      from: gpu.nodeId,
      reply: {
        type: "app",
        topic: "api.http",
        body: { status: response.status, body: await response.text() },
      },
      rtt_ms: 1,
      hops: 1,
      route: "direct",
    };
  });
  return {
    gpu,
    client,
    app: client.makeApp(),
    forwarded,
    silence: () => (silent = true),
    async close() {
      await gpu.close();
      await client.close();
    },
  };
}

Deno.test("the client-end refuses what it can judge alone, with the original's codes and statuses", async () => {
  const { alice } = await devWallets();
  const net = await clientAndGpu([alice.address]);
  try {
    const { app, gpu } = net;
    const body = { peer_nodes_list: [gpu.machineId], additional: {}, ...walletFields(alice) };
    const cases: Array<
      [string, unknown, { method?: string; raw?: string }, number, number, string | RegExp]
    > = [
      ["/api/v1/tasks", undefined, { method: "GET" }, 400, -32600, "only support POST request"],
      ["/api/v1/nowhere", body, {}, 404, -32601, "not support uri:/api/v1/nowhere"],
      ["/v2/tasks", body, {}, 400, -32600, "request uri is invalid, uri:/v2/tasks"],
      ["/api/v1/tasks/stop/a/b", body, {}, 400, -32600, "invalid requests uri"],
      // Names every object has are not endpoints.
      ["/api/v1/images/constructor", body, {}, 400, -32600, "invalid requests uri"],
      ["/api/v1/images/__proto__", body, {}, 400, -32600, "invalid requests uri"],
      ["/api/v1/disk/toString/t1", body, {}, 400, -32600, "invalid requests uri"],
      ["/api/v1/hasOwnProperty", body, {}, 404, -32601, "not support uri:/api/v1/hasOwnProperty"],
      ["/api/v1/tasks/stop", body, {}, 400, -25, "invalid uri, please use /tasks/stop/{task_id}"],
      ["/api/v1/tasks", undefined, { raw: "" }, 400, -25, "http request body is empty"],
      ["/api/v1/tasks", undefined, { raw: "{not json" }, 400, -25, /^json parse error/],
      ["/api/v1/tasks", [], {}, 400, -25, "invalid json"],
      ["/api/v1/tasks", { peer_nodes_list: [gpu.machineId] }, {}, 400, -25, "has no additional"],
      ["/api/v1/tasks", { additional: {} }, {}, 400, -25, "has no peer_nodes_list"],
      ["/api/v1/tasks", { ...body, additional: "x" }, {}, 400, -25, "additional is not object"],
      ["/api/v1/tasks", { ...body, wallet: 5 }, {}, 400, -25, "wallet is not string"],
      ["/api/v1/tasks", { ...body, session_id: null }, {}, 400, -25, "session_id is not string"],
      ["/api/v1/tasks", { ...body, peer_nodes_list: [] }, {}, 400, -25, "peer_nodeid is empty"],
      [
        "/api/v1/tasks",
        { peer_nodes_list: [gpu.machineId], additional: {}, wallet: alice.address, nonce: "n" },
        {},
        // No multisig object: the original's client-end lets it through; the GPU node refuses.
        200,
        -3,
        /^check authority failed/,
      ],
      [
        "/api/v1/tasks",
        { ...body, peer_nodes_list: ["not-a-node"] },
        {},
        400,
        -25,
        /is neither a machine id/,
      ],
    ];
    for (const [path, payload, options, status, errcode, message] of cases) {
      const answer = await send(app, path, payload, options);
      assert.equal(answer.status, status, `${path} ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.errcode, errcode, `${path} ${JSON.stringify(answer.body)}`);
      if (typeof message === "string") assert.equal(answer.body.message, message);
      else assert.match(answer.body.message, message);
    }
    // Only the request that passed the client-end's checks travelled.
    assert.equal(net.forwarded.length, 1);
  } finally {
    await net.close();
  }
});

Deno.test("peer_nodes_list: the machine id or the node id, only the first counts; the request travels as it came", async () => {
  const { alice } = await devWallets();
  const net = await clientAndGpu([alice.address]);
  try {
    const { app, gpu } = net;
    for (const peer of [gpu.machineId, gpu.nodeId]) {
      const body = {
        peer_nodes_list: [peer, "ignored-second-element"],
        additional: {},
        ...walletFields(alice),
      };
      const answer = await send(app, "/api/v1/tasks", body);
      assert.deepEqual(answer, { status: 200, body: { errcode: 0, message: [] } });
      const sent = net.forwarded.at(-1);
      assert.equal(sent.to, gpu.nodeId);
      assert.equal(sent.payload.body.path, "/api/v1/tasks");
      assert.deepEqual(JSON.parse(sent.payload.body.body), body);
    }
    // Another node's id, machine id of no announced node: forwarded to the derived node, silent.
    const stranger = await send(app, "/api/v1/tasks", {
      peer_nodes_list: ["cd".repeat(32)],
      additional: {},
      ...walletFields(alice),
    });
    assert.equal(stranger.status, 500);
    assert.equal(stranger.body.errcode, -1);
  } finally {
    await net.close();
  }
});

Deno.test("a configured machine id is found in the GPU node's announcement; the derived one still names it", async () => {
  const { alice } = await devWallets();
  const configured = "ab".repeat(32);
  const net = await clientAndGpu([alice.address], configured);
  try {
    for (const peer of [configured, derivedMachineId(net.gpu.nodeId)!]) {
      const answer = await send(net.app, "/api/v1/tasks", {
        peer_nodes_list: [peer],
        additional: {},
        ...walletFields(alice),
      });
      assert.deepEqual(answer, { status: 200, body: { errcode: 0, message: [] } }, peer);
      assert.equal(net.forwarded.at(-1).to, net.gpu.nodeId);
    }
    // Two nodes claiming one machine id: the client-end does not guess.
    net.client.market.push(marketNode(generateNodeKeys().nodeId, { machine_id: configured }));
    const contested = await send(net.app, "/api/v1/tasks", {
      peer_nodes_list: [configured],
      additional: {},
      ...walletFields(alice),
    });
    assert.equal(contested.status, 400);
    assert.match(contested.body.message, /announced by 2 nodes/);
  } finally {
    await net.close();
  }
});

Deno.test("a GPU node that does not answer is the original's 500, errcode -1, '<op> timeout'", async () => {
  const { alice } = await devWallets();
  const net = await clientAndGpu([alice.address]);
  try {
    net.silence();
    const answer = await send(net.app, "/api/v1/tasks/stop/vm-0123456789abcdef", {
      peer_nodes_list: [net.gpu.machineId],
      additional: {},
      ...walletFields(alice),
    });
    assert.equal(answer.status, 500);
    assert.equal(answer.body.errcode, -1);
    assert.match(answer.body.message, /^stop task timeout/);
  } finally {
    await net.close();
  }
});

async function createdTask(
  net: { app: ReturnType<GpuNodeFixture["makeApp"]>; gpu: GpuNodeFixture },
  pair: Parameters<typeof walletFields>[0],
) {
  const answer = await send(net.app, "/api/v1/tasks/start", {
    peer_nodes_list: [net.gpu.machineId],
    additional: {
      image_name: "ubuntu.qcow2",
      cpu_cores: "1",
      mem_size: "1",
      disk_size: "10",
      ssh_port: "5680",
      vnc_port: "5909",
    },
    ...walletFields(pair),
  });
  assert.equal(answer.body.errcode, 0, JSON.stringify(answer.body));
  return answer.body.message.task_id as string;
}

Deno.test("snapshots through the client-end: list, create (VM stopped), one by name, delete", async () => {
  const { alice } = await devWallets();
  const net = await clientAndGpu([alice.address]);
  try {
    const taskId = await createdTask(net, alice);
    const post = (path: string, additional: Record<string, unknown> = {}) =>
      send(net.app, path, {
        peer_nodes_list: [net.gpu.machineId],
        additional,
        ...walletFields(alice),
      });
    assert.deepEqual((await post(`/api/v1/snapshot/list/${taskId}`)).body, {
      errcode: 0,
      message: [],
    });
    const running = await post(`/api/v1/snapshot/create/${taskId}`, {
      snapshot_name: "first",
      desc: "before the upgrade",
      image_server: "",
    });
    assert.equal(running.body.errcode, 1);
    assert.match(running.body.message, /running/);
    assert.equal((await post(`/api/v1/tasks/stop/${taskId}`)).body.message, "ok");
    assert.deepEqual(
      (await post(`/api/v1/snapshot/create/${taskId}`, {
        snapshot_name: "first",
        desc: "before the upgrade",
      })).body,
      { errcode: 0, message: "ok" },
    );
    const unnamed = await post(`/api/v1/snapshot/create/${taskId}`, {});
    assert.deepEqual(unnamed.body, { errcode: 1, message: "'snapshot_name' is empty" });
    const list = await post(`/api/v1/snapshot/list/${taskId}`);
    assert.equal(list.body.message.length, 1);
    const [snapshot] = list.body.message;
    assert.equal(snapshot.snapshot_name, "first");
    assert.equal(snapshot.description, "before the upgrade");
    assert.match(snapshot.create_time, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    assert.deepEqual((await post(`/api/v1/snapshot/list/${taskId}/first`)).body.message, snapshot);
    assert.deepEqual((await post(`/api/v1/snapshot/list/${taskId}/second`)).body, {
      errcode: 1,
      message: "snapshot_name not exist",
    });
    assert.deepEqual((await post(`/api/v1/snapshot/delete/${taskId}/first`)).body, {
      errcode: 0,
      message: "ok",
    });
    assert.deepEqual((await post(`/api/v1/snapshot/list/${taskId}`)).body.message, []);
  } finally {
    await net.close();
  }
});

Deno.test("machines, images and peers in the original's shapes; the refused prefixes say what is missing", async () => {
  const { alice } = await devWallets();
  const net = await clientAndGpu([alice.address]);
  try {
    const { app, gpu } = net;
    const nodes = await send(app, "/api/v1/mining_nodes", { peer_nodes_list: [], additional: {} });
    assert.deepEqual(nodes, {
      status: 200,
      body: {
        errcode: 0,
        message: { mining_nodes: [{ node_id: gpu.machineId, name: gpu.nodeId, version: "0.1.0" }] },
      },
    });
    const machine = await send(app, "/api/v1/mining_nodes", {
      peer_nodes_list: [gpu.machineId],
      additional: {},
    });
    assert.equal(machine.body.errcode, 0, JSON.stringify(machine.body));
    const detail = machine.body.message;
    assert.equal(detail.node_type, "0");
    assert.equal(detail.cpu.cores, "2");
    assert.equal(detail.gpu.gpu_count, "0");
    assert.equal(detail.mem.size, "4G");
    assert.equal(detail.disk_data[0].free, "60G");
    assert.deepEqual(detail.images, [{ image_name: "ubuntu.qcow2", image_size: "3G" }]);

    const images = await send(app, "/api/v1/images", {
      peer_nodes_list: [gpu.machineId],
      additional: {},
      ...walletFields(alice),
    });
    assert.deepEqual(images.body, {
      errcode: 0,
      message: [{ "image_name:": "ubuntu.qcow2", image_name: "ubuntu.qcow2", image_size: "3G" }],
    });
    const peers = await send(app, "/api/v1/peers/active", {});
    assert.deepEqual(peers.body, {
      errcode: 0,
      message: { peer_nodes: [{ node_id: net.client.nodeId, addr: "10.0.0.2:5001" }] },
    });
    const root = await send(app, "/api/v1/", undefined, { method: "GET" });
    assert.equal(root.status, 200);
    assert.match(root.body.message.client_version, /^\d+\.\d+\.\d+/);

    for (
      const path of [
        "/api/v1/bare_metal",
        "/api/v1/deeplink/set",
      ]
    ) {
      const refused = await send(app, path, { peer_nodes_list: [gpu.machineId], additional: {} });
      assert.equal(refused.status, 200, path);
      assert.equal(refused.body.errcode, -3, path);
      assert.match(refused.body.message, /not supported|no image servers/, path);
    }
    assert.deepEqual(await send(app, "/api/v1/stat", {}), {
      status: 500,
      body: { errcode: -32701, message: "Unhandled request" },
    });
  } finally {
    await net.close();
  }
});
