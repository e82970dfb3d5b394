/**
 * GPU hosts behind a NAT (issue #14), with real node processes in network
 * namespaces (nat_lab.ts): a seed (the ledger authority), a second seed and a
 * client-end outside; two GPU nodes behind a router that masquerades and drops
 * every connection opened from outside. The GPU nodes find they are behind a
 * NAT, reserve relay slots on the seeds and advertise a relay circuit; the
 * client-end lists both, pings each, a renter rents one and runs a container
 * on it through the client-end; then the relay that node advertises is killed
 * and the client-end reaches it again through the other one.
 */
import assert from "node:assert/strict";
import { scratchDir, waitFor } from "../helpers.ts";
import { TEST_IMAGE } from "../node_service/container/engine_fixture.ts";
import { devWallets } from "../wallets.ts";
import {
  labCall as call,
  type LabNode,
  labNodeId as nodeIdOf,
  launchLabNode,
  stopAndShowLogs,
} from "./lab_nodes.ts";
import { HOMES, OUTSIDE_HOST, OUTSIDE_ROUTER, setUp, tearDown, unavailable } from "./nat_lab.ts";
import { mustGet, stopAll, whenUp } from "./node_processes.ts";

const NETWORK_ID = "nat-test";
const MACHINE_CONFIG = {
  gpu_model: "none",
  gpu_count: 0,
  cpu_model: "any",
  cpu_cores: 1,
  memory_gib: 1,
  disk_gib: 1,
};

type Peer = { id: string; ip: string; port: number };

/** A node process, outside (`ns` undefined) or inside a namespace. */
function launch(
  name: string,
  dir: string,
  role: "seed" | "gpu" | "client",
  args: string[],
  ns?: string,
): Promise<LabNode> {
  return launchLabNode({
    name,
    dir,
    role,
    networkId: NETWORK_ID,
    p2pHost: ns ? "0.0.0.0" : OUTSIDE_HOST,
    advertisedHost: OUTSIDE_HOST,
    ns,
    args,
  });
}

const lab = await unavailable();

Deno.test({
  name:
    "GPU nodes behind a NAT are listed, pinged and rented through relays, and reached through another relay when theirs goes",
  ignore: lab !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { alice, bob, charlie, dave, eve, ferdie } = await devWallets();
    const dir = await scratchDir("nat");
    await Deno.chmod(dir, 0o711);
    const nodes: Array<LabNode> = [];
    try {
      await setUp();
      const seed = await launch("seed", dir, "seed", [
        "--ledger-verification-window-s",
        "90",
        "--ledger-admins",
        ferdie.address,
      ]);
      nodes.push(seed);
      await whenUp(seed);
      const seed2 = await launch("seed-2", dir, "seed", [
        "--seeds",
        seed.address,
        "--ledger-authority",
        seed.nodeId,
      ]);
      nodes.push(seed2);
      await whenUp(seed2);
      const joined = [
        "--seeds",
        `${seed.address},${seed2.address}`,
        "--ledger-authority",
        seed.nodeId,
      ];
      const gpus = await Promise.all(
        HOMES.map((home, index) =>
          launch(`gpu-${index + 1}`, dir, "gpu", [
            ...joined,
            "--owner-wallet",
            alice.address,
            "--lease-check-interval-s",
            "2",
          ], home.ns)
        ),
      );
      const client = await launch("client", dir, "client", joined);
      nodes.push(...gpus, client);
      await Promise.all([...gpus.map(nodeIdOf), whenUp(client)]);
      const [gpu] = gpus as [LabNode];
      // The router is a real NAT: nothing from outside reaches a GPU node's listener.
      for (const node of gpus) {
        const probe = await new Deno.Command("curl", {
          args: [
            "-s",
            "-o",
            "/dev/null",
            "--connect-timeout",
            "2",
            `http://${OUTSIDE_ROUTER}:${node.p2pPort}/`,
          ],
        }).output();
        assert.notEqual(probe.code, 0, `${node.name} answered from outside`);
      }

      // 1. The client-end lists both GPU nodes at a relay circuit (a seed's address), never at
      // the router's address it would see them come from, and pings each through the relay.
      const relays = new Map([[seed.p2pPort, seed], [seed2.p2pPort, seed2]]);
      const where = async (id: string) => {
        const { peers } = await mustGet<{ peers: Peer[] }>(client, "/api/v1/peers/global");
        const entry = peers.find((peer) => peer.id === id);
        return entry && entry.ip === OUTSIDE_HOST && relays.has(entry.port) ? entry : undefined;
      };
      for (const node of gpus) {
        await waitFor(`${node.name} listed at a relay`, () => where(node.nodeId), 60_000);
        await waitFor(`${node.name} answers pings`, async () => {
          const ping = await call(client, "GET", `/api/v1/peers/${node.nodeId}/ping`);
          return ping.body.error_code === 0 ? ping : undefined;
        }, 60_000);
      }
      const { peers } = await mustGet<{ peers: Peer[] }>(seed, "/api/v1/peers/global");
      assert.ok(
        !peers.some((peer) => peer.ip === OUTSIDE_ROUTER),
        `no node is listed at the router's address: ${JSON.stringify(peers)}`,
      );

      // 2. Rent GPU node 1 on the seed's ledger (register, three validators in their slots,
      // fund, rent), then run a container on it through the client-end.
      const token = (await Deno.readTextFile(`${dir}/${gpu.name}/operator.token`)).trim();
      const made = await call(gpu, "POST", "/api/v1/operator/registration", {
        token,
        body: { prices: { hour: "10" }, config: MACHINE_CONFIG },
      });
      assert.equal(made.status, 200, JSON.stringify(made.body));
      const signed = (pair: typeof alice, path: string, body?: unknown) =>
        call(client, "POST", path, { signer: pair, body });
      const registered = await signed(
        alice,
        "/api/v1/ledger/machines",
        made.body.data.registration,
      );
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
      const machinePath = `/api/v1/ledger/machines/${gpu.nodeId}`;
      for (const validator of [bob, charlie, dave]) {
        const grabbed = await signed(validator, `${machinePath}/grab`);
        assert.equal(grabbed.status, 200, JSON.stringify(grabbed.body));
      }
      for (const validator of [bob, charlie, dave]) {
        await waitFor(`${validator.address} reports in its slot`, async () => {
          const reported = await signed(validator, `${machinePath}/report`, {
            report: { kind: "observed", observed: MACHINE_CONFIG },
          });
          if (reported.status === 403) return undefined;
          assert.equal(reported.status, 200, JSON.stringify(reported.body));
          return reported;
        }, 60_000);
      }
      const funded = await signed(ferdie, `/api/v1/ledger/accounts/${eve.address}/fund`, {
        amount: "100",
      });
      assert.equal(funded.status, 200, JSON.stringify(funded.body));
      const rented = await signed(eve, "/api/v1/ledger/rentals", {
        machine_id: gpu.nodeId,
        unit: "hour",
        count: 1,
      });
      assert.equal(rented.status, 201, JSON.stringify(rented.body));
      const created = await waitFor("the container created", async () => {
        const answer = await signed(eve, "/api/v1/containers/create", {
          peer_nodes_list: [gpu.nodeId],
          image: TEST_IMAGE,
          command: ["sh", "-c", "trap 'exit 0' TERM; echo nat-hello; while true; do sleep 1; done"],
        });
        // The GPU node learns of the rental at its next lease check.
        if (answer.status === 403) return undefined;
        assert.equal(answer.status, 202, JSON.stringify(answer.body));
        return answer.body.data as { task_id: string };
      }, 60_000);
      await waitFor("the container running", async () => {
        const detail = await call(
          client,
          "GET",
          `/api/v1/containers/${created.task_id}?node_id=${gpu.nodeId}`,
          { signer: eve },
        );
        return detail.body.data?.state === "running" ? detail : undefined;
      }, 90_000);

      // 3. Kill the relay GPU node 1 is listed at: the client-end reaches it through the other.
      const before = (await where(gpu.nodeId))!;
      const gone = relays.get(before.port)!;
      const other = gone === seed ? seed2 : seed;
      gone.child.kill("SIGKILL");
      await gone.child.status;
      await waitFor("GPU node 1 listed at the other relay", async () => {
        const entry = await where(gpu.nodeId);
        return entry?.port === other.p2pPort ? entry : undefined;
      }, 60_000);
      await waitFor("GPU node 1 answers pings through the other relay", async () => {
        const ping = await call(client, "GET", `/api/v1/peers/${gpu.nodeId}/ping`);
        return ping.body.error_code === 0 ? ping : undefined;
      }, 60_000);
      const detail = await call(
        client,
        "GET",
        `/api/v1/containers/${created.task_id}?node_id=${gpu.nodeId}`,
        { signer: eve },
      );
      assert.equal(detail.body.data?.state, "running", JSON.stringify(detail.body));
      await call(client, "POST", `/api/v1/containers/${created.task_id}/delete`, {
        signer: eve,
        body: { peer_nodes_list: [gpu.nodeId] },
      });
    } catch (error) {
      await stopAndShowLogs(nodes);
      throw error;
    } finally {
      await stopAll(nodes);
      await tearDown();
    }
  },
});

if (lab !== undefined) console.log(`nat_test skipped: ${lab}`);
