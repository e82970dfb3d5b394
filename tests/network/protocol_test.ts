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
  decodeBase64,
  encodeBase64,
  nodeAuthenticator,
  removalBoundMs,
  type Sealed,
  sealedHeaderBytes,
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

function nonNeighbours(cluster: SimCluster): [SimNode, SimNode] {
  for (const from of cluster.alive) {
    const to = cluster.alive.find((node) => node !== from && !from.peer.isLinked(node.id));
    if (to) return [from, to];
  }
  throw new Error("the network is a complete graph");
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

Deno.test("a sealed request reaches a non-neighbour and its reply comes back; relays cannot open it", async () => {
  const cluster = await network(8, {
    crypto: "real",
    config: { targetOutbound: 2, maxInbound: 3 },
  });
  try {
    const captured: Array<{ from: string; to: string; message: Sealed }> = [];
    cluster.network.tap = (from, to, message) => {
      if (message.t === "sealed") captured.push({ from, to, message });
    };
    const [from, to] = nonNeighbours(cluster);
    const pending = from.peer.sealedRequest(to.id, { type: "node.ping" }, 10_000);
    await cluster.clock.runFor(3_000);
    const result = await pending;
    assert.equal(result.reply.type, "node.pong");
    assert.equal(result.reply.type === "node.pong" && result.reply.node_id, to.id);
    assert.equal(result.route, "relayed");
    assert.ok(result.hops >= 2);
    const request = captured.find((entry) => entry.message.target === to.id && entry.to === to.id);
    assert.ok(request, "the request reached the target through a relay");
    const relay = cluster.nodes.find((node) => node.id === request.from)!;
    assert.notEqual(relay.id, from.id);
    const { message } = request;
    const header = sealedHeaderBytes("dbc-sim", message);
    const box = [decodeBase64(message.eph)!, header, decodeBase64(message.ct)!] as const;
    assert.equal(await relay.auth.open(...box), undefined, "the relay cannot read it");
    assert.ok(await to.auth.open(...box), "the target can");
    assert.equal(relay.peer.counters.sealed_delivered, 0);
    assert.ok(relay.peer.counters.sealed_relayed > 0);
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

Deno.test("a sealed message altered in transit is refused, whichever part was changed", async () => {
  const cluster = await network(8, {
    crypto: "real",
    config: { targetOutbound: 2, maxInbound: 3 },
  });
  try {
    const captured: Sealed[] = [];
    cluster.network.tap = (_from, _to, message) => {
      if (message.t === "sealed") captured.push(message);
    };
    const [from, to] = nonNeighbours(cluster);
    const pending = from.peer.sealedRequest(to.id, { type: "node.ping" }, 10_000);
    await cluster.clock.runFor(3_000);
    await pending;
    const original = captured.find((message) => message.target === to.id)!;
    const victim = to;
    const flip = (text: string) => {
      const bytes = decodeBase64(text)!;
      bytes[0]! ^= 1;
      return encodeBase64(bytes);
    };
    const fresh = () => encodeBase64(crypto.getRandomValues(new Uint8Array(16)));
    const variants: Sealed[] = [
      { ...original, nonce: fresh(), ct: flip(original.ct) },
      { ...original, nonce: fresh() },
      { ...original, nonce: fresh(), target: from.id },
      { ...original, nonce: fresh(), ts: original.ts + 1 },
      { ...original, nonce: fresh(), eph: flip(original.eph) },
    ];
    for (const variant of variants) {
      const attacker = await rogue(cluster, victim);
      const forged = victim.peer.counters.forged_dropped;
      const delivered = victim.peer.counters.sealed_delivered;
      attacker.peer.send(variant);
      await cluster.clock.runFor(1_000);
      assert.equal(
        victim.peer.counters.forged_dropped,
        forged + 1,
        JSON.stringify(variant).slice(0, 80),
      );
      assert.equal(victim.peer.counters.sealed_delivered, delivered);
      assert.ok(attacker.peer.isClosed());
    }
    // The untouched original, replayed: a duplicate.
    const attacker = await rogue(cluster, victim);
    const duplicates = victim.peer.counters.sealed_duplicates;
    attacker.peer.send(original);
    await cluster.clock.runFor(1_000);
    assert.equal(victim.peer.counters.sealed_duplicates, duplicates + 1);
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
