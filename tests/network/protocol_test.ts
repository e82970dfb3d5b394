/**
 * The protocol (network/peer_node.ts and its parts) over in-memory links on a
 * virtual clock: the same code the node runs, many nodes in one process.
 * Hostile cases use real keys and signatures.
 */
import assert from "node:assert/strict";
import { generateNodeKeys, type NodeKeys } from "../../mod/mod.ts";
import {
  type Broadcast,
  broadcastSignedBytes,
  encodeBase64,
  nodeAuthenticator,
  removalBoundMs,
  type WireMessage,
} from "../../network/mod.ts";
import { SimCluster, type SimNode } from "../../scripts/sim/cluster.ts";
import { rawConnect } from "./raw_peer.ts";

/** Synchronous signatures keep hostile peers in step with the virtual clock. */
const NOBLE = { signatures: "noble" } as const;
const FAST = { exchangeIntervalMs: 1_000, pingIntervalMs: 500, pingMisses: 3 };

/**
 * `count` nodes joined through one seed. Small networks need target + inbound cap below the
 * node count: the first joiners fill the seed's inbound slots, and it still dials out.
 */
async function network(
  count: number,
  options: ConstructorParameters<typeof SimCluster>[0] & { converge?: boolean } = {},
) {
  const cluster = new SimCluster({
    seed: 7,
    ...options,
    config: { targetOutbound: 3, maxInbound: 6, ...FAST, ...options.config },
  });
  const seed = cluster.add({ role: "seed" });
  for (let index = 1; index < count; index++) cluster.add({ seeds: [seed.address] });
  if (options.converge === false) {
    await cluster.clock.runFor(5_000);
    return cluster;
  }
  const took = await cluster.clock.runUntil(() => cluster.converged(), 250, 120_000);
  assert.ok(took !== undefined, "every node reaches its outbound target");
  return cluster;
}

function stopAll(cluster: SimCluster) {
  for (const node of cluster.nodes) node.peer.stop();
}

Deno.test("joining through one seed, every node reaches its target; a broadcast arrives once everywhere", async () => {
  const cluster = await network(16);
  try {
    const origin = cluster.nodes[5]!;
    const { nonce } = await origin.peer.broadcast("test.hello", { n: 1 });
    await cluster.clock.runFor(5_000);
    for (const node of cluster.nodes) {
      assert.equal(node.deliveries.get(nonce) ?? 0, node === origin ? 0 : 1, node.id);
    }
    const duplicates = cluster.nodes.reduce(
      (sum, node) => sum + node.peer.counters.broadcast_duplicates,
      0,
    );
    const relayed = cluster.nodes.reduce(
      (sum, node) => sum + node.peer.counters.broadcasts_relayed,
      0,
    );
    // Every copy beyond the first at each node was dropped (and not passed on).
    assert.equal(relayed, duplicates + cluster.nodes.length - 1);
    assert.ok(duplicates > 0);
  } finally {
    stopAll(cluster);
  }
});

async function rogue(cluster: SimCluster, target: SimNode, keys: NodeKeys = generateNodeKeys()) {
  const auth = nodeAuthenticator(keys.privateKey, NOBLE);
  const transport = cluster.network.transport(keys.nodeId, "10.99.0.1");
  const peerPromise = rawConnect(transport, target.address, {
    selfId: keys.nodeId,
    auth,
    networkId: "dbc-sim",
    now: cluster.clock.now(),
  });
  await cluster.clock.runFor(500);
  const peer = await peerPromise;
  await cluster.clock.runFor(500);
  return { peer, keys, auth };
}

async function signedBroadcast(
  keys: NodeKeys,
  ts: number,
  topic = "test.flood",
  nonce = encodeBase64(crypto.getRandomValues(new Uint8Array(16))),
): Promise<Broadcast> {
  const fields = { nonce, origin: keys.nodeId, ts, topic, body: '{"x":1}' };
  const sig = await nodeAuthenticator(keys.privateKey, NOBLE).sign(
    broadcastSignedBytes("dbc-sim", fields),
  );
  return { t: "bcast", ...fields, hops: 8, sig: encodeBase64(sig) };
}

Deno.test("tampered and replayed messages are dropped; the peer that sent a forgery is cut off", async () => {
  const cluster = await network(6, {
    crypto: "real",
    config: { nonceTtlMs: 20_000, targetOutbound: 2, maxInbound: 3 },
  });
  try {
    const victim = cluster.nodes[2]!;
    const honest = await rogue(cluster, victim);
    assert.equal(honest.peer.received[0]?.t, "hello", "the handshake went through");
    const original = await signedBroadcast(honest.keys, cluster.clock.now());
    honest.peer.send(original);
    await cluster.clock.runFor(2_000);
    const delivered = () =>
      cluster.nodes.filter((node) => node.deliveries.get(original.nonce) === 1).length;
    assert.equal(delivered(), cluster.nodes.length, "the genuine broadcast reached everyone once");

    // The same message again: a duplicate, dropped and not passed on.
    const before = victim.peer.counters.broadcast_duplicates;
    honest.peer.send(original);
    await cluster.clock.runFor(1_000);
    assert.equal(victim.peer.counters.broadcast_duplicates, before + 1);
    assert.equal(delivered(), cluster.nodes.length);

    // Replayed after its nonce has left the cache: refused by its time stamp.
    await cluster.clock.runFor(25_000);
    const stale = victim.peer.counters.stale_dropped;
    honest.peer.send(original);
    await cluster.clock.runFor(1_000);
    assert.equal(victim.peer.counters.stale_dropped, stale + 1);
    assert.equal(victim.deliveries.get(original.nonce), 1);
    assert.equal(honest.peer.isClosed(), false, "replays cost a peer nothing worse than a drop");

    // An altered body no longer matches its signature: dropped, and its sender cut off.
    const forged = {
      ...(await signedBroadcast(honest.keys, cluster.clock.now())),
      body: '{"x":2}',
    };
    honest.peer.send(forged);
    await cluster.clock.runFor(1_000);
    assert.equal(victim.deliveries.get(forged.nonce), undefined);
    assert.equal(victim.peer.counters.forged_dropped, 1);
    assert.ok(honest.peer.isClosed());
    assert.deepEqual(honest.peer.received.at(-1), { t: "bye", reason: "misbehaving" });
  } finally {
    stopAll(cluster);
  }
});

Deno.test("only the node asked answers a request: an answer in its name from another peer is ignored", async () => {
  // Every link takes 40 ms: a forged answer sent as the call leaves arrives 40 ms before the
  // genuine one can.
  const cluster = await network(8, {
    crypto: "real",
    latencyMs: [40, 40],
    config: { targetOutbound: 2, maxInbound: 3 },
  });
  try {
    // A requester with room for one more inbound link: the liar's.
    const from = cluster.alive.find((node) =>
      node.peer.status().inbound < 3 &&
      cluster.alive.some((other) => other !== node && !node.peer.isLinked(other.id))
    )!;
    const to = cluster.alive.find((node) => node !== from && !from.peer.isLinked(node.id))!;
    const liar = await rogue(cluster, from);
    assert.equal(liar.peer.received[0]?.t, "hello", "the liar is the requester's neighbour");
    let forged = 0;
    cluster.network.tap = (sender, receiver, message) => {
      if (message.t !== "call" || sender !== from.id || receiver !== to.id) return;
      forged++;
      liar.peer.send({
        t: "answer",
        q: message.q,
        p: { type: "node.pong", node_id: to.id, role: "gpu", version: "forged", time: 0 },
      });
    };
    const pending = from.peer.request(to.id, { type: "node.ping" }, 5_000);
    await cluster.clock.runFor(3_000);
    const { reply } = await pending;
    assert.equal(forged, 1, "the call went out once, on a request link");
    assert.equal(reply.type, "node.pong");
    assert.equal(reply.type === "node.pong" && reply.node_id, to.id);
    assert.notEqual(reply.type === "node.pong" && reply.version, "forged");
  } finally {
    stopAll(cluster);
  }
});

Deno.test("a peer with the wrong network id, a bad key proof or a borrowed id is refused", async () => {
  const cluster = await network(3, { crypto: "real", converge: false });
  try {
    const target = cluster.nodes[0]!;
    const cases: Array<
      [string, Parameters<typeof rawConnect>[2] extends infer O ? Partial<O> : never, string]
    > = [
      ["another network", { fields: { net: "other-net" } }, "wrong_network"],
      ["another protocol version", { fields: { v: 99 } }, "version"],
      ["a proof by another key", {
        tamper: (hello) => ({ ...hello, proof: encodeBase64(new Uint8Array(64).fill(7)) }),
      }, "bad_proof"],
      ["a proof for someone else", { fields: { to: cluster.nodes[1]!.id } }, "bad_proof"],
      ["a stale time stamp", { fields: { ts: cluster.clock.now() - 3_600_000 } }, "clock"],
    ];
    for (const [what, options, reason] of cases) {
      const keys = generateNodeKeys();
      const connecting = rawConnect(
        cluster.network.transport(keys.nodeId, "10.99.0.2"),
        target.address,
        {
          selfId: keys.nodeId,
          auth: nodeAuthenticator(keys.privateKey, NOBLE),
          networkId: "dbc-sim",
          now: cluster.clock.now(),
          ...options,
        },
      );
      await cluster.clock.runFor(1_000);
      const peer = await connecting;
      await cluster.clock.runFor(1_000);
      assert.deepEqual(peer.received.map((m) => m.t === "refuse" ? m.reason : m.t), [reason], what);
      assert.ok(peer.isClosed(), what);
      assert.equal(target.peer.isLinked(keys.nodeId), false, what);
    }
    // A hello claiming another node's id on our link: the transport-authenticated id decides.
    const keys = generateNodeKeys();
    const impostor = generateNodeKeys();
    const connecting = rawConnect(
      cluster.network.transport(keys.nodeId, "10.99.0.3"),
      target.address,
      {
        selfId: impostor.nodeId,
        auth: nodeAuthenticator(impostor.privateKey, NOBLE),
        networkId: "dbc-sim",
        now: cluster.clock.now(),
      },
    );
    await cluster.clock.runFor(1_000);
    const peer = await connecting;
    await cluster.clock.runFor(1_000);
    assert.deepEqual(peer.received.map((m) => m.t === "refuse" ? m.reason : m.t), ["bad_proof"]);
  } finally {
    stopAll(cluster);
  }
});

Deno.test("a node that leaves, crashes or is cut off is forgotten by every other node", async () => {
  const cluster = await network(24, { config: { targetOutbound: 3, maxInbound: 8 } });
  try {
    // A goodbye or a dropped link skips the missed pings; a cut cable is the configured bound.
    const bound = { leave: 10_000, crash: 10_000, cut: removalBoundMs(FAST) };
    for (
      const [how, node] of [["leave", cluster.nodes[3]!], ["crash", cluster.nodes[9]!], [
        "cut",
        cluster.nodes[15]!,
      ]] as const
    ) {
      assert.equal(cluster.forgotten(node.id), false);
      cluster[how](node);
      const took = await cluster.clock.runUntil(() => cluster.forgotten(node.id), 100, 120_000);
      assert.ok(took !== undefined && took <= bound[how], `${how}: forgotten after ${took} ms`);
    }
    // Those left behind top their links up again.
    const took = await cluster.clock.runUntil(() => cluster.converged(), 250, 60_000);
    assert.ok(took !== undefined);
  } finally {
    stopAll(cluster);
  }
});

Deno.test("a node wrongly reported gone refutes it and stays known", async () => {
  const cluster = await network(10);
  try {
    const [victim] = [...cluster.nodes].sort((a, b) =>
      a.peer.neighbourIds().length - b.peer.neighbourIds().length
    ) as [SimNode];
    const neighbour = cluster.nodes.find((node) =>
      node !== victim && !node.peer.isLinked(victim.id)
    )!;
    const before = victim.peer.incarnation;
    // A rogue link into a node that is not the victim's neighbour spreads a false departure.
    const keys = generateNodeKeys();
    const connecting = rawConnect(
      cluster.network.transport(keys.nodeId, "10.99.0.4"),
      neighbour.address,
      {
        selfId: keys.nodeId,
        auth: nodeAuthenticator(keys.privateKey, NOBLE),
        networkId: "dbc-sim",
        now: cluster.clock.now(),
      },
    );
    await cluster.clock.runFor(1_000);
    const liar = await connecting;
    await cluster.clock.runFor(500);
    liar.send({ t: "peers", peers: [], gone: [{ id: victim.id, inc: before, age: 0 }] });
    await cluster.clock.runFor(10_000);
    assert.ok(victim.peer.incarnation > before, "the victim raised its incarnation");
    assert.equal(victim.peer.counters.refutations, 1);
    const known = await cluster.clock.runUntil(
      () =>
        cluster.alive.filter((node) => node !== victim).every((node) =>
          node.peer.book.get(victim.id)
        ),
      500,
      60_000,
    );
    assert.ok(known !== undefined, "every node lists the victim again");
  } finally {
    stopAll(cluster);
  }
});

Deno.test("a flooding peer is cut off; a flood of unique nonces keeps the cache within its bound", async () => {
  const cluster = await network(4, {
    crypto: "real",
    converge: false,
    config: { rateLimitPerS: 50, nonceCacheSize: 200 },
  });
  try {
    const victim = cluster.nodes[1]!;
    // Within the rate limit, over many seconds: the cache stays at its bound.
    const steady = await rogue(cluster, victim);
    for (let second = 0; second < 20; second++) {
      for (let index = 0; index < 40; index++) {
        steady.peer.send(await signedBroadcast(steady.keys, cluster.clock.now()));
      }
      await cluster.clock.runFor(1_000);
    }
    assert.equal(steady.peer.isClosed(), false);
    const status = victim.peer.status();
    assert.equal(status.nonceCache.size, 200);
    assert.ok(status.nonceCache.evictedEarly >= 600);
    // Over the budget, short of a flood (three times the rate, for seconds): the excess is dropped,
    // the link stays. A relay carrying many nodes' traffic looks like this.
    const busy = await rogue(cluster, victim);
    const idle: WireMessage = { t: "peers", peers: [], gone: [] };
    const shedBefore = victim.peer.counters.messages_shed;
    for (let second = 0; second < 5; second++) {
      for (let index = 0; index < 150; index++) busy.peer.send(idle);
      await cluster.clock.runFor(1_000);
    }
    assert.equal(busy.peer.isClosed(), false);
    assert.ok(victim.peer.counters.messages_shed - shedBefore >= 300);
    assert.equal(victim.peer.counters.rate_limited, 0);
    // Far over the rate limit: disconnected.
    const flooder = await rogue(cluster, victim);
    for (let index = 0; index < 500; index++) flooder.peer.send(idle);
    await cluster.clock.runFor(1_000);
    assert.ok(flooder.peer.isClosed());
    assert.ok(victim.peer.counters.rate_limited >= 1);
    assert.equal(victim.peer.isLinked(flooder.keys.nodeId), false);
  } finally {
    stopAll(cluster);
  }
});
