/**
 * Plumtree (network/broadcast/) over in-memory links on a virtual clock: the
 * same PeerNode code the node runs. A broadcast reaches every node once and,
 * once the tree is pruned, costs one full copy per node; a broken tree is
 * mended through the announced ids; repair requests cannot be used to pull
 * copies over and over. Hostile peers use real keys and signatures.
 */
import assert from "node:assert/strict";
import { generateNodeKeys } from "../../mod/mod.ts";
import {
  type Broadcast,
  broadcastSignedBytes,
  encodeBase64,
  nodeAuthenticator,
} from "../../network/mod.ts";
import { MessageCache, MissingIds } from "../../network/broadcast/mod.ts";
import { SimCluster, type SimNode } from "../../scripts/sim/cluster.ts";
import { rawConnect } from "./raw_peer.ts";

const FAST = { exchangeIntervalMs: 1_000, pingIntervalMs: 500, pingMisses: 3 };
const NOBLE = { signatures: "noble" } as const;

async function network(count: number, options: ConstructorParameters<typeof SimCluster>[0] = {}) {
  const cluster = new SimCluster({
    seed: 11,
    ...options,
    config: { targetOutbound: 4, maxInbound: 8, ...FAST, ...options.config },
  });
  const seed = cluster.add({ role: "seed" });
  for (let index = 1; index < count; index++) cluster.add({ seeds: [seed.address] });
  const took = await cluster.clock.runUntil(() => cluster.converged(), 250, 120_000);
  assert.ok(took !== undefined, "every node reaches its outbound target");
  return cluster;
}

const total = (cluster: SimCluster, read: (node: SimNode) => number) =>
  cluster.nodes.reduce((sum, node) => sum + read(node), 0);
const payloads = (cluster: SimCluster) =>
  total(cluster, (node) => node.peer.messageCounts.sent.bcast);

async function broadcastFrom(cluster: SimCluster, origin: SimNode, index: number) {
  const before = payloads(cluster);
  const { nonce } = await origin.peer.broadcast("test.tree", { index });
  await cluster.clock.runFor(5_000);
  const alive = cluster.alive;
  for (const node of alive) {
    assert.equal(node.deliveries.get(nonce) ?? 0, node === origin ? 0 : 1, `${node.id} once`);
  }
  return (payloads(cluster) - before) / alive.length;
}

function stopAll(cluster: SimCluster) {
  for (const node of cluster.nodes) node.peer.stop();
}

Deno.test("a broadcast reaches every node once; once the tree is pruned it costs one copy a node", async () => {
  const cluster = await network(40);
  try {
    const links = total(cluster, (node) => node.peer.neighbourIds().length) / cluster.nodes.length;
    const first = await broadcastFrom(cluster, cluster.nodes[7]!, 0);
    assert.ok(first < links, `the first copies a node (${first}) stay below its links (${links})`);
    assert.ok(total(cluster, (node) => node.peer.counters.broadcast_prunes) > 0, "links pruned");
    const later: number[] = [];
    for (let index = 1; index <= 5; index++) {
      const origin = cluster.nodes[(index * 13) % cluster.nodes.length]!;
      later.push(await broadcastFrom(cluster, origin, index));
    }
    // A spanning tree carries a broadcast to N - 1 nodes with N - 1 copies.
    const tree = (cluster.nodes.length - 1) / cluster.nodes.length;
    for (const cost of later.slice(1)) assert.ok(cost <= tree + 0.05, `copies a node: ${later}`);
    for (const node of cluster.nodes) {
      const { eager, lazy } = node.peer.broadcastTree();
      assert.equal(eager.length + lazy.length, node.peer.neighbourIds().length);
    }
    // The small announcements went over the other links.
    assert.ok(total(cluster, (node) => node.peer.messageCounts.sent.ihave) > 0);
  } finally {
    stopAll(cluster);
  }
});

Deno.test("a tree broken by departures is mended through announced ids, and everyone still gets it once", async () => {
  const cluster = await network(40);
  try {
    for (let index = 0; index < 3; index++) {
      await broadcastFrom(cluster, cluster.nodes[index * 5 + 1]!, index);
    }
    // The tree's busiest inner nodes go at once: their subtrees hear of the next broadcast
    // only by id, before anyone has noticed the departures.
    const inner = cluster.nodes.slice(1)
      .sort((a, b) => b.peer.broadcastTree().eager.length - a.peer.broadcastTree().eager.length)
      .slice(0, 3);
    for (const node of inner) cluster.cut(node);
    const grafts = total(cluster, (node) => node.peer.counters.broadcast_grafts);
    const origin = cluster.alive.find((node) => node.peer.broadcastTree().eager.length > 0)!;
    await broadcastFrom(cluster, origin, 99);
    assert.ok(
      total(cluster, (node) => node.peer.counters.broadcast_grafts) > grafts,
      "missing ids were asked for",
    );
  } finally {
    stopAll(cluster);
  }
});

async function signedBroadcast(keys: ReturnType<typeof generateNodeKeys>, ts: number) {
  const fields = {
    nonce: encodeBase64(crypto.getRandomValues(new Uint8Array(16))),
    origin: keys.nodeId,
    ts,
    topic: "test.tree",
    body: '{"x":1}',
  };
  const sig = await nodeAuthenticator(keys.privateKey, NOBLE).sign(
    broadcastSignedBytes("dbc-sim", fields),
  );
  return { t: "bcast", ...fields, hops: 8, sig: encodeBase64(sig) } satisfies Broadcast;
}

Deno.test("repair requests get each copy once per peer; a duplicate prunes the link; invented ids cost nothing", async () => {
  const cluster = await network(8, {
    crypto: "real",
    config: { targetOutbound: 2, maxInbound: 4 },
  });
  try {
    const victim = cluster.nodes[3]!;
    const keys = generateNodeKeys();
    const auth = nodeAuthenticator(keys.privateKey, NOBLE);
    const transport = cluster.network.transport(keys.nodeId, "10.99.0.1");
    const connecting = rawConnect(transport, victim.address, {
      selfId: keys.nodeId,
      auth,
      networkId: "dbc-sim",
      now: cluster.clock.now(),
    });
    await cluster.clock.runFor(500);
    const peer = await connecting;
    await cluster.clock.runFor(500);
    assert.equal(peer.received[0]?.t, "hello");

    // A broadcast from another node: the victim relays it, or announces it to us.
    const origin = cluster.nodes[6]!;
    const { nonce } = await origin.peer.broadcast("test.tree", { n: 1 });
    await cluster.clock.runFor(2_000);
    const copies = () =>
      peer.received.filter((message) => message.t === "bcast" && message.nonce === nonce).length;
    const before = copies();
    peer.send({ t: "graft", ids: [nonce] });
    peer.send({ t: "graft", ids: [nonce, nonce] });
    await cluster.clock.runFor(1_000);
    assert.equal(copies(), 1, "one copy, pushed or asked for, however often asked");
    assert.ok(before <= 1);

    // Our own genuine broadcast, sent twice: the second copy is a duplicate, and the victim
    // asks us to push no more over this link.
    const message = await signedBroadcast(keys, cluster.clock.now());
    peer.send(message);
    await cluster.clock.runFor(500);
    peer.send(message);
    await cluster.clock.runFor(500);
    assert.ok(peer.received.some((received) => received.t === "prune"));
    assert.ok(victim.peer.broadcastTree().lazy.includes(keys.nodeId));

    // Ids nobody will ever send: asked for once, then given up; the link stays.
    const invented = Array.from(
      { length: 64 },
      () => encodeBase64(crypto.getRandomValues(new Uint8Array(16))),
    );
    peer.send({ t: "ihave", ids: invented });
    await cluster.clock.runFor(5_000);
    // Asked for together, in one message: an announcement cannot be turned into many.
    const asked = peer.received.filter((received) =>
      received.t === "graft" && received.ids.includes(invented[0]!)
    );
    assert.equal(asked.length, 1);
    assert.deepEqual(asked[0]!.t === "graft" && [...asked[0]!.ids].sort(), [...invented].sort());
    assert.equal(peer.isClosed(), false);
    assert.equal(victim.deliveries.size, 2, "only the two genuine broadcasts were delivered");
  } finally {
    stopAll(cluster);
  }
});

Deno.test("the message cache keeps within its count, bytes and time; missing ids within their bound", () => {
  const cache = new MessageCache({ ttlMs: 1_000, maxEntries: 3, maxBytes: 4_000 });
  const message = (nonce: string, body = "{}") =>
    ({
      t: "bcast",
      nonce,
      origin: "o",
      ts: 0,
      hops: 1,
      topic: "t",
      body,
      sig: "",
    }) as Broadcast;
  for (const nonce of ["a", "b", "c", "d"]) cache.add(message(nonce), 0);
  assert.equal(cache.size, 3);
  assert.equal(cache.takeFor("a", "p", 0), undefined, "the oldest went first");
  assert.ok(cache.takeFor("b", "p", 0));
  assert.equal(cache.takeFor("b", "p", 0), undefined, "once per peer");
  assert.ok(cache.takeFor("b", "q", 0));
  cache.add(message("big", "x".repeat(3_000)), 10);
  assert.ok(cache.bytes <= 4_000);
  assert.equal(cache.takeFor("big", "p", 2_000), undefined, "expired");
  assert.equal(cache.size, 0);

  const missing = new MissingIds({ maxIds: 2, maxAnnouncers: 2 });
  assert.equal(missing.announce("x", "p"), true);
  assert.equal(missing.announce("x", "q"), false);
  assert.equal(missing.announce("x", "r"), false, "announcers beyond the bound are not kept");
  assert.equal(missing.announce("y", "p"), true);
  assert.equal(missing.announce("z", "p"), false, "ids beyond the bound are ignored");
  assert.equal(missing.nextAnnouncer("x", () => true), "p");
  assert.equal(missing.nextAnnouncer("x", (id) => id !== "q"), undefined);
  assert.equal(missing.has("x"), false, "no announcer left: given up");
});
