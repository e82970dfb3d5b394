/** The embedded ledger on a real SQLite file: onboarding, rentals, billing, multisig, restarts. */
import assert from "node:assert/strict";
import { encodeMultiAddress } from "@polkadot/util-crypto";
import { type MachineConfig, type RentPrices, RpcError, type SignedBy } from "../../../mod/mod.ts";
import { billPeriod, RENT_UNIT_MS } from "../../../node_service/ledger/billing.ts";
import { Ledger, type LedgerOptions } from "../../../node_service/ledger/ledger.ts";
import { nextMachineState } from "../../../node_service/ledger/machine_state.ts";
import { decideRound, validatorSlots } from "../../../node_service/ledger/validation.ts";
import { scratchDir } from "../../helpers.ts";
import { machineId, registration } from "../../machines.ts";
import { devWallets } from "../../wallets.ts";

const HOUR = 3_600_000;
const DAY = 86_400_000;
const WINDOW = 9 * HOUR; // nine slots of one hour
const T0 = Date.UTC(2025, 0, 1);
const CONFIG: MachineConfig = {
  gpu_model: "NVIDIA H100 80GB HBM3",
  gpu_count: 2,
  cpu_model: "AMD EPYC 9654",
  cpu_cores: 64,
  memory_gib: 512,
  disk_gib: 4000,
};
const PRICES = { second: "1000000000000", hour: "3000000000000000", day: "60000000000000000" };

let nonces = 0;
function by(account: string): SignedBy {
  return { account, nonce: `nonce-${nonces++}`, nonce_expires_at: T0 + 365 * DAY };
}

async function openLedger(options: Partial<LedgerOptions> = {}) {
  const dir = await scratchDir("ledger");
  const clock = { now: T0 };
  const settings: LedgerOptions = {
    now: () => clock.now,
    verificationWindowMs: WINDOW,
    validators: [],
    renewalGraceMs: 10 * DAY,
    admins: [(await devWallets()).bobEd.address],
    ...options,
  };
  const path = `${dir}/ledger.db`;
  const ledger = Ledger.open(path, settings);
  // The renters of these tests have money enough; balances/liveness have their own tests.
  const { eve, ferdie, bobEd } = await devWallets();
  if (settings.admins?.includes(bobEd.address)) {
    for (const renter of [eve, ferdie]) {
      ledger.fund(by(bobEd.address), { account: renter.address, amount: "1".padEnd(31, "0") });
    }
  }
  return { path, clock, settings, ledger };
}

function rpcCode(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    if (error instanceof RpcError) return error.code;
    throw error;
  }
  return "no error";
}

Deno.test("billing: seconds, hours and days give the exact end and amount", () => {
  assert.deepEqual(billPeriod({ unit: "second", count: 90, pricePerUnit: "7", startsAt: 1_000 }), {
    ok: true,
    endsAt: 91_000,
    periodMs: 90_000,
    amount: "630",
  });
  assert.deepEqual(
    billPeriod({ unit: "hour", count: 5, pricePerUnit: "3000000000000000", startsAt: T0 }),
    { ok: true, endsAt: T0 + 5 * HOUR, periodMs: 5 * HOUR, amount: "15000000000000000" },
  );
  // 30 days at 123456789012345678901 a day: beyond 2^53, still exact.
  const month = billPeriod({
    unit: "day",
    count: 30,
    pricePerUnit: "123456789012345678901",
    startsAt: T0,
  });
  assert.deepEqual(month, {
    ok: true,
    endsAt: T0 + 30 * DAY,
    periodMs: 30 * DAY,
    amount: "3703703670370370367030",
  });
  assert.equal(RENT_UNIT_MS.day, 24 * RENT_UNIT_MS.hour);
  assert.equal(billPeriod({ unit: "day", count: 0, pricePerUnit: "1", startsAt: 0 }).ok, false);
  assert.equal(billPeriod({ unit: "day", count: 1.5, pricePerUnit: "1", startsAt: 0 }).ok, false);
  assert.equal(billPeriod({ unit: "day", count: 1, pricePerUnit: "-1", startsAt: 0 }).ok, false);
  assert.equal(
    billPeriod({ unit: "day", count: 2 ** 40, pricePerUnit: "1", startsAt: 0 }).ok,
    false,
  );
});

Deno.test("machine states: a pure function that refuses what cannot happen", () => {
  const unverified = { status: "unverified" as const, since: 0 };
  const verifying = nextMachineState(unverified, { type: "validator_grabbed" }, 5);
  assert.deepEqual(verifying, { ok: true, state: { status: "verifying", since: 5 } });
  assert.equal(nextMachineState(unverified, { type: "rented", rentalId: 1 }, 6).ok, false);
  assert.equal(nextMachineState(unverified, { type: "validation_passed" }, 6).ok, false);
  const online = nextMachineState(
    { status: "verifying", since: 5 },
    { type: "validation_passed" },
    9,
  );
  assert.deepEqual(online, { ok: true, state: { status: "online", since: 9 } });
  const leased = nextMachineState(
    { status: "online", since: 9 },
    { type: "rented", rentalId: 4 },
    10,
  );
  assert.deepEqual(leased, { ok: true, state: { status: "leased", since: 10, rentalId: 4 } });
  const leasedState = { status: "leased" as const, since: 10, rentalId: 4 };
  assert.equal(nextMachineState(leasedState, { type: "rental_ended", rentalId: 5 }, 11).ok, false);
  assert.equal(nextMachineState(leasedState, { type: "rented", rentalId: 5 }, 11).ok, false);
  const failed = nextMachineState({ status: "verifying", since: 5 }, {
    type: "validation_failed",
    reason: "2 GPUs, not 8",
  }, 12);
  assert.deepEqual(failed, {
    ok: true,
    state: { status: "failed", since: 12, reason: "2 GPUs, not 8" },
  });
  assert.equal(
    nextMachineState({ status: "failed", since: 12, reason: "x" }, { type: "resubmitted" }, 13).ok,
    true,
  );
  assert.equal(
    nextMachineState({ status: "online", since: 9 }, { type: "resubmitted" }, 13).ok,
    false,
  );
});

Deno.test("slots: nine per round, dealt round-robin, three per validator", () => {
  assert.deepEqual(validatorSlots(0, 0, WINDOW), [
    { starts_at: 0, ends_at: HOUR },
    { starts_at: 3 * HOUR, ends_at: 4 * HOUR },
    { starts_at: 6 * HOUR, ends_at: 7 * HOUR },
  ]);
  assert.deepEqual(validatorSlots(0, 2, WINDOW).map((slot) => slot.starts_at / HOUR), [2, 5, 8]);
  assert.equal(
    validatorSlots(0, 2, WINDOW)[2]!.ends_at,
    WINDOW,
    "the last slot ends with the window",
  );
  const reported = (confirms: boolean | null) => ({ confirms });
  assert.deepEqual(
    decideRound({
      startedAt: 0,
      windowMs: WINDOW,
      now: HOUR,
      validators: [reported(true), reported(true)],
    }),
    { over: false },
    "two reports of two grabs: a third validator may still come",
  );
  assert.deepEqual(
    decideRound({
      startedAt: 0,
      windowMs: WINDOW,
      now: WINDOW,
      validators: [reported(true), reported(false), reported(null)],
    }),
    { over: true, verdict: "failed", confirms: 1, refusals: 1 },
    "a tie is no majority",
  );
  assert.deepEqual(
    decideRound({ startedAt: 0, windowMs: WINDOW, now: WINDOW, validators: [reported(true)] }),
    { over: true, verdict: "inconclusive", confirms: 1, refusals: 0 },
  );
});

Deno.test("onboarding: 3 validators grab, a 4th is refused, slots are enforced, results decide", async () => {
  const { alice, bob, charlie, dave, eve } = await devWallets();
  const { ledger, clock } = await openLedger();
  try {
    const registered = ledger.registerMachine(
      by(alice.address),
      registration({
        machine: "machine-1",
        owner: alice.address,
        config: CONFIG,
        prices: PRICES,
        signedAt: clock.now,
      }),
    );
    assert.equal(registered.status, "unverified");
    assert.equal(registered.owner, alice.address);
    assert.equal(
      rpcCode(() => ledger.grabOrder(by(alice.address), machineId("machine-1"))),
      "forbidden",
    );
    assert.equal(
      rpcCode(() =>
        ledger.rent(by(eve.address), { machine_id: machineId("machine-1"), unit: "hour", count: 1 })
      ),
      "conflict",
      "an unverified machine cannot be rented",
    );

    const afterBob = ledger.grabOrder(by(bob.address), machineId("machine-1"));
    assert.equal(afterBob.status, "verifying");
    assert.equal(afterBob.validation.started_at, T0);
    clock.now += 10 * 60_000;
    ledger.grabOrder(by(charlie.address), machineId("machine-1"));
    assert.equal(
      rpcCode(() => ledger.grabOrder(by(charlie.address), machineId("machine-1"))),
      "conflict",
    );
    const full = ledger.grabOrder(by(dave.address), machineId("machine-1"));
    assert.deepEqual(full.validation.validators.map((order) => order.validator), [
      bob.address,
      charlie.address,
      dave.address,
    ]);
    assert.deepEqual(full.validation.validators[1]!.slots[0], {
      starts_at: T0 + HOUR,
      ends_at: T0 + 2 * HOUR,
    });
    assert.equal(
      rpcCode(() => ledger.grabOrder(by(eve.address), machineId("machine-1"))),
      "conflict",
      "a 4th validator",
    );

    const good = {
      kind: "observed" as const,
      observed: { ...CONFIG, memory_gib: 503, disk_gib: 3900 },
    };
    // Charlie's first slot is the second hour: a report in the first is refused.
    clock.now = T0 + 30 * 60_000;
    assert.equal(
      rpcCode(() => ledger.reportOrder(by(charlie.address), machineId("machine-1"), good)),
      "forbidden",
    );
    assert.equal(
      rpcCode(() => ledger.reportOrder(by(eve.address), machineId("machine-1"), good)),
      "forbidden",
    );
    assert.equal(
      ledger.reportOrder(by(bob.address), machineId("machine-1"), good).status,
      "verifying",
    );
    assert.equal(
      rpcCode(() => ledger.reportOrder(by(bob.address), machineId("machine-1"), good)),
      "conflict",
    );

    clock.now = T0 + HOUR + 5 * 60_000;
    const two = ledger.reportOrder(by(charlie.address), machineId("machine-1"), good);
    assert.equal(two.status, "verifying", "not online before the validation is over");
    assert.equal(
      rpcCode(() =>
        ledger.rent(by(eve.address), { machine_id: machineId("machine-1"), unit: "hour", count: 1 })
      ),
      "conflict",
    );

    // Dave's slots are hours 3, 6 and 9; he reports a wrong GPU count in his second one.
    clock.now = T0 + 5 * HOUR + 1;
    const wrong = { kind: "observed" as const, observed: { ...CONFIG, gpu_count: 1 } };
    const done = ledger.reportOrder(by(dave.address), machineId("machine-1"), wrong);
    assert.equal(done.status, "online", "two of three confirm: a majority");
    assert.equal(done.status_since, clock.now);
    assert.deepEqual(done.validation.validators.map((order) => order.confirms), [
      true,
      true,
      false,
    ]);
    assert.match(done.validation.validators[2]!.mismatches[0]!, /gpu_count: declared 2, seen 1/);
    assert.deepEqual(ledger.listMachines({ status: "online" }).map((m) => m.machine_id), [
      machineId("machine-1"),
    ]);
    assert.deepEqual(ledger.listMachines({ status: "verifying" }), []);
  } finally {
    ledger.close();
  }
});

Deno.test("onboarding: a majority of mismatches fails the machine; too few reports start a new round", async () => {
  const { alice, bob, charlie, dave } = await devWallets();
  const { ledger, clock } = await openLedger();
  try {
    ledger.registerMachine(
      by(alice.address),
      registration({
        machine: "m-fail",
        owner: alice.address,
        config: CONFIG,
        prices: PRICES,
        signedAt: clock.now,
      }),
    );
    ledger.grabOrder(by(bob.address), machineId("m-fail"));
    ledger.grabOrder(by(charlie.address), machineId("m-fail"));
    ledger.grabOrder(by(dave.address), machineId("m-fail"));
    const bad = { kind: "observed" as const, observed: { ...CONFIG, gpu_model: "NVIDIA A100" } };
    ledger.reportOrder(by(bob.address), machineId("m-fail"), bad);
    clock.now = T0 + HOUR;
    ledger.reportOrder(by(charlie.address), machineId("m-fail"), {
      kind: "failed",
      reason: "VM did not boot",
    });
    clock.now = T0 + 2 * HOUR;
    const failed = ledger.reportOrder(by(dave.address), machineId("m-fail"), {
      kind: "observed",
      observed: CONFIG,
    });
    assert.equal(failed.status, "failed");
    assert.match(failed.failure_reason!, /2 of 3 validators/);
    assert.match(failed.failure_reason!, /gpu_model/);
    assert.match(failed.failure_reason!, /VM did not boot/);
    // Its owner may submit it again: a new round.
    const again = ledger.registerMachine(
      by(alice.address),
      registration({
        machine: "m-fail",
        owner: alice.address,
        config: { ...CONFIG, gpu_model: "NVIDIA A100" },
        prices: PRICES,
        signedAt: clock.now,
      }),
    );
    assert.equal(again.status, "unverified");
    assert.equal(again.validation.round, 2);
    assert.deepEqual(again.validation.validators, []);
    assert.equal(
      rpcCode(() =>
        ledger.registerMachine(
          by(bob.address),
          registration({
            machine: "m-fail",
            owner: bob.address,
            config: CONFIG,
            prices: PRICES,
            signedAt: clock.now,
          }),
        )
      ),
      "forbidden",
    );

    // One report by the end of the window: no verdict, a fresh round.
    ledger.registerMachine(
      by(alice.address),
      registration({
        machine: "m-quiet",
        owner: alice.address,
        config: CONFIG,
        prices: PRICES,
        signedAt: clock.now,
      }),
    );
    const startedAt = clock.now;
    ledger.grabOrder(by(bob.address), machineId("m-quiet"));
    ledger.reportOrder(by(bob.address), machineId("m-quiet"), {
      kind: "observed",
      observed: CONFIG,
    });
    clock.now = startedAt + WINDOW - 1;
    assert.equal(ledger.getMachine(machineId("m-quiet")).status, "verifying");
    clock.now = startedAt + WINDOW;
    const quiet = ledger.getMachine(machineId("m-quiet"));
    assert.equal(quiet.status, "unverified");
    assert.equal(quiet.validation.round, 2);

    // Two confirming reports and a silent third: online when the window closes, not before.
    ledger.registerMachine(
      by(alice.address),
      registration({
        machine: "m-slow",
        owner: alice.address,
        config: CONFIG,
        prices: PRICES,
        signedAt: clock.now,
      }),
    );
    const slowStart = clock.now;
    ledger.grabOrder(by(bob.address), machineId("m-slow"));
    ledger.grabOrder(by(charlie.address), machineId("m-slow"));
    ledger.grabOrder(by(dave.address), machineId("m-slow"));
    ledger.reportOrder(by(bob.address), machineId("m-slow"), {
      kind: "observed",
      observed: CONFIG,
    });
    clock.now = slowStart + HOUR;
    ledger.reportOrder(by(charlie.address), machineId("m-slow"), {
      kind: "observed",
      observed: CONFIG,
    });
    clock.now = slowStart + 8 * HOUR;
    assert.equal(ledger.getMachine(machineId("m-slow")).status, "verifying");
    clock.now = slowStart + WINDOW + 5;
    const slow = ledger.getMachine(machineId("m-slow"));
    assert.equal(slow.status, "online");
    assert.equal(slow.status_since, slowStart + WINDOW, "online from the moment the window closed");
  } finally {
    ledger.close();
  }
});

Deno.test("onboarding: only listed validators grab when the ledger names them", async () => {
  const { alice, bob, charlie } = await devWallets();
  const { ledger } = await openLedger({ validators: [charlie.address] });
  try {
    ledger.registerMachine(
      by(alice.address),
      registration({
        machine: "m-listed",
        owner: alice.address,
        config: CONFIG,
        prices: PRICES,
        signedAt: T0,
      }),
    );
    assert.equal(
      rpcCode(() => ledger.grabOrder(by(bob.address), machineId("m-listed"))),
      "forbidden",
    );
    assert.equal(ledger.grabOrder(by(charlie.address), machineId("m-listed")).status, "verifying");
  } finally {
    ledger.close();
  }
});

async function onlineMachine(
  ledger: Ledger,
  clock: { now: number },
  name: string,
  prices: RentPrices = PRICES,
) {
  const { alice, bob, charlie, dave } = await devWallets();
  const id = machineId(name);
  ledger.registerMachine(
    by(alice.address),
    registration({
      machine: name,
      owner: alice.address,
      config: CONFIG,
      prices,
      signedAt: clock.now,
    }),
  );
  const start = clock.now;
  for (const validator of [bob, charlie, dave]) ledger.grabOrder(by(validator.address), id);
  for (const [index, validator] of [bob, charlie, dave].entries()) {
    clock.now = start + index * HOUR;
    ledger.reportOrder(by(validator.address), id, { kind: "observed", observed: CONFIG });
  }
  assert.equal(ledger.getMachine(id).status, "online");
}

Deno.test("rentals: rent, renew while running and after the end, grace period, limits", async () => {
  const { eve, ferdie } = await devWallets();
  const { ledger, clock } = await openLedger();
  try {
    await onlineMachine(ledger, clock, "m-rent");
    const rentedAt = clock.now;
    assert.equal(
      rpcCode(() =>
        ledger.rent(by(eve.address), { machine_id: machineId("m-rent"), unit: "day", count: 61 })
      ),
      "invalid_params",
      "at most 60 days ahead",
    );
    const rental = ledger.rent(by(eve.address), {
      machine_id: machineId("m-rent"),
      unit: "hour",
      count: 5,
    });
    assert.equal(rental.ends_at, rentedAt + 5 * HOUR);
    assert.equal(rental.total_amount, "15000000000000000");
    assert.equal(rental.state, "active");
    assert.equal(rental.renter, eve.address);
    const leased = ledger.getMachine(machineId("m-rent"));
    assert.equal(leased.status, "leased");
    assert.equal(leased.rental_id, rental.rental_id);
    assert.equal(
      rpcCode(() =>
        ledger.rent(by(ferdie.address), { machine_id: machineId("m-rent"), unit: "hour", count: 1 })
      ),
      "conflict",
    );
    assert.deepEqual(ledger.leaseStatus(machineId("m-rent"), eve.address), {
      state: "active",
      rental_id: String(rental.rental_id),
      ends_at: rentedAt + 5 * HOUR,
    });
    assert.deepEqual(ledger.leaseStatus(machineId("m-rent"), ferdie.address), { state: "none" });

    // Renewed while running: from its end.
    clock.now = rentedAt + HOUR;
    const renewed = ledger.renew(by(eve.address), {
      rental_id: rental.rental_id,
      unit: "second",
      count: 90,
    });
    assert.equal(renewed.ends_at, rentedAt + 5 * HOUR + 90_000);
    assert.equal(renewed.total_amount, "15090000000000000");
    assert.deepEqual(
      renewed.payments.map((payment) => [payment.kind, payment.unit, payment.amount]),
      [
        ["rent", "hour", "15000000000000000"],
        ["renew", "second", "90000000000000"],
      ],
    );
    assert.equal(
      rpcCode(() =>
        ledger.renew(by(ferdie.address), { rental_id: rental.rental_id, unit: "day", count: 1 })
      ),
      "forbidden",
    );

    // Past its end: ended, the machine online again.
    clock.now = renewed.ends_at;
    assert.equal(ledger.getRental(rental.rental_id).state, "ended");
    assert.equal(ledger.getMachine(machineId("m-rent")).status, "online");
    assert.deepEqual(ledger.leaseStatus(machineId("m-rent"), eve.address), {
      state: "ended",
      rental_id: String(rental.rental_id),
      ended_at: renewed.ends_at,
    });
    // Renewed 9 days after the end: from now, and leased again.
    clock.now = renewed.ends_at + 9 * DAY;
    const back = ledger.renew(by(eve.address), {
      rental_id: rental.rental_id,
      unit: "day",
      count: 2,
    });
    assert.equal(back.state, "active");
    assert.equal(back.ends_at, clock.now + 2 * DAY);
    assert.equal(ledger.getMachine(machineId("m-rent")).status, "leased");
    // Ended again, and left more than 10 days: too late to renew.
    clock.now = back.ends_at + 10 * DAY;
    assert.equal(
      rpcCode(() =>
        ledger.renew(by(eve.address), { rental_id: rental.rental_id, unit: "day", count: 1 })
      ),
      "conflict",
    );
    assert.equal(
      rpcCode(() => ledger.renew(by(eve.address), { rental_id: 999, unit: "day", count: 1 })),
      "not_found",
    );
    // Someone else rents it meanwhile; the first renter can no longer renew.
    const other = ledger.rent(by(ferdie.address), {
      machine_id: machineId("m-rent"),
      unit: "day",
      count: 1,
    });
    assert.equal(other.renter, ferdie.address);
  } finally {
    ledger.close();
  }
});

Deno.test("a machine that does not rent by a unit refuses it; an unknown machine is not found", async () => {
  const { eve } = await devWallets();
  const { ledger, clock } = await openLedger();
  try {
    await onlineMachine(ledger, clock, "m-day", { day: "5" });
    assert.equal(
      rpcCode(() =>
        ledger.rent(by(eve.address), { machine_id: machineId("m-day"), unit: "hour", count: 1 })
      ),
      "invalid_params",
    );
    assert.equal(
      ledger.rent(by(eve.address), { machine_id: machineId("m-day"), unit: "day", count: 3 })
        .total_amount,
      "15",
    );
    assert.equal(
      rpcCode(() =>
        ledger.rent(by(eve.address), { machine_id: machineId("m-none"), unit: "day", count: 1 })
      ),
      "not_found",
    );
  } finally {
    ledger.close();
  }
});

Deno.test("multisig accounts: registered by a signatory, derived as Substrate derives them", async () => {
  const { alice, bob, charlie, eve } = await devWallets();
  const { ledger } = await openLedger();
  try {
    const signatories = [charlie.address, alice.address, bob.address];
    const account = ledger.registerMultisig(by(bob.address), { signatories, threshold: 2 });
    assert.equal(account.address, encodeMultiAddress(signatories, 2, 42));
    assert.equal(account.threshold, 2);
    assert.equal(account.registered_by, bob.address);
    assert.deepEqual(ledger.getMultisig(account.address), account);
    assert.deepEqual(
      ledger.registerMultisig(by(alice.address), { signatories, threshold: 2 }),
      account,
    );
    assert.equal(
      rpcCode(() => ledger.registerMultisig(by(eve.address), { signatories, threshold: 2 })),
      "forbidden",
    );
    assert.equal(
      rpcCode(() => ledger.registerMultisig(by(alice.address), { signatories, threshold: 4 })),
      "invalid_params",
    );
    assert.equal(rpcCode(() => ledger.getMultisig(eve.address)), "not_found");
  } finally {
    ledger.close();
  }
});

Deno.test("a restart loses nothing, and a used nonce stays used", async () => {
  const { alice, eve } = await devWallets();
  const first = await openLedger();
  await onlineMachine(first.ledger, first.clock, "m-restart");
  const signed = by(eve.address);
  const rental = first.ledger.rent(signed, {
    machine_id: machineId("m-restart"),
    unit: "day",
    count: 3,
  });
  first.ledger.close();

  const reopened = Ledger.open(first.path, first.settings);
  try {
    assert.deepEqual(reopened.getRental(rental.rental_id), rental);
    assert.equal(reopened.getMachine(machineId("m-restart")).status, "leased");
    assert.equal(
      rpcCode(() => reopened.renew(signed, { rental_id: rental.rental_id, unit: "day", count: 1 })),
      "conflict",
      "the same (account, nonce) again is a replay",
    );
    // A refused write uses up nothing: the same nonce works for a valid request.
    const fresh = by(alice.address);
    assert.equal(rpcCode(() => reopened.grabOrder(fresh, machineId("m-restart"))), "forbidden");
    assert.equal(
      reopened.registerMachine(
        fresh,
        registration({
          machine: "m-new",
          owner: alice.address,
          config: CONFIG,
          prices: PRICES,
          signedAt: first.clock.now,
        }),
      )
        .status,
      "unverified",
    );
  } finally {
    reopened.close();
  }
});
