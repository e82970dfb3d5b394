/**
 * How departures spread under churn (network/peer_node.ts): batched, at most one push a link per
 * {@link DEPARTURE_PUSH_INTERVAL_MS}, and not sent back to the neighbour they came from, while
 * every node still forgets every departed one. Many nodes over in-memory links on a virtual clock,
 * with a fixed latency so that the test knows when each message arrived.
 */
import assert from "node:assert/strict";
import { DEPARTURE_PUSH_INTERVAL_MS } from "../../network/constants.ts";
import type { WireMessage } from "../../network/mod.ts";
import { SimCluster, type SimNode } from "../../scripts/sim/cluster.ts";

const LATENCY_MS = 20;
const NODES = 40;
const LEAVING = 12;
/** More than DEPARTURE_CHECK_BURST crash at once, out of this many. */
const CRASH_BURST = 45;
const CRASH_BURST_NODES = 100;

type Push = { at: number; ids: Set<string> };

Deno.test("departures under churn: one push a link per interval, few sent back, all forgotten", async () => {
  const cluster = new SimCluster({
    seed: 11,
    latencyMs: [LATENCY_MS, LATENCY_MS],
    config: { targetOutbound: 3, maxInbound: 8, exchangeIntervalMs: 30_000 },
  });
  const seed = cluster.add({ role: "seed" });
  for (let index = 1; index < NODES; index++) cluster.add({ seeds: [seed.address] });
  try {
    const took = await cluster.clock.runUntil(() => cluster.converged(), 250, 300_000);
    assert.ok(took !== undefined, "every node reaches its outbound target");

    // Departure pushes ("peers" with no entries) by directed link, and every departure sent.
    const pushes = new Map<string, Push[]>();
    const sent: Array<{ from: string; to: string; at: number; ids: Set<string> }> = [];
    cluster.network.tap = (from: string, to: string, message: WireMessage) => {
      if (message.t !== "peers" || message.gone.length === 0) return;
      const ids = new Set(message.gone.map((departure) => departure.id));
      const at = cluster.clock.now();
      sent.push({ from, to, at, ids });
      if (message.peers.length > 0) return; // An exchange round, not a push.
      const key = `${from}>${to}`;
      pushes.set(key, [...(pushes.get(key) ?? []), { at, ids }]);
    };
    // A third leave with a goodbye, the rest crash, one every 100 ms.
    const leaving = cluster.nodes.slice(1, 1 + LEAVING);
    leaving.forEach((node, index) =>
      cluster.clock.setTimeout(
        () => index % 3 === 0 ? cluster.leave(node) : cluster.crash(node),
        index * 100,
      )
    );
    const forgotten = await cluster.clock.runUntil(
      () => leaving.every((node) => cluster.forgotten(node.id)),
      250,
      120_000,
    );
    assert.ok(forgotten !== undefined, "every departed node is forgotten by every live one");

    let busiest = 0;
    for (const [link, list] of pushes) {
      busiest = Math.max(busiest, list.length);
      for (let index = 1; index < list.length; index++) {
        const gap = list[index]!.at - list[index - 1]!.at;
        assert.ok(gap >= DEPARTURE_PUSH_INTERVAL_MS, `${link}: pushes ${gap} ms apart`);
      }
    }
    // Twelve departures within a second and a half, yet few pushes a link: they were batched.
    assert.ok(busiest > 0 && busiest < LEAVING / 2, `at most ${busiest} pushes on one link`);

    // Little goes back over the link it came over: a departure B sent A (arrived LATENCY_MS
    // later) is rarely in a later message from A to B. (A flood without the check sends about
    // half its copies back; a report our own check confirms two pushes later may still go back.)
    let entries = 0;
    let echoes = 0;
    for (const message of sent) {
      entries += message.ids.size;
      const heardBack = new Set<string>();
      for (const heard of sent) {
        if (heard.from !== message.to || heard.to !== message.from) continue;
        if (heard.at + LATENCY_MS >= message.at) continue;
        for (const id of heard.ids) heardBack.add(id);
      }
      for (const id of message.ids) if (heardBack.has(id)) echoes++;
    }
    assert.ok(echoes <= entries * 0.05, `${echoes} of ${entries} departures sent back`);
  } finally {
    for (const node of cluster.nodes) node.peer.stop();
  }
});

Deno.test("a new link's first list: every departure for a newcomer, only recent ones for a node long up", async () => {
  const round = 1_000;
  const { cluster, seed } = await fastRounds(5, 20, round);
  try {
    await cluster.clock.runFor(3 * round);
    const old = new Set(cluster.nodes.map((node) => node.id));
    const leaving = cluster.nodes[1]!;
    cluster.leave(leaving);
    await cluster.clock.runFor(5 * round);
    assert.ok(cluster.forgotten(leaving.id), "everyone had the goodbye");

    // From now on: the first "peers" message on each new link, by its receiver.
    const seen = new Set<string>();
    const first: Array<{ to: string; ids: string[] }> = [];
    cluster.network.tap = (from, to, message) => {
      if (message.t !== "peers" || message.peers.length === 0 || seen.has(`${from}>${to}`)) return;
      seen.add(`${from}>${to}`);
      first.push({ to, ids: message.gone.map((departure) => departure.id) });
    };
    // New links between nodes long up (neighbours of the crashed ones link anew), and a newcomer.
    for (const node of cluster.nodes.slice(2, 5)) cluster.crash(node);
    const newcomer = cluster.add({ seeds: [seed.address] });
    await cluster.clock.runFor(3 * round);

    const toOld = first.filter((message) => old.has(message.to));
    const toNewcomer = first.filter((message) => message.to === newcomer.id);
    assert.ok(toOld.length >= 3, `${toOld.length} new links to nodes long up`);
    assert.ok(toNewcomer.length >= 3, `${toNewcomer.length} links to the newcomer`);
    for (const message of toOld) {
      assert.ok(!message.ids.includes(leaving.id), "a node long up is not told the old goodbye");
    }
    for (const message of toNewcomer) {
      assert.ok(message.ids.includes(leaving.id), "the newcomer is told the goodbye it missed");
    }
  } finally {
    cluster.network.tap = undefined;
    for (const node of cluster.nodes) node.peer.stop();
  }
});

Deno.test("more crash at once than the check budget pays: the nodes not checked are checked when listed, and forgotten", async () => {
  const round = 1_000;
  const { cluster, seed } = await fastRounds(7, CRASH_BURST_NODES, round);
  try {
    await cluster.clock.runFor(5 * round);
    // Each survivor knows them all (a network this small fits in a book), is told of each, and
    // can pay for DEPARTURE_CHECK_BURST checks at once.
    // Each with a neighbour that stays, which finds it gone and reports it (a node whose
    // neighbours all crash with it is found gone only when someone dials it).
    const crashed: SimNode[] = [];
    const witnesses = new Set<SimNode>([seed]);
    for (const node of cluster.nodes.slice(1).reverse()) {
      if (crashed.length === CRASH_BURST) break;
      if (witnesses.has(node)) continue;
      const witness = cluster.nodes.find((other) =>
        !crashed.includes(other) && other !== node && other.peer.isLinked(node.id)
      );
      if (!witness) continue;
      witnesses.add(witness);
      crashed.push(node);
    }
    assert.equal(crashed.length, CRASH_BURST);
    for (const node of crashed) cluster.crash(node);
    const forgotten = await cluster.clock.runUntil(
      () => crashed.every((node) => cluster.forgotten(node.id)),
      100,
      10 * round,
    );
    const skipped = cluster.alive.reduce(
      (sum, node) => sum + node.peer.counters.departure_checks_skipped,
      0,
    );
    assert.ok(skipped > 0, "some checks waited for budget");
    assert.ok(forgotten !== undefined, "every crashed node is forgotten within 10 rounds");
  } finally {
    for (const node of cluster.nodes) node.peer.stop();
  }
});

Deno.test("a node reported gone, then heard of in a full node's refusal, is checked and dropped", async () => {
  const round = 1_000;
  const { cluster, seed } = await fastRounds(9, 20, round);
  try {
    await cluster.clock.runFor(3 * round);
    // The last to join has links to nodes that stay: they find it gone and report it.
    const gone = cluster.nodes.at(-1)!;
    cluster.crash(gone);
    await cluster.clock.runFor(3 * round);
    assert.ok(cluster.forgotten(gone.id), "everyone found it gone");
    const inc = seed.peer.book.departure(gone.id)!.incarnation;

    // A newcomer linked to the seed alone hears the report (the seed's own check failed) but
    // does not know the node, so it records nothing.
    const newcomer = cluster.add({ seeds: [seed.address], config: { targetOutbound: 1 } });
    await cluster.clock.runFor(3 * round);
    assert.ok(newcomer.peer.isLinked(seed.id));
    assert.equal(newcomer.peer.reportedGone(gone.id, inc), true, "the newcomer heard the report");
    assert.equal(newcomer.peer.book.departure(gone.id), undefined);

    // Then its one link goes, and the one node it knows of is full: the refusal lists the
    // departed node, among live ones (as a book that has not heard yet would).
    const full = { id: cluster.nodes[1]!.id.replace(/.$/, "z"), address: "10.99.0.1:5001" };
    let refusedAt: number | undefined;
    const live = cluster.alive.filter((node) => node !== newcomer && node !== seed).slice(0, 15);
    cluster.network.listen(full.address, full.id, (link) => {
      link.attach({
        message: (message) => {
          if (message.t !== "hello") return;
          refusedAt = cluster.clock.now();
          const entry = (node: { id: string; address: string }) => ({
            id: node.id,
            addr: node.address,
            role: "gpu" as const,
            inc,
            age: 0,
          });
          link.send({ t: "refuse", reason: "full", peers: [entry(gone), ...live.map(entry)] });
          link.close();
        },
        malformed: () => {},
        closed: () => {},
      });
    });
    for (const entry of [...newcomer.peer.book.entries()]) {
      if (!newcomer.peer.isLinked(entry.id)) newcomer.peer.book.forget(entry.id);
    }
    newcomer.peer.book.learn(
      { id: full.id, addr: full.address, role: "gpu", inc, age: 0 },
      cluster.clock.now(),
    );
    cluster.leave(seed);
    await cluster.clock.runUntil(() => refusedAt !== undefined, 10, 5 * round);
    assert.ok(refusedAt !== undefined, "the newcomer dialled the full node");
    // At once: its own dial of the node fails in a round trip. (Later, a neighbour it lists the
    // node to would tell it, but it has none yet.)
    const dropped = await cluster.clock.runUntil(
      () => newcomer.peer.book.departure(gone.id) !== undefined,
      10,
      10 * LATENCY_MS,
    );
    assert.ok(dropped !== undefined, "checked at once, found gone, recorded");
    assert.equal(newcomer.peer.activePeers().length, 0);
    assert.equal(newcomer.peer.book.get(gone.id), undefined);
  } finally {
    for (const node of cluster.nodes) node.peer.stop();
  }
});

/**
 * A seed and `count - 1` nodes on one-second rounds (pings every half second), each at its
 * outbound target.
 */
async function fastRounds(seed: number, count: number, round: number) {
  const cluster = new SimCluster({
    seed,
    latencyMs: [LATENCY_MS, LATENCY_MS],
    config: { targetOutbound: 3, maxInbound: 8, exchangeIntervalMs: round, pingIntervalMs: 500 },
  });
  const first = cluster.add({ role: "seed" });
  for (let index = 1; index < count; index++) cluster.add({ seeds: [first.address] });
  const took = await cluster.clock.runUntil(() => cluster.converged(), 250, 60_000);
  assert.ok(took !== undefined, "every node reaches its outbound target");
  return { cluster, seed: first };
}
