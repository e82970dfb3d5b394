/**
 * DCUtR upgrades a relayed link to a GPU node behind a NAT (issue #14), with real node processes
 * in the hole-punching lab (nat_lab.ts, `setUpPunch`): two seeds and a client-end on public
 * addresses, a GPU node behind a router that masquerades and drops every connection opened from
 * outside. The client-end reaches the GPU node only through a relay at first; DCUtR on the GPU
 * node dials the client-end's public address (the NAT lets an outbound connection through), the
 * relayed connection is replaced, and with both relays killed the node still answers.
 *
 * Between two nodes each behind its own NAT there is no upgrade (see the note in
 * network/dcutr_hand_over.ts): that path stays relayed and is not tested here.
 */
import assert from "node:assert/strict";
import { scratchDir, waitFor } from "../helpers.ts";
import { RELAYED_DRAIN_MS } from "../../network/nat.ts";
import { establishedTcp, PUNCH, setUpPunch, tearDownPunch, unavailable } from "./nat_lab.ts";
import { labCall, type LabNode, labNodeId, launchLabNode, stopAndShowLogs } from "./lab_nodes.ts";
import { stopAll } from "./node_processes.ts";

const NETWORK_ID = "dcutr-test";
/** Long enough for a relayed connection's links to move to the direct one. */
const DRAIN_SLACK_MS = 5_000;
/** Pings while the relayed connection drains, this far apart. */
const PING_INTERVAL_MS = 2_000;

type Peer = { id: string; ip: string; port: number };

async function counter(node: LabNode, name: string): Promise<number> {
  const answer = await labCall(node, "GET", "/api/v1/peers/status");
  assert.equal(answer.body.error_code, 0, JSON.stringify(answer.body));
  return answer.body.data.counters[name] ?? 0;
}

async function ping(from: LabNode, to: LabNode) {
  return await labCall(from, "GET", `/api/v1/peers/${to.nodeId}/ping`);
}

const lab = await unavailable();

Deno.test({
  name:
    "a client-end's relayed link to a GPU node behind a NAT becomes direct (DCUtR), and the node answers with every relay gone",
  ignore: lab !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await scratchDir("dcutr");
    await Deno.chmod(dir, 0o711);
    const nodes: LabNode[] = [];
    const outside = (host: { ns: string; ip: string }) => ({
      ns: host.ns,
      p2pHost: host.ip,
      advertisedHost: host.ip,
    });
    try {
      await setUpPunch();
      const seed = await launchLabNode({
        name: "seed",
        dir,
        role: "seed",
        networkId: NETWORK_ID,
        ...outside(PUNCH.seed),
      });
      nodes.push(seed);
      await labNodeId(seed);
      const seed2 = await launchLabNode({
        name: "seed-2",
        dir,
        role: "seed",
        networkId: NETWORK_ID,
        ...outside(PUNCH.seed2),
        args: ["--seeds", seed.address, "--ledger-authority", seed.nodeId],
      });
      nodes.push(seed2);
      await labNodeId(seed2);
      // One outbound link each (to a seed): neither dials the other as a neighbour, so the
      // client-end's first way to the GPU node is the relay circuit it advertises.
      const joined = [
        "--seeds",
        `${seed.address},${seed2.address}`,
        "--ledger-authority",
        seed.nodeId,
        "--p2p-target-outbound",
        "1",
      ];
      const gpu = await launchLabNode({
        name: "gpu",
        dir,
        role: "gpu",
        networkId: NETWORK_ID,
        ns: PUNCH.home.ns,
        p2pHost: "0.0.0.0",
        advertisedHost: PUNCH.home.ip,
        args: joined,
      });
      nodes.push(gpu);
      await labNodeId(gpu);
      const relays = new Set<string>([PUNCH.seed.ip, PUNCH.seed2.ip]);
      await waitFor("the GPU node listed at a relay", async () => {
        const answer = await labCall(seed, "GET", "/api/v1/peers/global");
        const peers = (answer.body.data?.peers ?? []) as Peer[];
        return peers.find((peer) => peer.id === gpu.nodeId && relays.has(peer.ip));
      }, 60_000);
      const upgradedBefore = await counter(gpu, "relayed_upgraded");

      // 1. The client-end pings the GPU node (through a relay: the NAT drops its dials); DCUtR
      // on the GPU node replaces the relayed connection with one it opens to the client-end.
      const client = await launchLabNode({
        name: "client",
        dir,
        role: "client",
        networkId: NETWORK_ID,
        ...outside(PUNCH.client),
        args: joined,
      });
      nodes.push(client);
      await labNodeId(client);
      await waitFor("the GPU node answers the client-end", async () => {
        const answer = await ping(client, gpu);
        return answer.body.error_code === 0 ? answer : undefined;
      }, 60_000);
      // Only the GPU node can have opened a connection across its NAT to the client-end.
      const directToClient = async () =>
        (await establishedTcp(PUNCH.home.ns))
          .some((connection) => connection.peer.startsWith(`${PUNCH.client.ip}:`));
      await waitFor("DCUtR upgrades the relayed connection", async () => {
        const count = await counter(gpu, "relayed_upgraded");
        return count > upgradedBefore && await directToClient() ? true : undefined;
      }, 30_000);
      // 2. Requests answer while the relayed connection drains and after it has closed.
      const drained = Date.now() + RELAYED_DRAIN_MS + DRAIN_SLACK_MS;
      while (Date.now() < drained) {
        const answer = await ping(client, gpu);
        assert.equal(answer.body.error_code, 0, JSON.stringify(answer.body));
        await new Promise((resolve) => setTimeout(resolve, PING_INTERVAL_MS));
      }

      // 3. Kill both relays: what still answers is the direct connection.
      for (const relay of [seed, seed2]) relay.child.kill("SIGKILL");
      await Promise.all([seed.child.status, seed2.child.status]);
      for (let round = 0; round < 3; round++) {
        const answer = await ping(client, gpu);
        assert.equal(answer.body.error_code, 0, JSON.stringify(answer.body));
        assert.equal(answer.body.data.hops, 1);
      }
      await stopAll(nodes);
      // The client-end's next links went over the direct connection: its link was not relayed
      // (and upgraded) again. Counted for the client-end alone: the node's counter also counts
      // the seeds, whose relayed connections are upgraded at times of their own.
      const upgrades = (await gpu.log).match(
        new RegExp(`relayed connection upgraded to a direct one peer=${client.nodeId}`, "g"),
      );
      assert.equal(upgrades?.length, 1, "the client-end's connection was upgraded once");
    } catch (error) {
      await stopAndShowLogs(nodes);
      throw error;
    } finally {
      await stopAll(nodes);
      await tearDownPunch();
    }
  },
});

if (lab !== undefined) console.log(`dcutr_test skipped: ${lab}`);
