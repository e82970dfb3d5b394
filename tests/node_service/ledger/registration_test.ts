/**
 * Registration needs the machine and its owner: a node id registered by anyone
 * else, for another owner, with another node's signature, a stale proof or an
 * id that carries no key is refused, and nothing is recorded.
 */
import assert from "node:assert/strict";
import { machineId, machineKeys, registration } from "../../machines.ts";
import { devWallets } from "../../wallets.ts";
import { by, CONFIG, openLedger, refusal } from "./ledger_fixture.ts";

const PRICES = { hour: "100" };

Deno.test("registration: only the machine's own proof for the signing owner registers it", async () => {
  const { alice, eve } = await devWallets();
  const { ledger, clock } = await openLedger();
  try {
    const body = (overrides: Partial<Parameters<typeof registration>[0]> = {}) =>
      registration({
        machine: "reg-m1",
        owner: alice.address,
        config: CONFIG,
        prices: PRICES,
        signedAt: clock.now,
        ...overrides,
      });
    const cases: Array<[string, () => unknown, RegExp]> = [
      [
        "Eve sends the machine's proof made for Alice",
        () => ledger.registerMachine(by(eve.address), body()),
        /^forbidden: .*did not agree .*not signed by node/,
      ],
      [
        "Eve with a proof signed by another node's key for her",
        () =>
          ledger.registerMachine(
            by(eve.address),
            body({ owner: eve.address, signWith: machineKeys("reg-squatter") }),
          ),
        /^forbidden: .*not signed by node/,
      ],
      [
        "Alice with a proof for other prices",
        () => ledger.registerMachine(by(alice.address), { ...body(), prices: { hour: "1" } }),
        /^forbidden: .*not signed by node/,
      ],
      [
        "a proof ten minutes old",
        () => ledger.registerMachine(by(alice.address), body({ signedAt: clock.now - 600_000 })),
        /^forbidden: .*minutes from the ledger's clock/,
      ],
      [
        "an id that is not a node id",
        () => ledger.registerMachine(by(alice.address), { ...body(), machine_id: "m-squatted" }),
        /^forbidden: .*not a node id/,
      ],
    ];
    for (const [what, work, expected] of cases) {
      assert.match(refusal(work), expected, what);
    }
    assert.equal(refusal(() => ledger.getMachine(machineId("reg-m1"))).split(":")[0], "not_found");
    assert.deepEqual(ledger.listMachines(), []);

    // The machine's proof for Alice, signed by Alice: registered, and hers.
    const machine = ledger.registerMachine(by(alice.address), body());
    assert.equal(machine.owner, alice.address);
    assert.equal(machine.status, "unverified");
    // The node agrees to Eve now (another owner_wallet): the machine stays Alice's.
    assert.match(
      refusal(() => ledger.registerMachine(by(eve.address), body({ owner: eve.address }))),
      /^forbidden: .*belongs to another owner/,
    );
  } finally {
    ledger.close();
  }
});
