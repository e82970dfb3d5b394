/**
 * The hand-over of retained market broadcasts to a node that joins late
 * (network/broadcast/retained.ts, plumtree.ts), against a neighbour that lies:
 * pages nobody asked for, broadcasts its origin did not sign, ones too old or
 * from the future, a topic nobody retains, a second request on one link, an
 * answer that never ends or ends early, pages past the frame limit. The honest
 * node delivers nothing forged or stale, cuts off the sender where the code says
 * so, and still gets the real market from an honest neighbour. PeerNodes over
 * in-memory links on a virtual clock with real Ed25519 keys; the hostile peer
 * speaks the wire protocol by hand.
 */
import assert from "node:assert/strict";
import { generateNodeKeys, type NodeKeys, SERVICE_SUMMARY_TOPIC } from "../../mod/mod.ts";
import {
  type Broadcast,
  broadcastSignedBytes,
  decodeWireMessage,
  encodeBase64,
  encodeFrame,
  FrameDecoder,
  MAX_CLOCK_SKEW_MS,
  MAX_FRAME_BYTES,
  MAX_RETAINED_PAGE,
  nodeAuthenticator,
  type WireMessage,
} from "../../network/mod.ts";
import {
  RETAINED_ANSWER_MS,
  RETAINED_MAX_AGE_MS,
  RetainedBroadcasts,
} from "../../network/broadcast/mod.ts";
import { SimCluster, type SimNode } from "../../scripts/sim/cluster.ts";
import { rawConnect, type RawPeer } from "./raw_peer.ts";

const FAST = { exchangeIntervalMs: 1_000, pingIntervalMs: 500, pingMisses: 3 };
const NOBLE = { signatures: "noble" } as const;
const NETWORK_ID = "dbc-sim";
const GPU_NODES = 5;
/** Time for a few messages to cross the in-memory links (10-80 ms each). */
const SETTLE_MS = 2_000;

type Market = { cluster: SimCluster; gpus: SimNode[]; genuine: Set<string> };

/** A small network whose GPU nodes have each broadcast one market summary. */
async function market(): Promise<Market> {
  const cluster = new SimCluster({
    seed: 23,
    crypto: "real",
    config: { targetOutbound: 2, maxInbound: 6, ...FAST },
  });
  const seed = cluster.add({ role: "seed" });
  const gpus: SimNode[] = [];
  for (let index = 0; index < GPU_NODES; index++) gpus.push(cluster.add({ seeds: [seed.address] }));
  // The seed dials nobody (it has no target of its own to reach here): the GPU nodes do.
  const linked = () => gpus.every((gpu) => gpu.peer.outboundCount >= 2);
  const took = await cluster.clock.runUntil(linked, 250, 60_000);
  assert.ok(took !== undefined, "every GPU node reaches its outbound target");
  const genuine = new Set<string>();
  for (const [index, gpu] of gpus.entries()) {
    genuine.add((await gpu.peer.broadcast(SERVICE_SUMMARY_TOPIC, { gpu: index })).nonce);
  }
  await cluster.clock.runFor(SETTLE_MS);
  for (const node of cluster.nodes) {
    assert.equal(node.peer.retainedBroadcasts([SERVICE_SUMMARY_TOPIC]).length, GPU_NODES);
  }
  return { cluster, gpus, genuine };
}

/** A client-end that knows nobody yet: its first link is the one the test opens to it. */
function lateJoiner(cluster: SimCluster): SimNode {
  return cluster.add({ role: "client", seeds: [] });
}

/** The late joiner learns an honest node's address and dials it. */
async function linkHonest(cluster: SimCluster, joiner: SimNode, honest: SimNode) {
  joiner.peer.restore([{
    id: honest.id,
    address: honest.address,
    role: honest.role,
    incarnation: 0,
    lastSeen: cluster.clock.now(),
    tried: false,
    failures: 0,
    retryAt: 0,
  }]);
  await cluster.clock.runFor(SETTLE_MS);
  assert.ok(joiner.peer.isLinked(honest.id), "linked to the honest node");
}

type Hostile = { keys: NodeKeys; peer: RawPeer };

let hostHost = 0;
async function hostile(cluster: SimCluster, victim: SimNode): Promise<Hostile> {
  const keys = generateNodeKeys();
  const transport = cluster.network.transport(keys.nodeId, `10.99.0.${++hostHost}`);
  const connecting = rawConnect(transport, victim.address, {
    selfId: keys.nodeId,
    auth: nodeAuthenticator(keys.privateKey, NOBLE),
    networkId: NETWORK_ID,
    now: cluster.clock.now(),
  });
  await cluster.clock.runFor(500);
  const peer = await connecting;
  await cluster.clock.runFor(500);
  assert.equal(peer.received[0]?.t, "hello");
  assert.ok(victim.peer.isLinked(keys.nodeId), "the hostile peer is linked");
  return { keys, peer };
}

/** A market broadcast signed with `signer`'s key, claiming `origin` (the signer's own id unless given). */
async function signed(
  signer: NodeKeys,
  ts: number,
  options: { origin?: string; topic?: string; body?: string } = {},
): Promise<Broadcast> {
  const fields = {
    nonce: encodeBase64(crypto.getRandomValues(new Uint8Array(16))),
    origin: options.origin ?? signer.nodeId,
    ts,
    topic: options.topic ?? SERVICE_SUMMARY_TOPIC,
    body: options.body ?? '{"gpu":"hostile"}',
  };
  const sig = await nodeAuthenticator(signer.privateKey, NOBLE).sign(
    broadcastSignedBytes(NETWORK_ID, fields),
  );
  return { t: "bcast", ...fields, hops: 8, sig: encodeBase64(sig) };
}

const asked = (peer: RawPeer) =>
  peer.received.filter((message) => message.t === "retained_req").length;
const delivered = (node: SimNode) => new Set(node.deliveries.keys());

function stopAll(cluster: SimCluster) {
  for (const node of cluster.nodes) node.peer.stop();
}

Deno.test("pages nobody asked for cut the sender off and deliver nothing", async () => {
  const { cluster, gpus, genuine } = await market();
  try {
    const joiner = lateJoiner(cluster);
    await linkHonest(cluster, joiner, gpus[0]!);
    assert.deepEqual(delivered(joiner), genuine, "the honest neighbour handed the market over");
    const { keys, peer } = await hostile(cluster, joiner);
    assert.equal(asked(peer), 0, "the hand-over is done: nobody else is asked");
    // Genuinely signed by its origin: only the unasked page is wrong.
    const unasked = await signed(keys, cluster.clock.now());
    peer.send({ t: "retained", msgs: [unasked], last: true });
    await cluster.clock.runFor(SETTLE_MS);
    assert.ok(peer.isClosed(), "cut off");
    assert.equal(joiner.peer.counters.misbehaving_peers, 1);
    assert.equal(joiner.deliveries.has(unasked.nonce), false);
    assert.equal(joiner.peer.isLinked(gpus[0]!.id), true, "the honest link stays");
  } finally {
    stopAll(cluster);
  }
});

for (
  const lie of [
    { name: "a broadcast its origin did not sign", last: false, forged: true },
    {
      name: "a broadcast its origin did not sign, in a page marked last",
      last: true,
      forged: true,
    },
    { name: "a broadcast on a topic nobody retains, marked last", last: true, forged: false },
  ]
) {
  Deno.test(`an answer with ${lie.name}: cut off, nothing delivered, the next neighbour asked`, async () => {
    const { cluster, gpus, genuine } = await market();
    try {
      const joiner = lateJoiner(cluster);
      const { keys, peer } = await hostile(cluster, joiner);
      assert.equal(asked(peer), 1, "the first neighbour is asked");
      await linkHonest(cluster, joiner, gpus[1]!);
      assert.equal(joiner.deliveries.size, 0, "only the first neighbour was asked");
      const now = cluster.clock.now();
      const bad = lie.forged
        // Claims an honest GPU node's id over the hostile key: the summary would replace its.
        ? await signed(keys, now, { origin: gpus[2]!.id, body: '{"gpu":"forged"}' })
        : await signed(keys, now, { topic: "test.other" });
      peer.send({ t: "retained", msgs: [bad], last: lie.last });
      await cluster.clock.runFor(SETTLE_MS);
      assert.ok(peer.isClosed(), "cut off");
      assert.equal(joiner.peer.counters.forged_dropped, lie.forged ? 1 : 0);
      assert.equal(joiner.deliveries.has(bad.nonce), false, "nothing of the lie delivered");
      assert.deepEqual(delivered(joiner), genuine, "the honest neighbour handed the market over");
      assert.equal(joiner.peer.counters.retained_delivered, GPU_NODES);
      const kept = joiner.peer.retainedBroadcasts([SERVICE_SUMMARY_TOPIC]);
      assert.deepEqual(new Set(kept.map((message) => message.nonce)), genuine);
    } finally {
      stopAll(cluster);
    }
  });
}

Deno.test("too old or from the future: dropped, not delivered, the sender not blamed (clocks differ)", async () => {
  const { cluster, genuine } = await market();
  try {
    const joiner = lateJoiner(cluster);
    const { keys, peer } = await hostile(cluster, joiner);
    const now = cluster.clock.now();
    const stale = await signed(keys, now - RETAINED_MAX_AGE_MS - 1_000);
    const future = await signed(keys, now + MAX_CLOCK_SKEW_MS + 60_000);
    // Within the bound although older than a relayed broadcast may be: the origin's latest.
    const old = await signed(keys, now - RETAINED_MAX_AGE_MS + 60_000);
    peer.send({ t: "retained", msgs: [stale, future, old], last: true });
    await cluster.clock.runFor(SETTLE_MS);
    assert.equal(peer.isClosed(), false);
    assert.equal(joiner.peer.counters.stale_dropped, 2);
    assert.deepEqual(delivered(joiner), new Set([old.nonce]));
    // Delivered here, never passed on: no honest node sees it.
    for (const node of cluster.nodes) {
      if (node !== joiner) assert.equal(node.deliveries.has(old.nonce), false);
    }
    assert.equal(joiner.peer.messageCounts.sent.bcast, 0, "nothing relayed");
    assert.equal(genuine.has(old.nonce), false);
  } finally {
    stopAll(cluster);
  }
});

Deno.test("a departed GPU node's last summary, handed over after its goodbye is known: not delivered", async () => {
  const { cluster, gpus } = await market();
  // The departing node's summary as it travelled, signature and all, for the hostile peer.
  const seen = new Map<string, Broadcast>();
  cluster.network.tap = (_from, _to, message) => {
    if (message.t === "bcast") seen.set(message.nonce, message);
  };
  try {
    const departing = gpus[2]!;
    const { nonce } = await departing.peer.broadcast(SERVICE_SUMMARY_TOPIC, { gpu: "leaving" });
    await cluster.clock.runFor(SETTLE_MS);
    const last = seen.get(nonce);
    assert.ok(last, "the departing node's summary was seen on a link");
    cluster.leave(departing);
    await cluster.clock.runFor(SETTLE_MS);

    const joiner = lateJoiner(cluster);
    const { peer } = await hostile(cluster, joiner);
    assert.equal(asked(peer), 1);
    await linkHonest(cluster, joiner, gpus[0]!);
    await cluster.clock.runFor(SETTLE_MS);
    assert.ok(joiner.peer.book.departure(departing.id), "the joiner knows of the goodbye");
    // Signed by its origin and young enough: only the goodbye makes it stale.
    peer.send({ t: "retained", msgs: [last], last: true });
    await cluster.clock.runFor(SETTLE_MS);
    assert.equal(joiner.deliveries.has(nonce), false, "the departed node is not brought back");
    assert.equal(peer.isClosed(), false, "not blamed: an honest neighbour may not know yet");
    const kept = joiner.peer.retainedBroadcasts([SERVICE_SUMMARY_TOPIC]);
    assert.equal(kept.some((message) => message.origin === departing.id), false);
  } finally {
    cluster.network.tap = undefined;
    stopAll(cluster);
  }
});

Deno.test("asked twice on one link: the second request cuts the asker off; a new link is answered", async () => {
  const { cluster, gpus, genuine } = await market();
  try {
    const answerer = gpus[3]!;
    const pages = (peer: RawPeer) =>
      peer.received.filter((message): message is Extract<WireMessage, { t: "retained" }> =>
        message.t === "retained"
      );
    const first = await hostile(cluster, answerer);
    first.peer.send({ t: "retained_req" });
    await cluster.clock.runFor(SETTLE_MS);
    const answer = pages(first.peer);
    assert.equal(answer.at(-1)?.last, true, "the answer ends");
    const handed = new Set(answer.flatMap((page) => page.msgs.map((message) => message.nonce)));
    assert.deepEqual(handed, genuine);
    first.peer.send({ t: "retained_req" });
    await cluster.clock.runFor(SETTLE_MS);
    assert.ok(first.peer.isClosed(), "cut off");
    assert.equal(pages(first.peer).length, answer.length, "not answered twice");

    // Another peer's link: a request on it is its first.
    const second = await hostile(cluster, answerer);
    second.peer.send({ t: "retained_req" });
    await cluster.clock.runFor(SETTLE_MS);
    assert.equal(second.peer.isClosed(), false);
    assert.equal(pages(second.peer).at(-1)?.last, true);
  } finally {
    stopAll(cluster);
  }
});

Deno.test("an answer that never ends: after its time the next neighbour is asked, the first not blamed", async () => {
  const { cluster, gpus, genuine } = await market();
  try {
    const joiner = lateJoiner(cluster);
    const { keys, peer } = await hostile(cluster, joiner);
    await linkHonest(cluster, joiner, gpus[4]!);
    // A genuine page, then silence: never `last`.
    const partial = await signed(keys, cluster.clock.now());
    peer.send({ t: "retained", msgs: [partial], last: false });
    await cluster.clock.runFor(SETTLE_MS);
    assert.deepEqual(delivered(joiner), new Set([partial.nonce]));
    await cluster.clock.runFor(RETAINED_ANSWER_MS);
    assert.deepEqual(delivered(joiner), new Set([partial.nonce, ...genuine]));
    assert.equal(peer.isClosed(), false, "slow is not hostile");
    // A late page from the first neighbour is still an answer to a question asked.
    const late = await signed(generateNodeKeys(), cluster.clock.now());
    peer.send({ t: "retained", msgs: [late], last: true });
    await cluster.clock.runFor(SETTLE_MS);
    assert.equal(peer.isClosed(), false);
    assert.ok(joiner.deliveries.has(late.nonce));
  } finally {
    stopAll(cluster);
  }
});

Deno.test("an answer that claims to end early: what came is kept, nobody is blamed, nothing more asked", async () => {
  const { cluster, gpus } = await market();
  try {
    const joiner = lateJoiner(cluster);
    const { keys, peer } = await hostile(cluster, joiner);
    await linkHonest(cluster, joiner, gpus[0]!);
    const only = await signed(keys, cluster.clock.now());
    peer.send({ t: "retained", msgs: [only], last: true });
    await cluster.clock.runFor(SETTLE_MS + RETAINED_ANSWER_MS);
    // Indistinguishable from a neighbour that knows little: the market fills at the refresh.
    assert.deepEqual(delivered(joiner), new Set([only.nonce]));
    assert.equal(peer.isClosed(), false);
    assert.equal(joiner.peer.counters.misbehaving_peers, 0);
    // A new summary still reaches the joiner the ordinary way.
    const { nonce } = await gpus[1]!.peer.broadcast(SERVICE_SUMMARY_TOPIC, { gpu: "again" });
    await cluster.clock.runFor(SETTLE_MS);
    assert.ok(joiner.deliveries.has(nonce));
  } finally {
    stopAll(cluster);
  }
});

Deno.test("pages stay within the frame limit; a larger page or frame is refused at the wire", async () => {
  const keys = generateNodeKeys();
  const now = 1_700_000_000_000;
  const store = new RetainedBroadcasts({ maxOrigins: 1_000 });
  const origins: NodeKeys[] = [];
  for (let index = 0; index < 40; index++) origins.push(generateNodeKeys());
  for (const origin of origins) {
    store.keep(await signed(origin, now, { body: JSON.stringify({ pad: "x".repeat(20_000) }) }));
  }
  // One that fitted a relay frame but not a page's: it goes into no page.
  const huge = await signed(keys, now, { body: JSON.stringify({ pad: "y".repeat(1) }) });
  const room = MAX_FRAME_BYTES - encodeFrame(huge).length;
  huge.body = JSON.stringify({ pad: "y".repeat(room - 8) });
  assert.ok(encodeFrame(huge).length <= MAX_FRAME_BYTES, "relayed whole, it fits a frame");
  store.keep(huge);
  const pages = store.pages(now, RETAINED_MAX_AGE_MS, MAX_RETAINED_PAGE, MAX_FRAME_BYTES - 1_024);
  assert.ok(pages.length > 1, "paged");
  let count = 0;
  for (const [index, msgs] of pages.entries()) {
    const frame = encodeFrame({ t: "retained", msgs, last: index === pages.length - 1 });
    assert.ok(frame.length <= MAX_FRAME_BYTES, `page ${index}: ${frame.length} bytes`);
    assert.ok(msgs.length <= MAX_RETAINED_PAGE);
    count += msgs.length;
  }
  assert.equal(count, origins.length, "every summary that fits is handed over");

  const small = await signed(keys, now);
  const tooMany = Array.from({ length: MAX_RETAINED_PAGE + 1 }, () => small);
  const overCount = decodeWireMessage(
    new TextEncoder().encode(JSON.stringify({ t: "retained", msgs: tooMany, last: true })),
  );
  assert.equal(overCount.ok, false, "more broadcasts than a page holds");
  const overBytes = new FrameDecoder().push(
    encodeFrame({ t: "retained", msgs: [huge, huge], last: true }),
  );
  assert.equal(overBytes.ok, false, "a frame over the limit");
});
