/**
 * Requests to nodes that are not neighbours, over in-memory links on a virtual
 * clock (the node's own protocol code): found by lookup, sent on a request
 * link, never flooded; a node that is gone or unknown fails within the
 * time-out with a clear reason.
 */
import assert from "node:assert/strict";
import { base58 } from "@scure/base";
import { type Link, RequestFailed, type WireMessage } from "../../../network/mod.ts";
import { compareDistance, MAX_CALLS_PER_LINK, routingKey } from "../../../network/routing/mod.ts";
import { SimCluster, type SimNode } from "../../../scripts/sim/cluster.ts";

const FAST = { exchangeIntervalMs: 2_000, pingIntervalMs: 1_000, pingMisses: 3 };
const REQUEST_KINDS = new Set<WireMessage["t"]>(["find", "found", "call", "answer"]);

async function network(count: number) {
  const cluster = new SimCluster({
    seed: 11,
    // Small address books, so that most nodes know of most others only through a lookup.
    config: { targetOutbound: 3, maxInbound: 6, maxNewEntries: 4, maxTriedEntries: 4, ...FAST },
  });
  const seed = cluster.add({ role: "seed" });
  for (let index = 1; index < count; index++) cluster.add({ seeds: [seed.address] });
  const took = await cluster.clock.runUntil(() => cluster.converged(), 250, 120_000);
  assert.ok(took !== undefined, "every node reaches its outbound target");
  // Self-lookups done: the tables hold the nodes near each one.
  await cluster.clock.runFor(10_000);
  return cluster;
}

function farApart(cluster: SimCluster): [SimNode, SimNode] {
  for (const from of cluster.alive) {
    const linked = new Set(from.peer.neighbourIds());
    const to = cluster.alive.find((node) =>
      node !== from && !linked.has(node.id) && !from.peer.book.get(node.id) &&
      !from.peer.routingTable.get(node.id) &&
      !node.peer.neighbourIds().some((id) => linked.has(id))
    );
    if (to) return [from, to];
  }
  throw new Error("no two nodes more than two hops apart");
}

Deno.test("a request to a node more than two hops away is looked up and sent on a request link, never flooded", async () => {
  const cluster = await network(40);
  try {
    const [from, to] = farApart(cluster);
    const traffic: Array<{ from: string; to: string; message: WireMessage }> = [];
    cluster.network.tap = (sender, receiver, message) => {
      if (REQUEST_KINDS.has(message.t)) traffic.push({ from: sender, to: receiver, message });
    };
    const pending = from.peer.request(to.id, { type: "node.ping" }, 10_000);
    await cluster.clock.runFor(3_000);
    const result = await pending;
    assert.equal(result.reply.type === "node.pong" && result.reply.node_id, to.id);
    assert.equal(result.route, "direct");
    assert.equal(result.hops, 1);
    // The payload went to the target alone, once; everything else was lookup traffic.
    const calls = traffic.filter((entry) => entry.message.t === "call");
    assert.deepEqual(calls.map((entry) => [entry.from, entry.to]), [[from.id, to.id]]);
    const answers = traffic.filter((entry) => entry.message.t === "answer");
    assert.deepEqual(answers.map((entry) => [entry.from, entry.to]), [[to.id, from.id]]);
    console.log("first", traffic.map((e) => e.message.t).join(","));
    assert.ok(traffic.some((entry) => entry.message.t === "find"), "it took a lookup");
    assert.ok(traffic.length <= 40, `${traffic.length} messages for the first request`);
    assert.equal(from.peer.counters.request_links_opened, 1);

    // The next request takes the same link: one message each way.
    traffic.length = 0;
    const again = from.peer.request(to.id, { type: "node.ping" }, 10_000);
    await cluster.clock.runFor(1_000);
    assert.equal((await again).reply.type, "node.pong");
    assert.deepEqual(traffic.map((entry) => entry.message.t), ["call", "answer"]);
    assert.equal(from.peer.counters.request_links_opened, 1);
  } finally {
    for (const node of cluster.nodes) node.peer.stop();
  }
});

Deno.test("a node that crashed is reported gone, one that never was is not found, both within the time-out", async () => {
  const cluster = await network(24);
  try {
    const [from, to] = farApart(cluster);
    // Linked once, so the client-end keeps a request link (and the node's address).
    const first = from.peer.request(to.id, { type: "node.ping" }, 10_000);
    await cluster.clock.runFor(2_000);
    await first;
    cluster.crash(to);
    await cluster.clock.runFor(200);
    const startedAt = cluster.clock.now();
    const gone = from.peer.request(to.id, { type: "node.ping" }, 5_000);
    const goneOutcome = gone.then(() => undefined, (error) => error);
    await cluster.clock.runFor(5_000);
    const error = await goneOutcome;
    assert.ok(error instanceof RequestFailed, String(error));
    assert.ok(["gone", "no_route"].includes(error.reason), error.reason);
    assert.match(error.message, new RegExp(to.id));
    assert.ok(cluster.clock.now() - startedAt <= 5_000);

    const nobody = "12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq";
    const unknown = from.peer.request(nobody, { type: "node.ping" }, 5_000);
    const unknownOutcome = unknown.then(() => undefined, (failure) => failure);
    await cluster.clock.runFor(5_000);
    const missing = await unknownOutcome;
    assert.ok(missing instanceof RequestFailed);
    assert.equal(missing.reason, "no_route");
    assert.match(missing.message, /was not found: a lookup asked \d+ nodes/);
  } finally {
    for (const node of cluster.nodes) node.peer.stop();
  }
});

/** A well-formed node id without a key behind it, as the simulation makes them. */
function randomNodeId(): string {
  const bytes = new Uint8Array(38);
  bytes.set([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]);
  bytes.set(crypto.getRandomValues(new Uint8Array(32)), 6);
  return base58.encode(bytes);
}

Deno.test("a peer that answers lookups with lies costs a failed dial, never the request nor a wrong target", async () => {
  const cluster = await network(30);
  try {
    const [from, to] = farApart(cluster);
    // The liar's id is the nearest to the target of many: the client-end asks it first.
    const targetKey = routingKey(to.id);
    let liarId = randomNodeId();
    for (let index = 0; index < 4_000; index++) {
      const candidate = randomNodeId();
      if (compareDistance(routingKey(candidate), routingKey(liarId), targetKey) < 0) {
        liarId = candidate;
      }
    }
    const liarAddress = "10.66.0.1:5001";
    let asked = 0;
    const answerWithLies = (link: Link) =>
      link.attach({
        message: (message) => {
          if (message.t !== "find") return;
          asked++;
          // "The node you want is here", at the liar's own address, for whatever is asked.
          link.send({ t: "found", q: message.q, peers: [{ id: message.key, addr: liarAddress }] });
        },
        malformed: () => {},
        closed: () => {},
      });
    cluster.network.listen(liarAddress, liarId, answerWithLies);
    // It makes itself known to the client-end with a query of its own (so it is a contact).
    const link = await new Promise<Link>((resolve, reject) => {
      cluster.network.transport(liarId, "10.66.0.1").dial(from.address, from.id, 5_000)
        .then(resolve, reject);
      void cluster.clock.runFor(500);
    });
    answerWithLies(link);
    link.send({ t: "find", q: "hello", net: "dbc-sim", port: 5001, key: liarId });
    await cluster.clock.runFor(500);

    const dialsFailed = from.peer.counters.dials_failed;
    const pending = from.peer.request(to.id, { type: "node.ping" }, 10_000);
    await cluster.clock.runFor(5_000);
    const result = await pending;
    assert.equal(result.reply.type === "node.pong" && result.reply.node_id, to.id);
    assert.ok(asked >= 1, "the liar was asked");
    assert.ok(from.peer.counters.dials_failed > dialsFailed, "its address was dialled, and failed");
  } finally {
    for (const node of cluster.nodes) node.peer.stop();
  }
});

Deno.test("a request link carries at most MAX_CALLS_PER_LINK calls at once; each answer frees its place", async () => {
  const cluster = await network(24);
  try {
    const held: Array<() => void> = [];
    const target = cluster.add({
      seeds: [cluster.nodes[0]!.address],
      onAppRequest: () =>
        new Promise((resolve) =>
          held.push(() => resolve({ type: "app", topic: "test.echo", body: "done" }))
        ),
    });
    await cluster.clock.runFor(30_000);
    const from = cluster.alive.find((node) =>
      node !== target && node.role !== "seed" && !node.peer.neighbourIds().includes(target.id) &&
      !target.peer.neighbourIds().some((id) => node.peer.neighbourIds().includes(id))
    );
    assert.ok(from, "a node two hops or more from the target");
    const first = from.peer.request(target.id, { type: "node.ping" }, 10_000);
    await cluster.clock.runFor(3_000);
    assert.equal((await first).route, "direct", "the calls take a request link");

    const call = () =>
      from.peer.request(target.id, { type: "app", topic: "test.echo", body: "x" }, 60_000);
    const waiting = Array.from({ length: MAX_CALLS_PER_LINK }, call);
    await cluster.clock.runFor(500);
    assert.equal(held.length, MAX_CALLS_PER_LINK, "every call reached the target");
    const refused = await call().then(() => undefined, (error) => error);
    assert.ok(refused instanceof RequestFailed, String(refused));
    assert.equal(refused.reason, "busy");
    assert.equal(held.length, MAX_CALLS_PER_LINK, "the call over the limit was never sent");

    for (const release of held.splice(0)) release();
    await cluster.clock.runFor(500);
    for (const answer of await Promise.all(waiting)) {
      assert.equal(answer.reply.type === "app" && answer.reply.body, "done");
    }
    // The places are free again: as many calls as before fit.
    const again = Array.from({ length: MAX_CALLS_PER_LINK }, call);
    await cluster.clock.runFor(500);
    assert.equal(held.length, MAX_CALLS_PER_LINK);
    for (const release of held.splice(0)) release();
    await cluster.clock.runFor(500);
    assert.equal((await Promise.all(again)).length, MAX_CALLS_PER_LINK);
    assert.equal(from.peer.counters.request_links_opened, 1);
  } finally {
    for (const node of cluster.nodes) node.peer.stop();
  }
});
