/** The peer routes on their own, with a stand-in network worker behind `call`. */
import assert from "node:assert/strict";
import { type AppDeps, createApp } from "../../http/mod.ts";
import { type Method, type ParamsOf, RpcError, silentLogger } from "../../mod/mod.ts";

const A = "12D3KooWLNDhWRc1VNwjKGS69Qbu2i4SVKh6aZW3HEc9T5pTGH5k";
const B = "12D3KooWSaiejKDTySDyw9DvBuR7MZ2Vk5PVGVpxzCERGquaRuth";

function appWith(answer: (method: Method, params: unknown) => unknown) {
  const calls: Array<{ method: Method; params: unknown }> = [];
  const call = (<M extends Method>(method: M, params: ParamsOf<M>) => {
    calls.push({ method, params });
    try {
      return Promise.resolve(answer(method, params));
    } catch (error) {
      return Promise.reject(error);
    }
  }) as AppDeps["call"];
  return { app: createApp({ call, log: silentLogger }), calls };
}

Deno.test("GET /api/v1/peers/active and /global list peers with id, ip, port, node type and state", async () => {
  const active = [{
    id: A,
    ip: "10.0.0.1",
    port: 5001,
    node_type: "seed",
    state: "connected",
    direction: "outbound",
    connected_since: 1,
    rtt_ms: 3,
  }];
  const global = [{
    id: B,
    ip: "10.0.0.2",
    port: 5001,
    node_type: "gpu",
    state: "available",
    last_seen: 2,
    failures: 0,
  }];
  const { app } = appWith((method) =>
    method === "network.peers.active" ? { peers: active } : { peers: global }
  );
  const first = await app.request("/api/v1/peers/active");
  assert.equal(first.status, 200);
  assert.deepEqual(await first.json(), {
    error_code: 0,
    error_message: "",
    data: { peers: active },
  });
  const second = await app.request("/api/v1/peers/global");
  assert.deepEqual((await second.json()).data.peers, global);
});

Deno.test("GET /api/v1/peers/:id/ping sends a sealed node.ping and reports the route", async () => {
  const { app, calls } = appWith(() => ({
    from: B,
    reply: { type: "node.pong", node_id: B, role: "gpu", version: "0.1.0", time: 5 },
    rtt_ms: 12,
    hops: 2,
    route: "relayed",
  }));
  const response = await app.request(`/api/v1/peers/${B}/ping`);
  assert.equal(response.status, 200);
  assert.deepEqual((await response.json()).data, {
    node_id: B,
    node_type: "gpu",
    version: "0.1.0",
    rtt_ms: 12,
    hops: 2,
    route: "relayed",
  });
  assert.deepEqual(calls[0], {
    method: "network.send",
    params: { to: B, payload: { type: "node.ping" }, timeout_ms: 10_000 },
  });
});

Deno.test("a ping to a malformed id is refused; one to a node that left says so", async () => {
  const { app, calls } = appWith(() => {
    throw new RpcError("not_found", `node ${B} has left the network`);
  });
  const bad = await app.request("/api/v1/peers/not-a-node/ping");
  assert.equal(bad.status, 400);
  assert.equal(calls.length, 0);
  const gone = await app.request(`/api/v1/peers/${B}/ping`);
  assert.equal(gone.status, 404);
  assert.match((await gone.json()).error_message, /left the network/);
});

Deno.test("a ping that times out is a 504 with the original time-out code", async () => {
  const { app } = appWith(() => {
    throw new RpcError("timeout", `no reply from node ${B} within 10000 ms`);
  });
  const response = await app.request(`/api/v1/peers/${B}/ping`);
  assert.equal(response.status, 504);
  assert.equal((await response.json()).error_code, -32700);
});
