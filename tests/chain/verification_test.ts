/**
 * The GPU node's side of the DBC chain, against DBC's own runtime (spec 400)
 * under chopsticks: a machine made online the chain's way, rents signed by
 * renters' wallets and executed by the runtime, and what the node reads of
 * them (`SubstrateVerification`, the create check, the lease loop): an order
 * being confirmed, a confirmed one, a GPU-share order's GPUs, a wrong renter,
 * a renter without funds, expiry once blocks are built, renewal.
 *
 * One chain for the file (it takes a few seconds to start); the steps build on
 * each other in order.
 */
import assert from "node:assert/strict";
import type { ApiPromise } from "@polkadot/api";
import { ManualClock, openDatabase } from "../../mod/mod.ts";
import {
  ChainRefusal,
  ChainUnavailableError,
  DbcConnection,
  submitExtrinsic,
  SubstrateVerification,
} from "../../node_service/chain/mod.ts";
import { EventLog } from "../../node_service/event_log.ts";
import { rentalGpus } from "../../http/routes/instances.ts";
import { LeaseLoop, type LeaseTarget } from "../../node_service/lease/loop.ts";
import { leaseCheckHandlers } from "../../node_service/lease/mod.ts";
import { SERVICE_MIGRATIONS } from "../../node_service/migrations.ts";
import { scratchDir, waitFor } from "../helpers.ts";
import { devWallets } from "../wallets.ts";
import { startChopsticks } from "./chopsticks.ts";
import {
  CONFIRM_WINDOW_BLOCKS,
  DBC,
  fund,
  HALF_HOUR_BLOCKS,
  makeMachineOnline,
  setRentSettings,
} from "./dbc_machine.ts";

const MACHINE_ID = "5c3b1e7f".repeat(8);
const NODE_ID = "12D3KooWHvptS6tJ77SZxbVS4ajffYXrB17NffFfnyAdqGFzhbfD";
const RETENTION_MS = 10 * 86_400_000;
/** Blocks are built out of order here (`buildBlockAt`), so transactions are immortal. */
const IMMORTAL = { immortal: true };

Deno.test("the GPU node follows the DBC chain's rent orders (DBC runtime under chopsticks)", async (t) => {
  const { alice, bob, charlie, dave, eve, ferdie } = await devWallets();
  const chain = await startChopsticks();
  const connection = new DbcConnection(chain.url, { timeoutMs: 30_000 });
  const verification = new SubstrateVerification(connection);
  const dir = await scratchDir("chain-verification");
  const clock = new ManualClock(Date.now());
  const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS, { now: () => clock.now() });
  const events = new EventLog(db, () => clock.now());
  const instances = new Map<string, LeaseTarget>();
  const acted: string[] = [];
  const act = (what: string, state: LeaseTarget["state"]) => (target: LeaseTarget) => {
    acted.push(`${what} ${target.id}`);
    instances.set(target.id, { ...target, state });
    return Promise.resolve();
  };
  const loop = new LeaseLoop({
    db,
    events,
    clock,
    verification,
    targets: {
      list: () => Promise.resolve([...instances.values()].filter((i) => i.state !== "deleted")),
      expire: act("expire", "expired"),
      renew: act("renew", "running"),
      delete: act("delete", "deleted"),
    },
    machineId: MACHINE_ID,
    intervalMs: 60_000,
    retentionMs: RETENTION_MS,
  });
  // The HTTP API asks by node id; the chain knows the machine by its 64-hex id.
  const check = leaseCheckHandlers(verification, clock, { nodeId: NODE_ID, as: MACHINE_ID });
  const renting = async (account: string) =>
    (await check["lease.check"]({ account, machine_id: NODE_ID }, { from: "http" })).renting;
  let api: ApiPromise | undefined;
  try {
    api = await connection.api();
    const tx = api.tx;

    await t.step("a machine made online the chain's way reads online", async () => {
      await fund(chain, [alice.address, charlie.address, dave.address], 1_000_000n * DBC);
      await setRentSettings(chain, eve.address);
      await makeMachineOnline(chain, {
        machineId: MACHINE_ID,
        stash: dave.address,
        controller: dave.address,
        gpuNum: 4,
        calcPoint: 4_000,
        committee: [bob.address],
      });
      // The state above is set on the genesis block in place; a built block carries it the way a
      // live chain would. Without it the node's connection missed it for 15 s in 1 of 6 runs on a
      // loaded machine (as cli_test's signatures against genesis failed).
      await chain.newBlocks(1);
      // The storage written is read through the node's own connection, which may answer from
      // the head it knew a moment before (a CI run under load saw it): wait until it is found.
      const status = await waitFor("the machine on the chain", async () => {
        const read = await verification.machineStatus(MACHINE_ID);
        return read.found ? read : undefined;
      }, 15_000);
      assert.deepEqual(status, { found: true, status: "online", detail: "Online" });
      assert.deepEqual(await verification.machineStatus("00".repeat(32)), { found: false });
      assert.equal(await renting(alice.address), false);
    });

    await t.step(
      "a rent waiting for its confirm lets the renter create; others are refused",
      async () => {
        const rent = await submitExtrinsic(
          api!,
          tx.rentMachine!.rentMachine!(MACHINE_ID, 2, HALF_HOUR_BLOCKS),
          alice,
          IMMORTAL,
        );
        assert.ok(rent.events.includes("rentMachine.Rent"), rent.events.join(" "));
        const order = await verification.currentOrder({
          machineId: MACHINE_ID,
          renter: alice.address,
        });
        assert.equal(order?.status, "WaitingVerifying");
        assert.deepEqual(order?.gpuIndex, [0, 1]);
        assert.equal(order?.rentEnd, rent.blockNumber + HALF_HOUR_BLOCKS);
        const lease = await verification.leaseStatus({
          machineId: MACHINE_ID,
          renter: alice.address,
        });
        assert.equal(lease.state, "active");
        assert.equal(await renting(alice.address), true);
        // Bob rents nothing here: the node refuses him.
        assert.equal(await renting(bob.address), false);
        assert.deepEqual(
          await verification.leaseStatus({ machineId: MACHINE_ID, renter: bob.address }),
          { state: "none" },
        );
        assert.deepEqual(await verification.machineStatus(MACHINE_ID), {
          found: true,
          status: "leased",
          detail: "Rented",
        });
      },
    );

    await t.step("a GPU-share order gets the GPUs the chain gave it", async () => {
      await submitExtrinsic(
        api!,
        tx.rentMachine!.rentMachine!(MACHINE_ID, 2, 2 * HALF_HOUR_BLOCKS),
        charlie,
        IMMORTAL,
      );
      const order = await verification.currentOrder({
        machineId: MACHINE_ID,
        renter: charlie.address,
      });
      assert.deepEqual(order?.gpuIndex, [2, 3]);
      assert.equal(order?.gpuNum, 2);
      // What the node's create check gets, and the GPUs a create is then given.
      const lease = await verification.leaseStatus({
        machineId: MACHINE_ID,
        renter: charlie.address,
      });
      assert.equal(lease.state === "active" && lease.gpu_index?.join(","), "2,3");
      assert.deepEqual(rentalGpus(2, lease), { indexes: [2, 3] });
      assert.deepEqual(rentalGpus(1, lease), { indexes: [2] });
      assert.throws(() => rentalGpus(3, lease), /holds 2 GPU\(s\) \(index 2,3\); 3 asked for/);
      // All four GPUs are taken: the runtime refuses a fifth.
      await assert.rejects(
        submitExtrinsic(
          api!,
          tx.rentMachine!.rentMachine!(MACHINE_ID, 1, HALF_HOUR_BLOCKS),
          dave,
          IMMORTAL,
        ),
        (error) => error instanceof ChainRefusal && error.error === "rentMachine.GPUNotEnough",
      );
    });

    await t.step("a renter without funds is refused by the runtime", async () => {
      // Enough for the transaction fee, not for a day's rent of two GPUs.
      await fund(chain, [ferdie.address], 30n * DBC);
      await assert.rejects(
        submitExtrinsic(
          api!,
          tx.rentMachine!.rentMachine!(MACHINE_ID, 1, 48 * HALF_HOUR_BLOCKS),
          ferdie,
          IMMORTAL,
        ),
        (error) =>
          error instanceof ChainRefusal &&
          /rentMachine\.(InsufficientValue|GPUNotEnough)/.test(error.message),
      );
      // No funds at all: the transaction pool refuses it before it runs.
      const nobody = (await devWallets()).bobEd;
      await assert.rejects(
        submitExtrinsic(
          api!,
          tx.rentMachine!.rentMachine!(MACHINE_ID, 1, HALF_HOUR_BLOCKS),
          nobody,
          IMMORTAL,
        ),
        (error) =>
          error instanceof ChainRefusal && /cannot pay the transaction fee/.test(error.message),
      );
    });

    await t.step("confirmed, the rental runs; renewed, it runs longer", async () => {
      const order = await verification.currentOrder({
        machineId: MACHINE_ID,
        renter: alice.address,
      });
      await submitExtrinsic(api!, tx.rentMachine!.confirmRent!(order!.rentId), alice, IMMORTAL);
      const confirmed = await verification.currentOrder({
        machineId: MACHINE_ID,
        renter: alice.address,
      });
      assert.equal(confirmed?.status, "Renting");
      instances.set("vm-alice", {
        id: "vm-alice",
        kind: "vm",
        owner: alice.address,
        state: "running",
      });
      const pass = await loop.pass();
      assert.deepEqual(pass.expired, []);
      const before = await verification.leaseStatus({
        machineId: MACHINE_ID,
        renter: alice.address,
      });
      await submitExtrinsic(
        api!,
        tx.rentMachine!.reletMachine!(order!.rentId, HALF_HOUR_BLOCKS),
        alice,
        IMMORTAL,
      );
      const after = await verification.leaseStatus({
        machineId: MACHINE_ID,
        renter: alice.address,
      });
      assert.equal(before.state, "active");
      assert.equal(after.state, "active");
      if (before.state === "active" && after.state === "active") {
        // The chain's clock moves 6 s a block; the end moved by the half hour renewed.
        assert.ok(after.ends_at - before.ends_at >= HALF_HOUR_BLOCKS * 6_000 - 6_000 * 4);
      }
    });

    await t.step("an unconfirmed order lapses when the confirm window closes", async () => {
      const order = await verification.currentOrder({
        machineId: MACHINE_ID,
        renter: charlie.address,
      });
      await chain.buildBlockAt(order!.rentStart + CONFIRM_WINDOW_BLOCKS);
      assert.equal(
        await verification.currentOrder({ machineId: MACHINE_ID, renter: charlie.address }),
        undefined,
      );
      assert.deepEqual(
        await verification.leaseStatus({ machineId: MACHINE_ID, renter: charlie.address }),
        { state: "none" },
      );
      assert.equal(await renting(charlie.address), false);
    });

    await t.step("once the rent's end block is built, the instance stops and is kept", async () => {
      const order = await verification.currentOrder({
        machineId: MACHINE_ID,
        renter: alice.address,
      });
      await chain.buildBlockAt(order!.rentEnd);
      const lease = await verification.leaseStatus({
        machineId: MACHINE_ID,
        renter: alice.address,
      });
      assert.equal(lease.state, "ended");
      assert.equal(await renting(alice.address), false);
      const pass = await loop.pass();
      assert.deepEqual(pass.expired, ["vm-alice"]);
      assert.equal(instances.get("vm-alice")?.state, "expired");
      assert.deepEqual(await verification.machineStatus(MACHINE_ID), {
        found: true,
        status: "online",
        detail: "Online",
      });
    });

    await t.step("renting again within the retention brings the instance back", async () => {
      // Ten minutes on the node's clock: the new order's end (the chain's clock) is still ahead.
      clock.advance(600_000);
      await submitExtrinsic(
        api!,
        tx.rentMachine!.rentMachine!(MACHINE_ID, 1, HALF_HOUR_BLOCKS),
        alice,
        IMMORTAL,
      );
      const pass = await loop.pass();
      assert.deepEqual(pass.renewed, ["vm-alice"]);
      assert.equal(instances.get("vm-alice")?.state, "running");
      assert.deepEqual(acted, ["expire vm-alice", "renew vm-alice"]);
    });
  } finally {
    verification.close();
    db.close();
    await chain.stop();
  }
});

Deno.test("an unreachable chain is an error, never a verdict", async () => {
  const { alice } = await devWallets();
  const verification = new SubstrateVerification(
    new DbcConnection("ws://127.0.0.1:9", { timeoutMs: 1_500 }),
  );
  try {
    await assert.rejects(
      verification.leaseStatus({ machineId: MACHINE_ID, renter: alice.address }),
      (error) => error instanceof ChainUnavailableError,
    );
  } finally {
    verification.close();
  }
});
