/**
 * Requests to a GPU node that is not a neighbour, between real node processes
 * on loopback (libp2p, Noise, the node's own workers): the client-end finds
 * the node and dials it on a request link of its own; no sealed message is
 * sent and nothing is flooded; the link stays outside the neighbour count;
 * a node killed since is reported as such within the request's time-out.
 *
 * Topology, as in scripts/bench_api.ts: the client-end and the GPU node each
 * keep one outbound link, to the seed, and accept no inbound neighbour link,
 * so they are never neighbours.
 */
import assert from "node:assert/strict";
import type { NetworkStatus } from "../../../mod/mod.ts";
import { scratchDir, waitFor } from "../../helpers.ts";
import { mustGet, networkArgs, type NodeProcess, TestNetwork, whenUp } from "../node_processes.ts";

const NETWORK = "p2p-request-links";
const COMMON = networkArgs({ networkId: NETWORK, exchangeIntervalMs: 1_000, pingIntervalMs: 500 });
const LEAF = ["--p2p-target-outbound", "1", "--p2p-max-inbound", "0"];
/** The ping route's own time-out (http/routes/peers.ts), plus the RPC margin. */
const PING_TIMEOUT_MS = 10_000;

type Peer = { id: string };
type Pong = { node_id: string; route: string; hops: number };

const counter = (status: NetworkStatus, name: string) => status.counters?.[name] ?? 0;

async function ping(from: NodeProcess, to: NodeProcess) {
  const started = Date.now();
  const response = await fetch(
    `http://127.0.0.1:${from.httpPort}/api/v1/peers/${to.nodeId}/ping`,
    { signal: AbortSignal.timeout(3 * PING_TIMEOUT_MS) },
  );
  const body = await response.json();
  return { status: response.status, body, tookMs: Date.now() - started };
}

Deno.test({
  name:
    "a request to a GPU node that is not a neighbour goes on a request link, nothing flooded; a killed node is reported within the time-out",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const network = new TestNetwork(await scratchDir("p2p-request-links"), COMMON);
    const nodes = network.nodes;
    try {
      const seed = await network.startSeed();
      const gpu = await network.join("gpu", "gpu", seed, LEAF);
      const client = await network.join("client", "client", seed, LEAF);
      await Promise.all([whenUp(gpu), whenUp(client)]);
      await waitFor("both linked to the seed", async () => {
        const links = await Promise.all(
          [gpu, client].map((node) => mustGet<{ peers: Peer[] }>(node, "/api/v1/peers/active")),
        );
        return links.every((list) => list.peers.length === 1) ? true : undefined;
      }, 60_000);

      const pong = await ping(client, gpu);
      assert.equal(pong.status, 200, JSON.stringify(pong.body));
      const data = pong.body.data as Pong;
      assert.equal(data.node_id, gpu.nodeId);
      assert.equal(data.route, "direct");
      assert.equal(data.hops, 1);
      const again = await ping(client, gpu);
      assert.equal(again.status, 200);

      const statuses = await Promise.all(
        nodes.map((node) => mustGet<NetworkStatus>(node, "/api/v1/peers/status")),
      );
      const [seedStatus, gpuStatus, clientStatus] = statuses;
      assert.equal(counter(clientStatus!, "request_links_opened"), 1, "one link, used twice");
      assert.equal(counter(gpuStatus!, "calls_answered"), 2);
      assert.equal(counter(seedStatus!, "calls_answered"), 0, "the seed carried no request");
      // The request link is no neighbour link: each still has the seed alone.
      for (const node of [gpu, client]) {
        const active = await mustGet<{ peers: Peer[] }>(node, "/api/v1/peers/active");
        assert.deepEqual(active.peers.map((peer) => peer.id), [seed.nodeId], node.name);
      }

      // Killed: the next request fails with a clear error, within the request's time-out.
      gpu.child.kill("SIGKILL");
      await gpu.child.status;
      const failed = await ping(client, gpu);
      console.log(
        `killed: HTTP ${failed.status} in ${failed.tookMs} ms: ${failed.body.error_message}`,
      );
      assert.ok([404, 503, 504].includes(failed.status), JSON.stringify(failed.body));
      assert.notEqual(failed.body.error_code, 0);
      assert.match(failed.body.error_message, new RegExp(gpu.nodeId));
      assert.ok(failed.tookMs <= PING_TIMEOUT_MS + 2_000, `${failed.tookMs} ms`);
      const after = await mustGet<NetworkStatus>(seed, "/api/v1/peers/status");
      assert.equal(
        counter(after, "calls_answered"),
        0,
        "the seed answered no call for the GPU node",
      );
    } finally {
      await network.stop();
    }
  },
});
