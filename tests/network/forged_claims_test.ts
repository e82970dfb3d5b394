/**
 * A hostile peer (a real libp2p node in this process, speaking the wire
 * protocol by hand) lies about other nodes to three real node processes: a
 * seed, a GPU node (the victim) and a client-end, the two leaves linked only
 * to the seed. It claims to be a seed, reports the victim gone (unsigned, with
 * a forged signature, with an incarnation no clock has reached, with one past
 * the wire's range), gossips the victim at its own address with a higher
 * incarnation and flags it as its neighbour (a route hint), and greets with an
 * incarnation from tomorrow. Nothing changes for anyone: the victim stays
 * linked, keeps its incarnation and is reachable from the client-end (on a
 * request link to it); the liar is refused, cut off or simply not believed.
 */
import assert from "node:assert/strict";
import { type GlobalPeer, type NetworkStatus } from "../../mod/mod.ts";
import {
  type Counters,
  encodeBase64,
  goodbyeBytes,
  MAX_INCARNATION,
  type PeerEntry,
} from "../../network/mod.ts";
import { freePort, scratchDir, waitFor } from "../helpers.ts";
import { mustGet, type NodeProcess, startNode, stopAll, whenUp } from "./node_processes.ts";
import { rawConnect, type RawPeer, rawPeerNode } from "./raw_peer.ts";

const NETWORK = "p2p-forged-claims";
const EXCHANGE_MS = 1_000;
const DAY_MS = 86_400_000;

type Status = NetworkStatus & { counters: Counters };

const hostile = rawPeerNode;

const status = (node: NodeProcess) => mustGet<Status>(node, "/api/v1/peers/status");
const active = async (node: NodeProcess) =>
  (await mustGet<{ peers: Array<{ id: string; node_type: string }> }>(
    node,
    "/api/v1/peers/active",
  )).peers;
const book = async (node: NodeProcess) =>
  (await mustGet<{ peers: GlobalPeer[] }>(node, "/api/v1/peers/global")).peers;
/** Waits for the node to close the liar's link (a refusal or a cut-off), failing after a while. */
const closedBy = (node: NodeProcess, link: RawPeer, why: string) =>
  waitFor(`${node.name} closing the link (${why})`, () => link.isClosed() || undefined, 20_000);

const ping = (from: NodeProcess, to: NodeProcess) =>
  mustGet<{ node_id: string; hops: number; route: string }>(
    from,
    `/api/v1/peers/${to.nodeId}/ping`,
  );

Deno.test({
  name:
    "a peer's lies about others change nothing: forged departures, seed role, hints, addresses and numbers",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await scratchDir("p2p-forged");
    const common = [
      "--network-id",
      NETWORK,
      "--p2p-exchange-interval-ms",
      String(EXCHANGE_MS),
      "--log-level",
      "error",
    ];
    // Leaves: one outbound link (the seed) and one inbound slot (for the liar), so the victim
    // and the client-end are never neighbours and the client reaches the victim through the seed.
    const leaf = [...common, "--p2p-target-outbound", "1", "--p2p-max-inbound", "1"];
    const seed = await startNode({
      name: "seed",
      dataDir: `${dir}/seed`,
      role: "seed",
      args: common,
    });
    const nodes: NodeProcess[] = [seed];
    const liar = await hostile();
    const links: RawPeer[] = [];
    try {
      await whenUp(seed);
      const victim = await startNode({
        name: "victim",
        dataDir: `${dir}/victim`,
        role: "gpu",
        seeds: [seed.address],
        args: leaf,
      });
      const client = await startNode({
        name: "client",
        dataDir: `${dir}/client`,
        role: "client",
        seeds: [seed.address],
        args: leaf,
      });
      nodes.push(victim, client);
      await Promise.all([whenUp(victim), whenUp(client)]);
      await waitFor("the client-end knows the victim through the seed", async () => {
        const known = (await book(client)).some((peer) => peer.id === victim.nodeId);
        const linked = (await active(client)).some((peer) => peer.id === seed.nodeId);
        return known && linked ? true : undefined;
      }, 30_000);
      assert.ok(!(await active(client)).some((peer) => peer.id === victim.nodeId));
      const honestAddress = (await book(client)).find((peer) => peer.id === victim.nodeId)!;
      assert.equal(honestAddress.port, victim.p2pPort);

      const connect = async (to: NodeProcess, fields = {}) => {
        const link = await rawConnect(liar.transport, to.address, {
          selfId: liar.keys.nodeId,
          auth: liar.auth,
          networkId: NETWORK,
          now: Date.now(),
          fields,
        });
        links.push(link);
        await waitFor(
          `${to.name} answers the liar's hello`,
          () => link.received.length > 0 || link.isClosed() ? true : undefined,
        );
        return link;
      };

      // A greeting with an incarnation from tomorrow: refused like a wrong clock.
      const tomorrow = await connect(client, { inc: Date.now() + DAY_MS });
      await closedBy(client, tomorrow, "an incarnation from tomorrow");
      assert.deepEqual(tomorrow.received.map((m) => m.t === "refuse" ? m.reason : m.t), ["clock"]);

      // It says it is a seed: linked, but nobody takes it for one.
      const toClient = await connect(client, { role: "seed" });
      const toVictim = await connect(victim, { role: "seed" });
      assert.equal(toClient.received[0]?.t, "hello");
      assert.equal(toVictim.received[0]?.t, "hello");
      for (const node of [client, victim]) {
        const listed = (await active(node)).find((peer) => peer.id === liar.keys.nodeId);
        assert.equal(
          listed?.node_type,
          "client",
          `${node.name} lists the liar as ${listed?.node_type}`,
        );
      }

      const before = { client: await status(client), victim: await status(victim) };

      // Unsigned: "the victim has left". The client-end dials the victim to see, finds it there,
      // and keeps it.
      toClient.send({
        t: "peers",
        peers: [],
        gone: [{ id: victim.nodeId, inc: Date.now(), age: 0 }],
      });
      await waitFor("the client-end's check of the victim", async () => {
        const now = await status(client);
        return now.counters.departure_checks > before.client.counters.departure_checks
          ? now
          : undefined;
      }, 20_000);

      // Signed, but not by the victim: a forged goodbye costs the liar its link.
      const forgedSig = await liar.auth.sign(goodbyeBytes(NETWORK, victim.nodeId, Date.now()));
      toClient.send({
        t: "peers",
        peers: [],
        gone: [{ id: victim.nodeId, inc: Date.now(), age: 0, sig: encodeBase64(forgedSig) }],
      });
      await closedBy(client, toClient, "a forged goodbye");

      // To the victim itself: "you have left", with an incarnation no clock has reached (in the
      // wire's range). Dropped: refuting it would push the victim's own number up to it.
      toVictim.send({
        t: "peers",
        peers: [],
        gone: [{ id: victim.nodeId, inc: MAX_INCARNATION - 1, age: 0 }],
      });
      await waitFor("the victim drops the made-up number", async () => {
        const now = await status(victim);
        return now.counters.claims_dropped > before.victim.counters.claims_dropped
          ? now
          : undefined;
      }, 20_000);

      // Past the wire's range (2^53 - 1): a malformed message, and the liar is cut off.
      toVictim.send({
        t: "peers",
        peers: [],
        gone: [{ id: victim.nodeId, inc: Number.MAX_SAFE_INTEGER, age: 0 }],
      });
      await closedBy(victim, toVictim, "a number past the wire's range");

      // Back under a new key, the liar gossips the victim at its own address with a higher
      // incarnation, flagged as its neighbour (a route hint towards itself).
      const second = await hostile();
      const toClientAgain = await rawConnect(second.transport, client.address, {
        selfId: second.keys.nodeId,
        auth: second.auth,
        networkId: NETWORK,
        now: Date.now(),
      });
      links.push(toClientAgain);
      const lie: PeerEntry = {
        id: victim.nodeId,
        addr: `127.0.0.1:${freePort()}`,
        role: "seed",
        inc: Date.now(),
        age: 0,
        n: true,
      };
      await waitFor(
        "the second liar linked",
        () => toClientAgain.received.some((m) => m.t === "hello") ? true : undefined,
      );
      toClientAgain.send({ t: "peers", peers: [lie], gone: [] });
      // Two exchange rounds for anything it might have changed to show.
      await new Promise((resolve) => setTimeout(resolve, 2 * EXCHANGE_MS));

      const entry = (await book(client)).find((peer) => peer.id === victim.nodeId);
      assert.equal(entry?.port, victim.p2pPort, "the victim's address was not rewritten");
      assert.equal(entry?.node_type, "gpu");

      // The victim: still linked to the seed, never refuted anything, and reachable from the
      // client-end on a request link to the victim itself (the transport checked its id), not
      // through the liar.
      const after = { client: await status(client), victim: await status(victim) };
      assert.equal(after.client.counters.departure_checks_failed, 0);
      assert.equal(
        after.client.counters.departures_recorded,
        before.client.counters.departures_recorded,
      );
      assert.equal(after.victim.counters.refutations, 0);
      assert.ok((await active(seed)).some((peer) => peer.id === victim.nodeId));
      assert.ok((await book(client)).some((peer) => peer.id === victim.nodeId));
      const pong = await ping(client, victim);
      assert.equal(pong.node_id, victim.nodeId);
      assert.equal(pong.hops, 1);
      assert.equal(pong.route, "direct");
      for (const node of nodes) assert.equal(node.exited, false, `${node.name} exited`);
      await second.transport.stop();
    } finally {
      for (const link of links) link.link.close();
      await liar.transport.stop().catch(() => {});
      await stopAll(nodes);
    }
  },
});
