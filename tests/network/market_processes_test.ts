/**
 * The market over real node processes: a seed, three GPU nodes and two
 * client-ends on loopback with the default announce interval (600 s), so
 * only announcing on joining and on change can fill the market in time.
 * Every client-end lists every GPU node within seconds; then the network is
 * quiet (no periodic floods); each broadcast was delivered exactly once at
 * every node and the extra copies were dropped and counted; a GPU node that
 * leaves is dropped from every market.
 */
import assert from "node:assert/strict";
import type { MarketNode, NetworkStatus } from "../../mod/mod.ts";
import { removalBoundMs } from "../../network/mod.ts";
import { scratchDir, waitFor } from "../helpers.ts";
import { mustGet, networkArgs, type NodeProcess, TestNetwork, whenUp } from "./node_processes.ts";

const PING_MS = 500;
const PING_MISSES = 3;
const ARGS = networkArgs({
  networkId: "market-processes",
  targetOutbound: 2,
  maxInbound: 4,
  exchangeIntervalMs: 1_000,
  pingIntervalMs: PING_MS,
  pingMisses: PING_MISSES,
});
/** Listed this soon after every node is up: the join announcements, not the 600 s refresh. */
const LISTED_WITHIN_MS = 30_000;
/** Watched for announcements once the join announcements (5 s and 20 s after the first) are over. */
const QUIET_AFTER_MS = 25_000;
const QUIET_FOR_MS = 20_000;
const REMOVAL_BOUND_MS = removalBoundMs({ pingIntervalMs: PING_MS, pingMisses: PING_MISSES });

const counter = (status: NetworkStatus, name: string) => status.counters?.[name] ?? 0;
const status = (node: NodeProcess) => mustGet<NetworkStatus>(node, "/api/v1/peers/status");
const market = async (node: NodeProcess) =>
  (await mustGet<{ nodes: MarketNode[] }>(node, "/api/v1/mining_nodes")).nodes
    .map((listed) => listed.node_id).sort();

Deno.test({
  name:
    "every client-end lists every GPU node within seconds, without periodic floods; each broadcast once everywhere; a GPU node that leaves is dropped",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const network = new TestNetwork(await scratchDir("market-processes"), ARGS);
    const nodes = network.nodes;
    try {
      const seed = await network.startSeed();
      const layout = [["gpu1", "gpu"], ["client1", "client"], ["gpu2", "gpu"], [
        "gpu3",
        "gpu",
      ], ["client2", "client"]] as const;
      for (const [name, role] of layout) await network.join(name, role, seed);
      await Promise.all(nodes.map((node) => whenUp(node)));
      const upAt = Date.now();
      const gpus = nodes.filter((node) => node.name.startsWith("gpu"));
      const clients = nodes.filter((node) => node.name.startsWith("client"));
      const gpuIds = gpus.map((node) => node.nodeId).sort();

      await waitFor("every client-end lists every GPU node", async () => {
        const markets = await Promise.all(clients.map(market));
        return markets.every((ids) => JSON.stringify(ids) === JSON.stringify(gpuIds))
          ? true
          : undefined;
      }, LISTED_WITHIN_MS);
      console.log(`every GPU node listed by every client-end ${Date.now() - upAt} ms after up`);

      // The exactly-once count covers the broadcasts made once every node is linked: a node
      // that linked after an announcement went out never hears that one (the next refresh tells
      // it). The baseline is taken when no broadcast is in flight: two reads 500 ms apart agree.
      const broadcastCounts = async () =>
        (await Promise.all(nodes.map(status))).map((s) => ({
          originated: counter(s, "broadcasts_originated"),
          delivered: counter(s, "broadcasts_delivered"),
        }));
      let baseline = await broadcastCounts();
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const next = await broadcastCounts();
        if (JSON.stringify(next) === JSON.stringify(baseline)) break;
        baseline = next;
      }

      // Past the join announcements, an unchanged offer is not announced again (the refresh is
      // 600 s away; every 30 s, as before, three GPU nodes would announce about twice in 20 s).
      const wait = upAt + QUIET_AFTER_MS - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const originated = async () =>
        (await Promise.all(gpus.map(status))).reduce(
          (sum, s) => sum + counter(s, "broadcasts_originated"),
          0,
        );
      const before = await originated();
      await new Promise((resolve) => setTimeout(resolve, QUIET_FOR_MS));
      const after = await originated();
      assert.equal(after - before, 0, "no announcements while nothing changes");

      // Every broadcast since the baseline (the GPU nodes' later join announcements) was
      // delivered exactly once at every node but its origin; the extra copies were dropped and
      // counted.
      const all = await Promise.all(nodes.map(status));
      const since = all.map((s, index) => ({
        originated: counter(s, "broadcasts_originated") - baseline[index]!.originated,
        delivered: counter(s, "broadcasts_delivered") - baseline[index]!.delivered,
      }));
      const total = since.reduce((sum, s) => sum + s.originated, 0);
      assert.ok(total >= gpus.length, `the GPU nodes announced again after the baseline: ${total}`);
      since.forEach((s, index) =>
        assert.equal(
          s.delivered,
          total - s.originated,
          `${nodes[index]!.name} delivered each broadcast once`,
        )
      );
      assert.ok(all.some((s) => counter(s, "broadcast_duplicates") > 0), "duplicates counted");

      // A GPU node leaves: every client-end drops it, on the network's word, long before expiry.
      const leaving = gpus[2]!;
      const leftAt = Date.now();
      leaving.child.kill("SIGTERM");
      assert.equal((await leaving.child.status).code, 0);
      await waitFor("the GPU node gone from every market", async () => {
        const markets = await Promise.all(clients.map(market));
        return markets.every((ids) => !ids.includes(leaving.nodeId)) ? true : undefined;
      }, REMOVAL_BOUND_MS);
      console.log(
        `the GPU node that left was dropped from every market in ${Date.now() - leftAt} ms`,
      );
      for (const client of clients) {
        assert.deepEqual(await market(client), gpuIds.filter((id) => id !== leaving.nodeId));
      }
    } finally {
      await network.stop();
    }
  },
});
