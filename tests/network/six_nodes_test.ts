/**
 * Six real node processes on loopback, joined through one seed, observed
 * through their HTTP APIs; a seventh peer inside the test (the same protocol
 * code on libp2p) originates a broadcast.
 */
import assert from "node:assert/strict";
import { generateNodeKeys, type NetworkStatus, silentLogger, systemClock } from "../../mod/mod.ts";
import { nodeAuthenticator, PeerNode, removalBoundMs } from "../../network/mod.ts";
import { Libp2pTransport } from "../../network/libp2p_node.ts";
import { freePort, scratchDir, waitFor } from "../helpers.ts";
import { mustGet, networkArgs, type NodeProcess, TestNetwork, whenUp } from "./node_processes.ts";

const NETWORK = "p2p-six";
const EXCHANGE_MS = 1_000;
const PING_MS = 500;
const PING_MISSES = 3;
const TARGET = 2;
const MAX_INBOUND = 3;
const ARGS = networkArgs({
  networkId: NETWORK,
  targetOutbound: TARGET,
  maxInbound: MAX_INBOUND,
  exchangeIntervalMs: EXCHANGE_MS,
  pingIntervalMs: PING_MS,
  pingMisses: PING_MISSES,
});
/** The configured bound on removal (see removalBoundMs): missed pings, a probe, the spread. */
const REMOVAL_BOUND_MS = removalBoundMs({ pingIntervalMs: PING_MS, pingMisses: PING_MISSES });

type Peer = { id: string };

async function status(node: NodeProcess) {
  return await mustGet<NetworkStatus>(node, "/api/v1/peers/status");
}

function counter(status: NetworkStatus, name: string): number {
  return status.counters?.[name] ?? 0;
}

async function lists(node: NodeProcess, id: string): Promise<boolean> {
  const active = await mustGet<{ peers: Peer[] }>(node, "/api/v1/peers/active");
  const global = await mustGet<{ peers: Peer[] }>(node, "/api/v1/peers/global");
  return [...active.peers, ...global.peers].some((peer) => peer.id === id);
}

Deno.test({
  name:
    "six nodes join through one seed, reach their targets, flood once, route requests and forget who leaves",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const network = new TestNetwork(await scratchDir("p2p-six"), ARGS);
    const nodes = network.nodes;
    let probe: { peer: PeerNode; transport: Libp2pTransport } | undefined;
    try {
      const seed = await network.startSeed();
      for (let index = 1; index < 6; index++) {
        // GPU nodes announce themselves by broadcast; clients keep the counters to our one.
        await network.join(`node${index}`, "client", seed);
      }
      await Promise.all(nodes.map((node) => whenUp(node)));

      // Every node reaches its outbound target.
      try {
        await waitFor("every node at its outbound target", async () => {
          const all = await Promise.all(nodes.map(status));
          return all.every((s) => s.outbound === TARGET) ? all : undefined;
        }, 120_000);
      } catch (error) {
        const all = await Promise.all(nodes.map((node) => status(node).catch(() => undefined)));
        const shapes = all.map((s, i) =>
          `${nodes[i]!.name}: out ${s?.outbound} in ${s?.inbound} known ${s?.known_peers} ` +
          `evictions ${s ? counter(s, "evictions") : "?"} refused ${
            s ? counter(s, "links_refused") : "?"
          }`
        );
        throw new Error(`${(error as Error).message}\n${shapes.join("\n")}`);
      }

      // A broadcast from a seventh peer arrives exactly once at every node; extra copies are dropped.
      const keys = generateNodeKeys();
      const ready: { peer?: PeerNode } = {};
      const probePort = freePort();
      const transport = await Libp2pTransport.start({
        seed: keys.privateKey,
        publicKey: keys.publicKey,
        nodeId: keys.nodeId,
        listenHost: "127.0.0.1",
        listenPort: probePort,
        maxConnections: 16,
        log: silentLogger,
        onInbound: (link) => ready.peer ? ready.peer.acceptInbound(link) : link.close(),
      });
      const peer = new PeerNode({
        networkId: NETWORK,
        role: "client",
        listenPort: probePort,
        seeds: nodes.map((node) => node.address),
        targetOutbound: 1,
        maxInbound: 0,
        exchangeIntervalMs: EXCHANGE_MS,
        pingIntervalMs: PING_MS,
        pingMisses: PING_MISSES,
        nonceCacheSize: 1_000,
        nonceTtlMs: 60_000,
        rateLimitPerS: 200,
      }, {
        selfId: keys.nodeId,
        transport,
        auth: nodeAuthenticator(keys.privateKey),
        clock: systemClock,
        log: silentLogger,
        version: "test",
      });
      ready.peer = peer;
      probe = { peer, transport };
      peer.start();
      await waitFor("the probe linked", () => peer.outboundCount === 1 ? true : undefined, 30_000);
      const before = await Promise.all(nodes.map(status));
      await peer.broadcast("test.once", { hello: "everyone" });
      await waitFor("the broadcast everywhere", async () => {
        const after = await Promise.all(nodes.map(status));
        return after.every((s, i) =>
            counter(s, "broadcasts_delivered") === counter(before[i]!, "broadcasts_delivered") + 1
          )
          ? true
          : undefined;
      }, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 3 * EXCHANGE_MS));
      const settled = await Promise.all(nodes.map(status));
      settled.forEach((s, i) =>
        assert.equal(
          counter(s, "broadcasts_delivered"),
          counter(before[i]!, "broadcasts_delivered") + 1,
          `${nodes[i]!.name} delivered it once`,
        )
      );
      const duplicates = (list: NetworkStatus[]) =>
        list.reduce((sum, s) => sum + counter(s, "broadcast_duplicates"), 0);
      assert.ok(duplicates(settled) > duplicates(before), "extra copies were counted as dropped");
      probe.peer.stop();
      await probe.transport.stop();
      probe = undefined;

      // A request to a node that is not a neighbour, and its reply: on a request link to it.
      const active = await Promise.all(
        nodes.map((node) => mustGet<{ peers: Peer[] }>(node, "/api/v1/peers/active")),
      );
      let pair: [NodeProcess, NodeProcess] | undefined;
      for (const [i, from] of nodes.entries()) {
        const to = nodes.find((other) =>
          other !== from && !active[i]!.peers.some((p) => p.id === other.nodeId)
        );
        if (to) {
          pair = [from, to];
          break;
        }
      }
      assert.ok(pair, "with two outbound links each, some nodes are not neighbours");
      const [from, to] = pair;
      const pong = await mustGet<{ node_id: string; route: string; hops: number }>(
        from,
        `/api/v1/peers/${to.nodeId}/ping`,
      );
      assert.equal(pong.node_id, to.nodeId);
      assert.equal(pong.route, "direct");
      assert.equal(pong.hops, 1);

      // A graceful leave, then a SIGKILL: each is gone from every peer list within the bound.
      for (const [victim, signal] of [[nodes[4]!, "SIGTERM"], [nodes[5]!, "SIGKILL"]] as const) {
        const others = nodes.filter((node) => node !== victim && !node.exited);
        assert.ok(
          (await Promise.all(others.map((node) => lists(node, victim.nodeId)))).some(Boolean),
        );
        const started = Date.now();
        victim.child.kill(signal);
        await victim.child.status;
        await waitFor(`${victim.name} forgotten after ${signal}`, async () => {
          const listed = await Promise.all(others.map((node) => lists(node, victim.nodeId)));
          return listed.some(Boolean) ? undefined : true;
        }, REMOVAL_BOUND_MS);
        console.log(
          `${signal}: forgotten by all within ${
            Date.now() - started
          } ms (bound ${REMOVAL_BOUND_MS} ms)`,
        );
      }
    } finally {
      if (probe) {
        probe.peer.stop();
        await probe.transport.stop();
      }
      await network.stop();
    }
  },
});
