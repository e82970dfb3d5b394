/** Balances on the embedded ledger: funded by an admin, rent and renewal paid exactly, too little refused. */
import assert from "node:assert/strict";
import { Ledger } from "../../../node_service/ledger/mod.ts";
import { devWallets } from "../../wallets.ts";
import { by, DAY, HOUR, onlineMachine, openLedger, refusal } from "./ledger_fixture.ts";

const PRICES = { second: "1000000000000", hour: "3000000000000000", day: "60000000000000000" };

Deno.test("balances: only an admin funds; rent and renewal move the exact amount from renter to owner", async () => {
  const { alice, eve, ferdie } = await devWallets();
  const { ledger, clock } = await openLedger({ admins: [ferdie.address] });
  try {
    const id = await onlineMachine(ledger, clock, "balances-m1", PRICES);

    assert.match(
      refusal(() => ledger.fund(by(eve.address), { account: eve.address, amount: "5" })),
      /^forbidden: .* is not a ledger admin/,
    );
    assert.equal(ledger.balance(eve.address).balance, "0");

    // 2 hours cost 6e15; Eve gets 7e15 so one more hour is just affordable.
    const funded = ledger.fund(by(ferdie.address), {
      account: eve.address,
      amount: "7000000000000000",
    });
    assert.equal(funded.balance, "7000000000000000");
    assert.equal(funded.entries[0]!.kind, "fund");
    assert.equal(funded.entries[0]!.counterparty, ledger.balance(ferdie.address).account);

    const rental = ledger.rent(by(eve.address), { machine_id: id, unit: "hour", count: 2 });
    assert.equal(rental.total_amount, "6000000000000000");
    assert.equal(ledger.balance(eve.address).balance, "1000000000000000");
    const owner = ledger.balance(alice.address);
    assert.equal(owner.balance, "6000000000000000");
    assert.deepEqual(
      {
        kind: owner.entries[0]!.kind,
        delta: owner.entries[0]!.delta,
        rental: owner.entries[0]!.rental_id,
      },
      { kind: "rent", delta: "6000000000000000", rental: rental.rental_id },
    );
    assert.equal(ledger.balance(eve.address).entries[0]!.delta, "-6000000000000000");

    // A day costs 6e16: far more than Eve has. Nothing changes.
    const before = ledger.getRental(rental.rental_id);
    assert.match(
      refusal(() =>
        ledger.renew(by(eve.address), { rental_id: rental.rental_id, unit: "day", count: 1 })
      ),
      /^conflict: insufficient balance: .* has 1000000000000000, this renew costs 60000000000000000/,
    );
    assert.deepEqual(ledger.getRental(rental.rental_id), before);
    assert.equal(ledger.balance(eve.address).balance, "1000000000000000");
    assert.equal(ledger.balance(alice.address).balance, "6000000000000000");

    // 1000 seconds cost exactly 1e15: the balance reaches zero, not below.
    clock.now += HOUR;
    const renewed = ledger.renew(by(eve.address), {
      rental_id: rental.rental_id,
      unit: "second",
      count: 1000,
    });
    assert.equal(renewed.ends_at, rental.ends_at + 1_000_000);
    assert.equal(ledger.balance(eve.address).balance, "0");
    assert.equal(ledger.balance(alice.address).balance, "7000000000000000");
  } finally {
    ledger.close();
  }
});

Deno.test("balances: a renter without funds is refused and the machine stays free", async () => {
  const { eve, ferdie } = await devWallets();
  const { ledger, clock } = await openLedger({ admins: [ferdie.address] });
  try {
    const id = await onlineMachine(ledger, clock, "balances-m2", PRICES);
    assert.match(
      refusal(() => ledger.rent(by(eve.address), { machine_id: id, unit: "day", count: 1 })),
      /^conflict: insufficient balance/,
    );
    assert.equal(ledger.getMachine(id).status, "online");
    assert.deepEqual(ledger.leaseStatus(id, eve.address), { state: "none" });
    // The refused request used up nothing: the same renter rents once funded.
    ledger.fund(by(ferdie.address), { account: eve.address, amount: "60000000000000000" });
    assert.equal(
      ledger.rent(by(eve.address), { machine_id: id, unit: "day", count: 1 }).state,
      "active",
    );
    assert.equal(ledger.getMachine(id).status, "leased");
    clock.now += 2 * DAY;
    assert.equal(ledger.getMachine(id).status, "online");
  } finally {
    ledger.close();
  }
});

Deno.test("balances: amounts beyond 2^53 stay exact across a restart", async () => {
  const { eve, ferdie } = await devWallets();
  const first = await openLedger({ admins: [ferdie.address] });
  first.ledger.fund(by(ferdie.address), {
    account: eve.address,
    amount: "123456789012345678901234567890",
  });
  first.ledger.fund(by(ferdie.address), { account: eve.address, amount: "1" });
  first.ledger.close();
  const reopened = Ledger.open(first.path, first.settings);
  try {
    const balance = reopened.balance(eve.address);
    assert.equal(balance.balance, "123456789012345678901234567891");
    assert.deepEqual(balance.entries.map((entry) => entry.delta), [
      "1",
      "123456789012345678901234567890",
    ]);
  } finally {
    reopened.close();
  }
});
