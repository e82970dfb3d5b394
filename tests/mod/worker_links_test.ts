/**
 * Direct ports between workers (mod/worker_links.ts), in one thread over a real MessageChannel:
 * calls go on the port once linked and through main otherwise, a response goes back the way
 * its request came, and a message whose sender is not the worker at the other end is dropped.
 */
import assert from "node:assert/strict";
import type { RpcMessage, RpcRequest, RpcResponse, WorkerName } from "../../mod/mod.ts";
import { WorkerLinks } from "../../mod/worker_links.ts";

function request(from: WorkerName, to: RpcRequest["to"], id: string): RpcRequest {
  return {
    kind: "request",
    id,
    from,
    to,
    method: "network.status",
    params: {},
    timeout_ms: 1_000,
  };
}

function response(from: WorkerName, to: RpcResponse["to"], id: string): RpcResponse {
  return { kind: "response", id, from, to, outcome: { ok: true, result: {} } };
}

/** A worker's links, recording what went through main and what it received. */
function side(self: WorkerName) {
  const toMain: RpcMessage[] = [];
  const received: RpcMessage[] = [];
  const dropped: WorkerName[] = [];
  let wake = () => {};
  const links = new WorkerLinks({
    self,
    toMain: (message) => toMain.push(message),
    receive: (message) => {
      received.push(message);
      wake();
    },
    onDropped: (peer) => {
      dropped.push(peer);
      wake();
    },
  });
  const next = () => new Promise<void>((resolve) => (wake = resolve));
  return { links, toMain, received, dropped, next };
}

Deno.test("linked workers call each other on the port; a response goes back the way its request came", async () => {
  const http = side("http");
  const network = side("network");
  const { port1, port2 } = new MessageChannel();
  http.links.link("network", port1);
  network.links.link("http", port2);
  try {
    assert.deepEqual(http.links.peers, ["network"]);
    let arrived = network.next();
    http.links.send(request("http", "network", "h-1"));
    await arrived;
    assert.equal(http.toMain.length, 0, "the request did not go through main");
    assert.deepEqual(network.received.map((message) => message.id), ["h-1"]);

    arrived = http.next();
    network.links.send(response("network", "http", "h-1"));
    await arrived;
    assert.equal(network.toMain.length, 0, "the response went back on the port");
    assert.deepEqual(http.received.map((message) => message.id), ["h-1"]);

    // A request that came through main is answered through main, so the hub's record clears.
    network.links.send(response("network", "http", "h-2"));
    assert.deepEqual(network.toMain.map((message) => message.id), ["h-2"]);
    // Calls to main, or to a worker with no port, go through main.
    http.links.send(request("http", "main", "h-3"));
    http.links.send(request("http", "node_service", "h-4"));
    assert.deepEqual(http.toMain.map((message) => message.id), ["h-3", "h-4"]);
  } finally {
    http.links.close();
    network.links.close();
  }
});

Deno.test("a message on a port from another sender, or no envelope at all, is dropped", async () => {
  const http = side("http");
  const { port1, port2 } = new MessageChannel();
  http.links.link("network", port1);
  try {
    let dropped = http.next();
    port2.postMessage(request("node_service", "http", "forged"));
    await dropped;
    dropped = http.next();
    port2.postMessage({ kind: "request", id: 7 });
    await dropped;
    assert.deepEqual(http.dropped, ["network", "network"]);
    assert.equal(http.received.length, 0);
  } finally {
    http.links.close();
    port2.close();
  }
});

Deno.test("after unlink, calls go through main again and responses owed on the port are dropped", async () => {
  const http = side("http");
  const network = side("network");
  const { port1, port2 } = new MessageChannel();
  http.links.link("network", port1);
  network.links.link("http", port2);
  const arrived = network.next();
  http.links.send(request("http", "network", "h-1"));
  await arrived;
  // The HTTP worker died: the network worker's port to it is dropped.
  network.links.unlink("http");
  http.links.close();
  assert.deepEqual(network.links.peers, []);
  network.links.send(response("network", "http", "h-1"));
  network.links.send(request("network", "http", "n-1"));
  assert.deepEqual(network.toMain.map((message) => message.id), ["n-1"]);
});
