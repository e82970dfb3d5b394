/**
 * The chain's committee round as the GPU node reads it (`SubstrateVerification.machine`, the
 * OnlineCommittee storage of DBC's runtime under chopsticks) and what the check-VM decision makes
 * of it: the booked member whose verification slot it is may create the check VM; a member whose
 * slot is later, one that already submitted its hash, and an account the chain did not book may
 * not.
 */
import assert from "node:assert/strict";
import { DbcConnection, SubstrateVerification } from "../../node_service/chain/mod.ts";
import { checkDecision } from "../../node_service/validation/decision.ts";
import { devWallets } from "../wallets.ts";
import { startChopsticks } from "./chopsticks.ts";
import { bookCommittee, DBC, fund, makeMachineOnline } from "./dbc_machine.ts";

const MACHINE_ID = "c0ffee17".repeat(8);

Deno.test("a booked committee member may create the check VM in its own slot (DBC runtime under chopsticks)", async () => {
  const { alice, bob, charlie, dave, eve } = await devWallets();
  const chain = await startChopsticks();
  const verification = new SubstrateVerification(
    new DbcConnection(chain.url, { timeoutMs: 30_000 }),
  );
  try {
    await fund(chain, [alice.address], 1_000n * DBC);
    const members = [bob, charlie, dave];
    await makeMachineOnline(chain, {
      machineId: MACHINE_ID,
      stash: alice.address,
      controller: alice.address,
      gpuNum: 2,
      calcPoint: 2_000,
      committee: members.map((member) => member.address),
      status: "CommitteeVerifying",
    });
    // Distributed now, as `online_committee::book_one` leaves it: booked, slots from this block.
    await bookCommittee(chain, MACHINE_ID, [
      { account: bob.address },
      { account: charlie.address },
      { account: dave.address, status: "Hashed" },
    ], await chain.head());

    const machine = await verification.machine(MACHINE_ID);
    assert.equal(machine.status, "verifying");
    assert.equal(machine.owner, alice.address);
    assert.deepEqual(
      machine.validation.validators.map((order) => order.validator),
      members.map((member) => member.address),
    );
    assert.equal(machine.validation.validators[0]!.slots.length, 3);
    // The chain's clock: its latest block's time, not this process's.
    const now = machine.validation.validators[0]!.slots[0]!.starts_at + 60_000;
    const decide = (validator: string) =>
      checkDecision({ machine, machineId: MACHINE_ID, validator, now, live: [] });

    const inSlot = decide(bob.address);
    assert.equal(inSlot.allowed, true, JSON.stringify(inSlot));
    const later = decide(charlie.address);
    assert.equal(later.allowed, false);
    assert.match(!later.allowed ? later.reason : "", /the next opens at/);
    const reported = decide(dave.address);
    assert.equal(reported.allowed, false);
    assert.match(!reported.allowed ? reported.reason : "", /already reported/);
    const outsider = decide(eve.address);
    assert.equal(outsider.allowed, false);
    assert.match(!outsider.allowed ? outsider.reason : "", /holds no order/);
    await assert.rejects(verification.machine("00".repeat(32)), /is not on the chain/);
  } finally {
    verification.close();
    await chain.stop();
  }
});
