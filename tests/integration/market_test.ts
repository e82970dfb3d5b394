/**
 * The market and the ledger bridge between real node processes on loopback:
 * a seed (with the embedded ledger: the `ledger_authority` of the others), a
 * second seed, a self-styled seed that keeps a ledger of its own, a GPU node
 * (a stand-in nvidia-smi on PATH replaying a recorded two-H100 machine) and a
 * client-end, each started with the `deno task node` command line.
 *
 * - The GPU node announces its machine; the client lists it at
 *   `GET /api/v1/mining_nodes` with its GPUs, and with the state the GPU node
 *   learned from the seed's ledger through `ledger.rpc`.
 * - An owner registers the machine under the GPU node's id and three
 *   validators put it online, and a renter rents it, all signed by
 *   polkadot-js wallets, at the authority, the second seed and the client-end
 *   in turn (the last two forward to the authority); every one of them then
 *   reads the same machines and rental, and the self-styled seed was never
 *   asked anything; then the GPU node's and the
 *   client's `lease.check` (reaching the seed's ledger over the network) say
 *   the renter rents it and another account does not, and the announced
 *   state becomes `leased`.
 * - The GPU node leaves: the client drops it on the network's word, well
 *   before its announcement would have expired.
 */
import assert from "node:assert/strict";
import { REPO_ROOT, scratchDir, waitFor, writeScript } from "../helpers.ts";
import {
  mustGet,
  type NodeProcess,
  startNode,
  stopAll,
  whenUp,
} from "../network/node_processes.ts";
import { devWallets, walletHeaders } from "../wallets.ts";

const RECORDED_GPUS = `${REPO_ROOT}/tests/fixtures/nvidia-smi/two_h100.csv`;
/** The GPU node announces every 15 s, so it is forgotten only 45 s after its last announcement. */
const ANNOUNCE_INTERVAL_S = 15;
const NETWORK_ID = "market-test";
const MACHINE_CONFIG = {
  gpu_model: "NVIDIA H100 80GB HBM3",
  gpu_count: 2,
  cpu_model: "AMD EPYC",
  cpu_cores: 1,
  memory_gib: 1,
  disk_gib: 1,
};

type MarketNode = {
  node_id: string;
  gpu_count: number;
  gpus: Array<{ model: string; count: number; memory_total_mib: number | null }>;
  cpu: { model: string | null; cores: number | null };
  memory_total_mib: number | null;
  disk: { total_gib: number; free_gib: number } | null;
  state: string;
  price_per_hour: string | null;
  received_at: number;
  expires_at: number;
};

type LeaseCheck = { renting: boolean; lease: { state: string }; verification: string };

/** A node of this test's network, its PATH `path` (the GPU node's has a stand-in nvidia-smi). */
function launch(
  name: string,
  dir: string,
  role: "seed" | "gpu" | "client",
  args: string[],
  path: string,
): Promise<NodeProcess> {
  return startNode({
    name,
    dataDir: `${dir}/${name}`,
    role,
    args: [
      "--network-id",
      NETWORK_ID,
      "--p2p-exchange-interval-ms",
      "2000",
      "--announce-interval-s",
      String(ANNOUNCE_INTERVAL_S),
      ...args,
    ],
    path,
  });
}

async function stubNvidiaSmi(dir: string): Promise<string> {
  const bin = `${dir}/bin`;
  await Deno.mkdir(bin, { recursive: true });
  await writeScript(
    `${bin}/nvidia-smi`,
    `case "$*" in *--query-gpu=index,uuid,name,pci.bus_id,*--format=csv,noheader,nounits*) cat '${RECORDED_GPUS}';; *) echo "unexpected arguments: $*" >&2; exit 2;; esac`,
  );
  return `${bin}:${Deno.env.get("PATH")}`;
}

async function request(node: NodeProcess, method: string, path: string, init: RequestInit = {}) {
  const response = await fetch(`http://127.0.0.1:${node.httpPort}${path}`, {
    method,
    ...init,
    signal: AbortSignal.timeout(60_000),
  });
  return { status: response.status, body: await response.json() };
}

Deno.test("one ledger, at the authority: every seed and client-end reads the same machines and rentals, a self-styled seed is never asked, lease checks reach the authority", async () => {
  const { alice, bob, charlie, dave, eve, ferdie } = await devWallets();
  const dir = await scratchDir("market");
  const path = Deno.env.get("PATH") ?? "";
  const nodes: NodeProcess[] = [];
  try {
    const seed = await launch(
      "seed",
      dir,
      "seed",
      ["--ledger-verification-window-s", "90", "--ledger-admins", ferdie.address],
      path,
    );
    nodes.push(seed);
    await whenUp(seed);
    // The seed is the ledger authority; a second seed names it too, and forwards to it.
    const seeds = ["--seeds", seed.address, "--ledger-authority", seed.nodeId];
    const seed2 = await launch("seed-2", dir, "seed", seeds, path);
    // A third node calls itself a seed and keeps a ledger of its own (no ledger_authority):
    // it is connected, but nobody is to ask it.
    const rogue = await launch("rogue", dir, "seed", ["--seeds", seed.address], path);
    nodes.push(seed2, rogue);
    await Promise.all([whenUp(seed2), whenUp(rogue)]);
    const gpu = await launch(
      "gpu",
      dir,
      "gpu",
      [
        ...seeds,
        "--rent-price-per-hour",
        "1200",
        "--lease-check-interval-s",
        "2",
        "--owner-wallet",
        alice.address,
      ],
      await stubNvidiaSmi(dir),
    );
    const client = await launch("client", dir, "client", seeds, path);
    nodes.push(gpu, client);
    await Promise.all([whenUp(gpu), whenUp(client)]);

    // 1. The client hears the GPU node's announcement; the GPU node asked the seed's ledger for its state.
    const listed = await waitFor("the GPU node in the client's market", async () => {
      const { nodes: market } = await mustGet<{ nodes: MarketNode[] }>(
        client,
        "/api/v1/mining_nodes",
      );
      const found = market.find((node) => node.node_id === gpu.nodeId);
      return found?.state === "unregistered" ? found : undefined;
    }, 90_000);
    assert.equal(listed.gpu_count, 2);
    assert.deepEqual(listed.gpus, [
      { model: "NVIDIA H100 80GB HBM3", count: 2, memory_total_mib: 81559 },
    ]);
    assert.equal(listed.price_per_hour, "1200");
    assert.ok(listed.cpu.cores !== null && listed.cpu.cores >= 1, JSON.stringify(listed.cpu));
    assert.ok(listed.memory_total_mib !== null && listed.memory_total_mib > 0);
    assert.ok(listed.disk !== null && listed.disk.total_gib > 0);
    assert.equal(listed.expires_at - listed.received_at, 3 * ANNOUNCE_INTERVAL_S * 1_000);
    const one = await mustGet<MarketNode>(client, `/api/v1/mining_nodes/${gpu.nodeId}`);
    assert.equal(one.node_id, gpu.nodeId);
    const unknown = await request(client, "GET", `/api/v1/mining_nodes/${seed.nodeId}`);
    assert.equal(unknown.status, 404);
    const seedMarket = await waitFor("the GPU node in the seed's market", async () => {
      const { nodes: market } = await mustGet<{ nodes: MarketNode[] }>(
        seed,
        "/api/v1/mining_nodes",
      );
      return market.length > 0 ? market : undefined;
    }, 90_000);
    assert.deepEqual(
      seedMarket.map((node) => node.node_id),
      [gpu.nodeId],
      "only GPU nodes announce",
    );

    // 2. Onboarding and rental on the authority's ledger, under the GPU node's id as machine id;
    // the writes arrive at the authority, at the other seed and at the client-end alike.
    const writeAt = [seed, seed2, client];
    let writes = 0;
    const signed = (pair: typeof alice, method: string, path: string, body?: unknown) =>
      request(writeAt[writes++ % writeAt.length]!, method, path, {
        headers: {
          "content-type": "application/json",
          ...walletHeaders(pair, { method, path, body, timestamp: Date.now() }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const machinePath = `/api/v1/ledger/machines/${gpu.nodeId}`;
    // The GPU node's operator API makes the registration its node key signs; Alice, its
    // owner_wallet, signs the request.
    const token = (await Deno.readTextFile(`${dir}/gpu/operator.token`)).trim();
    const made = await request(gpu, "POST", "/api/v1/operator/registration", {
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ prices: { hour: "1200" }, config: MACHINE_CONFIG }),
    });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const registration = made.body.data.registration;
    const registered = await signed(alice, "POST", "/api/v1/ledger/machines", registration);
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    for (const validator of [bob, charlie, dave]) {
      const grabbed = await signed(validator, "POST", `${machinePath}/grab`);
      assert.equal(grabbed.status, 200, JSON.stringify(grabbed.body));
    }
    // A 90 s round has 10 s slots: Bob's first is now, Charlie's next, Dave's after that.
    for (const validator of [bob, charlie, dave]) {
      await waitFor(`${validator.address} reports in its slot`, async () => {
        const reported = await signed(validator, "POST", `${machinePath}/report`, {
          report: { kind: "observed", observed: registration.config },
        });
        if (reported.status === 403) return undefined; // Not yet its slot.
        assert.equal(reported.status, 200, JSON.stringify(reported.body));
        return reported;
      }, 60_000);
    }
    const online = await mustGet<{ status: string }>(seed, machinePath);
    assert.equal(online.status, "online");
    const funded = await signed(ferdie, "POST", `/api/v1/ledger/accounts/${eve.address}/fund`, {
      amount: "10000",
    });
    assert.equal(funded.status, 200, JSON.stringify(funded.body));
    const rented = await signed(eve, "POST", "/api/v1/ledger/rentals", {
      machine_id: gpu.nodeId,
      unit: "hour",
      count: 2,
    });
    assert.equal(rented.status, 201, JSON.stringify(rented.body));

    // Whatever seed (or client-end) a read meets, it sees the same machines and rentals.
    const rentalPath = `/api/v1/ledger/rentals/${rented.body.data.rental_id}`;
    const machines = await mustGet<{ machines: unknown[] }>(seed, "/api/v1/ledger/machines");
    const rental = await mustGet<Record<string, unknown>>(seed, rentalPath);
    for (const node of [seed2, client, gpu]) {
      assert.deepEqual(
        await mustGet<{ machines: unknown[] }>(node, "/api/v1/ledger/machines"),
        machines,
        node.name,
      );
      assert.deepEqual(await mustGet(node, rentalPath), rental, node.name);
      assert.equal((await mustGet<{ status: string }>(node, machinePath)).status, "leased");
    }
    assert.equal(machines.machines.length, 1);

    // 3. lease.check: locally on the seed, through the network on the GPU node and the client.
    const leasePath = (account: string) =>
      `/api/v1/mining_nodes/${gpu.nodeId}/lease?account=${account}`;
    const onSeed = await mustGet<LeaseCheck>(seed, leasePath(eve.address));
    assert.equal(onSeed.verification, "ledger");
    assert.equal(onSeed.renting, true);
    for (const node of [gpu, client]) {
      const renter = await mustGet<LeaseCheck & { rental?: { rental_id: string } }>(
        node,
        leasePath(eve.address),
      );
      assert.equal(renter.verification, "remote_ledger", node.name);
      assert.equal(renter.renting, true, node.name);
      assert.equal(renter.rental?.rental_id, String(rented.body.data.rental_id));
      const other = await mustGet<LeaseCheck>(node, leasePath(ferdie.address));
      assert.equal(other.renting, false);
      assert.equal(other.lease.state, "none");
    }
    const badAccount = await request(gpu, "GET", leasePath("not-an-address"));
    assert.equal(badAccount.status, 400);

    // The self-styled seed was never asked: its own ledger holds nothing, and no request was
    // delivered to it, sealed or on a request link (the GPU node's lease reads went to the
    // authority).
    const rogueMachines = await mustGet<{ machines: unknown[] }>(rogue, "/api/v1/ledger/machines");
    assert.deepEqual(rogueMachines.machines, []);
    const rogueStatus = await mustGet<{ counters: Record<string, number> }>(
      rogue,
      "/api/v1/peers/status",
    );
    const delivered = (counters: Record<string, number>) => counters.calls_answered ?? 0;
    assert.equal(delivered(rogueStatus.counters), 0, JSON.stringify(rogueStatus.counters));
    const authorityStatus = await mustGet<{ counters: Record<string, number> }>(
      seed,
      "/api/v1/peers/status",
    );
    assert.ok(delivered(authorityStatus.counters) > 0);

    // 4. The next announcement carries the ledger's new state.
    await waitFor("the leased state in the client's market", async () => {
      const node = await mustGet<MarketNode>(client, `/api/v1/mining_nodes/${gpu.nodeId}`);
      return node.state === "leased" ? node : undefined;
    }, (ANNOUNCE_INTERVAL_S + 30) * 1_000);

    // 5. The GPU node leaves; the client drops it on the network's word, not by expiry.
    const before = await mustGet<MarketNode>(client, `/api/v1/mining_nodes/${gpu.nodeId}`);
    gpu.child.kill("SIGTERM");
    assert.equal((await gpu.child.status).code, 0);
    await waitFor("the GPU node gone from the client's market", async () => {
      const { nodes: market } = await mustGet<{ nodes: MarketNode[] }>(
        client,
        "/api/v1/mining_nodes",
      );
      return market.some((node) => node.node_id === gpu.nodeId) ? undefined : true;
    }, 30_000);
    assert.ok(
      Date.now() < before.expires_at - 5_000,
      "dropped because it left, well before its announcement expired",
    );

    const gpuLog = await gpu.log;
    assert.match(
      gpuLog,
      /lease loop started.*remote_ledger/,
      "the lease loop runs on the GPU node",
    );
  } finally {
    await stopAll(nodes);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
