/**
 * No billing for an outage: a rented machine that stops sending heartbeats is
 * down from its last one; the rental's clock stops, nobody can rent it, and
 * when it answers again the rental ends that much later.
 */
import assert from "node:assert/strict";
import { heartbeat, machineId } from "../../machines.ts";
import { devWallets } from "../../wallets.ts";
import { by, DAY, HOUR, onlineMachine, openLedger, refusal } from "./ledger_fixture.ts";

const MINUTE = 60_000;
const FREE = { hour: "0" };

Deno.test("liveness: an outage during a rental is added to it, shown in its record", async () => {
  const { eve, ferdie } = await devWallets();
  const { ledger, clock } = await openLedger({ heartbeatTimeoutMs: 90_000 });
  try {
    const id = await onlineMachine(ledger, clock, "live-m1", FREE);
    ledger.heartbeat(heartbeat("live-m1", clock.now));
    const rental = ledger.rent(by(eve.address), { machine_id: id, unit: "hour", count: 2 });
    const paidEnd = rental.ends_at;

    // Alive for 30 minutes, then silent.
    for (let minute = 1; minute <= 30; minute++) {
      clock.now += MINUTE;
      ledger.heartbeat(heartbeat("live-m1", clock.now));
    }
    const lastSeen = clock.now;
    assert.equal(ledger.getMachine(id).liveness.down_since, null);
    clock.now += 89_000;
    assert.equal(ledger.getMachine(id).liveness.down_since, null, "not yet past the time-out");
    clock.now += 1_000;
    assert.equal(
      ledger.getMachine(id).liveness.down_since,
      lastSeen,
      "down from the last heartbeat",
    );

    // Down for 5 hours: past the paid end, yet the rental still runs and nobody else can rent.
    clock.now = lastSeen + 5 * HOUR;
    const during = ledger.getRental(rental.rental_id);
    assert.equal(during.state, "active");
    assert.equal(during.ends_at, paidEnd + 5 * HOUR);
    assert.deepEqual(during.outages, [{
      down_since: lastSeen,
      up_at: null,
      credited_ms: 5 * HOUR,
    }]);
    const lease = ledger.leaseStatus(id, eve.address);
    assert.equal(lease.state, "active");
    assert.ok(lease.state === "active" && lease.ends_at > clock.now);
    assert.match(
      refusal(() => ledger.rent(by(ferdie.address), { machine_id: id, unit: "hour", count: 1 })),
      /^conflict: machine .* is leased, not online/,
    );

    // Back: the outage is closed and its length added to the paid end.
    const back = ledger.heartbeat(heartbeat("live-m1", clock.now));
    assert.deepEqual(back.recovered, { down_since: lastSeen, up_at: clock.now });
    const after = ledger.getRental(rental.rental_id);
    assert.equal(after.ends_at, paidEnd + 5 * HOUR);
    assert.deepEqual(after.outages, [
      { down_since: lastSeen, up_at: lastSeen + 5 * HOUR, credited_ms: 5 * HOUR },
    ]);
    assert.equal(ledger.getMachine(id).liveness.down_since, null);

    // The renter gets the 1.5 hours it had left when the machine fell silent, and no more.
    while (clock.now + MINUTE < paidEnd + 5 * HOUR) {
      clock.now += MINUTE;
      ledger.heartbeat(heartbeat("live-m1", clock.now));
    }
    clock.now = paidEnd + 5 * HOUR - 1;
    assert.equal(ledger.getRental(rental.rental_id).state, "active");
    clock.now = paidEnd + 5 * HOUR;
    assert.equal(ledger.getRental(rental.rental_id).state, "ended");
    assert.equal(ledger.getMachine(id).status, "online");
  } finally {
    ledger.close();
  }
});

Deno.test("liveness: a down machine is not rented; a heartbeat must be the machine's own and newer", async () => {
  const { eve } = await devWallets();
  const { ledger, clock } = await openLedger({ heartbeatTimeoutMs: 90_000 });
  try {
    const id = await onlineMachine(ledger, clock, "live-m2", FREE);
    clock.now += DAY;
    assert.notEqual(ledger.getMachine(id).liveness.down_since, null);
    assert.match(
      refusal(() => ledger.rent(by(eve.address), { machine_id: id, unit: "hour", count: 1 })),
      /^conflict: machine .* has not answered since .*: it is down/,
    );

    // Another node's signature, a replay, a stale one, a machine not in the ledger.
    const forged = { ...heartbeat("live-other", clock.now), machine_id: id };
    assert.match(
      refusal(() => ledger.heartbeat(forged)),
      /^forbidden: heartbeat refused: .*not signed by node/,
    );
    const beat = heartbeat("live-m2", clock.now);
    ledger.heartbeat(beat);
    assert.match(refusal(() => ledger.heartbeat(beat)), /^conflict: heartbeat refused: not newer/);
    assert.match(
      refusal(() => ledger.heartbeat(heartbeat("live-m2", clock.now - 10 * MINUTE))),
      /^forbidden: heartbeat refused: .*minutes from the ledger's clock/,
    );
    assert.match(
      refusal(() => ledger.heartbeat(heartbeat("live-unknown", clock.now))),
      /^not_found: no machine/,
    );
    assert.equal(ledger.getMachine(id).liveness.down_since, null);
    assert.equal(
      ledger.rent(by(eve.address), { machine_id: id, unit: "hour", count: 1 }).state,
      "active",
    );
    assert.equal(machineId("live-m2"), id);
  } finally {
    ledger.close();
  }
});

Deno.test("liveness: a rental that ran out before the machine fell silent is not extended", async () => {
  const { eve } = await devWallets();
  const { ledger, clock } = await openLedger({ heartbeatTimeoutMs: 90_000 });
  try {
    const id = await onlineMachine(ledger, clock, "live-m3", { second: "0" });
    ledger.heartbeat(heartbeat("live-m3", clock.now));
    const rental = ledger.rent(by(eve.address), { machine_id: id, unit: "second", count: 30 });
    // The machine beats past the rental's end, then dies; nobody read the ledger meanwhile.
    clock.now += 60_000;
    ledger.heartbeat(heartbeat("live-m3", clock.now));
    clock.now += HOUR;
    const ended = ledger.getRental(rental.rental_id);
    assert.equal(ended.state, "ended");
    assert.equal(ended.ends_at, rental.ends_at);
    assert.deepEqual(ended.outages, []);
  } finally {
    ledger.close();
  }
});
