/**
 * A client-end that joins after the GPU nodes have made their join announcements (the
 * refresh is the default 600 s away) lists every GPU node within seconds: its first
 * neighbour hands over the latest origin-signed announcement of each GPU node, which the
 * client-end checks and delivers locally. Real node processes on loopback.
 */
import assert from "node:assert/strict";
import type { MarketNode, NetworkStatus } from "../../mod/mod.ts";
import { scratchDir, waitFor } from "../helpers.ts";
import { mustGet, networkArgs, type NodeProcess, TestNetwork, whenUp } from "./node_processes.ts";

const ARGS = networkArgs({
  networkId: "market-late-join",
  targetOutbound: 2,
  exchangeIntervalMs: 1_000,
});
/** Past the GPU nodes' last join announcement (20 s after their first). */
const JOINS_OVER_MS = 25_000;
/** A few seconds: the hand-over, not an announcement, fills the market. */
const LISTED_WITHIN_MS = 8_000;

const counter = (status: NetworkStatus, name: string) => status.counters?.[name] ?? 0;
const status = (node: NodeProcess) => mustGet<NetworkStatus>(node, "/api/v1/peers/status");
const market = async (node: NodeProcess) =>
  (await mustGet<{ nodes: MarketNode[] }>(node, "/api/v1/mining_nodes")).nodes
    .map((listed) => listed.node_id).sort();

Deno.test({
  name: "a client-end that joins after the GPU nodes announced lists every GPU node within seconds",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const network = new TestNetwork(await scratchDir("market-late-join"), ARGS);
    try {
      const seed = await network.startSeed();
      const gpus: NodeProcess[] = [];
      for (const name of ["gpu1", "gpu2"]) gpus.push(await network.join(name, "gpu", seed));
      await Promise.all(gpus.map((node) => whenUp(node)));
      await new Promise((resolve) => setTimeout(resolve, JOINS_OVER_MS));
      const originated = async () =>
        (await Promise.all(gpus.map(status))).reduce(
          (sum, s) => sum + counter(s, "broadcasts_originated"),
          0,
        );
      const before = await originated();
      assert.ok(before >= gpus.length, `the GPU nodes announced themselves: ${before}`);

      const client = await network.join("client", "client", seed);
      await whenUp(client);
      const upAt = Date.now();
      const gpuIds = gpus.map((node) => node.nodeId).sort();
      await waitFor("the late client-end lists every GPU node", async () => {
        const ids = await market(client);
        return JSON.stringify(ids) === JSON.stringify(gpuIds) ? true : undefined;
      }, LISTED_WITHIN_MS);
      console.log(`every GPU node listed by the late client-end ${Date.now() - upAt} ms after up`);

      // From the hand-over, not from a new announcement: none was made meanwhile.
      assert.equal(await originated(), before, "no GPU node announced while the client joined");
      const clientStatus = await status(client);
      assert.ok(
        counter(clientStatus, "retained_delivered") >= gpus.length,
        `retained announcements delivered: ${counter(clientStatus, "retained_delivered")}`,
      );
    } finally {
      await network.stop();
    }
  },
});
