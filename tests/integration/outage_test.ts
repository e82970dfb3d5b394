/**
 * No billing for an outage, between real node processes on loopback: a seed
 * keeping the ledger and a GPU node (its ledger authority is the seed). The
 * GPU node registers itself for its owner through its operator API (its node
 * key signs, the owner's wallet signs), three validators put it online, the
 * ledger admin funds a renter, who rents it by the second. Then the GPU node
 * is killed (SIGKILL): the ledger marks it down from its last heartbeat; it
 * is started again from the same data directory: its first heartbeat ends
 * the outage, and the rental ends exactly that much later.
 */
import assert from "node:assert/strict";
import { ApiClient } from "../../http/mod.ts";
import type { Machine, Rental } from "../../mod/mod.ts";
import { scratchDir, waitFor } from "../helpers.ts";
import {
  type NodeProcess,
  startNode,
  stopAll,
  TestNetwork,
  whenUp,
} from "../network/node_processes.ts";
import { devWallets } from "../wallets.ts";

const NETWORK = ["--network-id", "outage-test", "--p2p-exchange-interval-ms", "1000"];

Deno.test({
  name: "a rented GPU node killed and brought back: its renter is not billed for the outage",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const { alice, bob, charlie, dave, eve, ferdie } = await devWallets();
  const dir = await scratchDir("outage");
  const network = new TestNetwork(dir, []);
  const nodes = network.nodes;
  try {
    const seed = await network.startSeed([
      ...NETWORK,
      "--ledger-admins",
      ferdie.address,
      "--ledger-heartbeat-timeout-s",
      "4",
      "--ledger-verification-window-s",
      "90",
    ]);
    const gpuArgs = [
      ...NETWORK,
      "--ledger-authority",
      seed.nodeId,
      "--owner-wallet",
      alice.address,
      "--machine-heartbeat-interval-s",
      "1",
    ];
    const startGpu = async () => {
      const gpu = await startNode({
        name: "gpu",
        dataDir: `${dir}/gpu`,
        role: "gpu",
        seeds: [seed.address],
        args: gpuArgs,
      });
      nodes.push(gpu);
      await whenUp(gpu);
      return gpu;
    };
    let gpu = await startGpu();
    const token = (await Deno.readTextFile(`${dir}/gpu/operator.token`)).trim();
    const at = (node: NodeProcess, signer?: typeof alice) =>
      new ApiClient({ baseUrl: `http://127.0.0.1:${node.httpPort}`, signer });

    // The node declares itself and signs; Alice signs; the GPU node forwards it to the authority.
    // Asked until the node service has started (the node answers before all its workers do).
    const { owner, registration } = await waitFor(
      "the GPU node's registration",
      () => at(gpu).operatorRegistration(token, { prices: { second: "2" } }).catch(() => undefined),
      60_000,
    );
    assert.equal(registration.machine_id, gpu.nodeId);
    assert.equal(owner, alice.address);
    const registered = await waitFor(
      "the registration to reach the ledger",
      () => at(gpu, alice).registerMachine(registration).catch(() => undefined),
      30_000,
    );
    assert.equal(registered.status, "unverified");
    assert.equal(registered.owner, alice.address);

    // Three validators in their slots of 10 s; each reports what the owner declared.
    const ledger = (signer?: typeof alice) => at(seed, signer);
    for (const validator of [bob, charlie, dave]) {
      await ledger(validator).request("POST", `/api/v1/ledger/machines/${gpu.nodeId}/grab`, {
        body: {},
      });
    }
    for (const [position, validator] of [bob, charlie, dave].entries()) {
      const machine = await ledger().ledgerMachine(gpu.nodeId);
      const slot = machine.validation.validators[position]!.slots[0]!;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, slot.starts_at - Date.now())));
      await ledger(validator).request("POST", `/api/v1/ledger/machines/${gpu.nodeId}/report`, {
        body: { report: { kind: "observed", observed: registration.config } },
      });
    }
    assert.equal((await ledger().ledgerMachine(gpu.nodeId)).status, "online");

    // Eve cannot rent without funds; Ferdie funds her; 600 s at 2 cost 1200.
    await assert.rejects(
      ledger(eve).rent({ machine_id: gpu.nodeId, unit: "second", count: 600 }),
      /insufficient balance/,
    );
    await ledger(ferdie).fund(eve.address, "5000");
    const rental = await ledger(eve).rent({ machine_id: gpu.nodeId, unit: "second", count: 600 });
    assert.equal(rental.total_amount, "1200");
    assert.equal((await ledger().balance(eve.address)).balance, "3800");
    assert.equal((await ledger().balance(alice.address)).balance, "1200");

    await waitFor("a heartbeat after the rental", async () => {
      const machine: Machine = await ledger().ledgerMachine(gpu.nodeId);
      return (machine.liveness.last_seen_at ?? 0) > rental.starts_at || undefined;
    }, 15_000);

    gpu.child.kill("SIGKILL");
    await gpu.child.status;
    const down = await waitFor("the ledger to mark the machine down", async () => {
      const machine: Machine = await ledger().ledgerMachine(gpu.nodeId);
      return machine.liveness.down_since ?? undefined;
    }, 20_000);
    const during: Rental = await ledger().request(
      "GET",
      `/api/v1/ledger/rentals/${rental.rental_id}`,
    );
    assert.equal(during.outages.length, 1);
    assert.equal(during.outages[0]!.up_at, null);
    assert.equal(during.outages[0]!.down_since, down);
    await assert.rejects(
      ledger(ferdie).rent({ machine_id: gpu.nodeId, unit: "second", count: 10 }),
      /leased|down/,
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    gpu = await startGpu();
    const after = await waitFor("the outage to be closed", async () => {
      const read: Rental = await ledger().request(
        "GET",
        `/api/v1/ledger/rentals/${rental.rental_id}`,
      );
      return read.outages[0]?.up_at !== null ? read : undefined;
    }, 60_000);
    const outage = after.outages[0]!;
    assert.equal(outage.down_since, down);
    assert.equal(outage.credited_ms, outage.up_at! - outage.down_since);
    assert.ok(outage.credited_ms >= 7_000, `down for ${outage.credited_ms} ms`);
    assert.equal(after.ends_at, rental.ends_at + outage.credited_ms);
    assert.equal(after.total_amount, "1200", "the outage cost nothing extra");
    assert.equal((await ledger().ledgerMachine(gpu.nodeId)).liveness.down_since, null);
  } finally {
    await stopAll(nodes);
  }
});
