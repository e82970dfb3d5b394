/**
 * Whether a validator may make a check VM, decided from the ledger's view of
 * the machine (pure): an order in the current round, not reported, inside a
 * slot, no live check of the round; and whether the node can make a VM of the
 * declared size.
 */
import assert from "node:assert/strict";
import type { Machine } from "../../../mod/mod.ts";
import {
  capacityRefusal,
  type CheckDecision,
  checkDecision,
  type HostCapacity,
} from "../../../node_service/validation/mod.ts";
import { devWallets } from "../../wallets.ts";

const MACHINE_ID = "12D3KooWLNDhWRc1VNwjKGS69Qbu2i4SVKh6aZW3HEc9T5pTGH5k";
const SLOT = 1_000;
const CONFIG = {
  gpu_model: "none",
  gpu_count: 0,
  cpu_model: "QEMU Virtual CPU version 2.5+",
  cpu_cores: 2,
  memory_gib: 1,
  disk_gib: 1,
};

function machine(validators: string[], overrides: Partial<Machine> = {}): Machine {
  return {
    machine_id: MACHINE_ID,
    owner: "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
    config: CONFIG,
    prices: { hour: "1000" },
    status: "verifying",
    status_since: 0,
    failure_reason: null,
    rental_id: null,
    registered_at: 0,
    liveness: { last_seen_at: null, down_since: null },
    validation: {
      round: 3,
      started_at: 0,
      ends_at: 9 * SLOT,
      validators: validators.map((validator, position) => ({
        validator,
        position,
        grabbed_at: 0,
        // Slots p, p+3, p+6 of nine, as the ledger deals them.
        slots: [0, 3, 6].map((turn) => ({
          starts_at: (position + turn) * SLOT,
          ends_at: (position + turn + 1) * SLOT,
        })),
        report: null,
        reported_at: null,
        confirms: null,
        mismatches: [],
      })),
    },
    ...overrides,
  } as Machine;
}

function refusal(decision: CheckDecision): { code: string; reason: string } {
  assert.equal(decision.allowed, false, JSON.stringify(decision));
  if (decision.allowed) throw new Error("unreachable");
  return { code: decision.code, reason: decision.reason };
}

Deno.test("a validator with an order is allowed inside its slot, sized as declared", async () => {
  const { alice, bob } = await devWallets();
  const input = { machineId: MACHINE_ID, live: [] };
  const decision = checkDecision({
    ...input,
    machine: machine([alice.address, bob.address]),
    validator: bob.address,
    now: 4 * SLOT + 10,
  });
  assert.deepEqual(decision, {
    allowed: true,
    validator: bob.address,
    round: 3,
    slot: { starts_at: 4 * SLOT, ends_at: 5 * SLOT },
    size: { cpu_cores: 2, memory_gib: 1, disk_gib: 1, gpu_count: 0 },
  });
  // Slots start inclusive and end exclusive, like the ledger's own check.
  assert.equal(
    checkDecision({ ...input, machine: machine([alice.address]), validator: alice.address, now: 0 })
      .allowed,
    true,
  );
  const atEnd = refusal(checkDecision({
    ...input,
    machine: machine([alice.address]),
    validator: alice.address,
    now: SLOT,
  }));
  assert.equal(atEnd.code, "forbidden");
  assert.match(atEnd.reason, /next opens at 1970-01-01T00:00:03\.000Z/);
});

Deno.test("the same account under another SS58 prefix is the same validator", async () => {
  const { alice } = await devWallets();
  const polkadot = "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5"; // //Alice, prefix 0
  const decision = checkDecision({
    machine: machine([alice.address]),
    machineId: MACHINE_ID,
    validator: polkadot,
    now: 10,
    live: [],
  });
  assert.equal(decision.allowed, true, JSON.stringify(decision));
});

Deno.test("refused: another account, outside its slots, reported, machine not awaiting validation", async () => {
  const { alice, bob, charlie } = await devWallets();
  const base = { machineId: MACHINE_ID, live: [] };
  const other = refusal(checkDecision({
    ...base,
    machine: machine([alice.address, bob.address]),
    validator: charlie.address,
    now: 10,
  }));
  assert.equal(other.code, "forbidden");
  assert.match(other.reason, /holds no order .* in round 3/);

  // In the slot of another validator, not its own.
  const notMine = refusal(checkDecision({
    ...base,
    machine: machine([alice.address, bob.address]),
    validator: alice.address,
    now: SLOT + 5,
  }));
  assert.equal(notMine.code, "forbidden");
  assert.match(notMine.reason, /not within one of .* time slots.*next opens/);
  const over = refusal(checkDecision({
    ...base,
    machine: machine([alice.address]),
    validator: alice.address,
    now: 9 * SLOT,
  }));
  assert.match(over.reason, /none is left/);

  const reported = machine([alice.address]);
  reported.validation.validators[0]!.reported_at = 5;
  const again = refusal(checkDecision({
    ...base,
    machine: reported,
    validator: alice.address,
    now: 10,
  }));
  assert.equal(again.code, "conflict");
  assert.match(again.reason, /already reported/);

  for (const status of ["online", "leased", "failed"] as const) {
    const done = refusal(checkDecision({
      ...base,
      machine: machine([alice.address], { status }),
      validator: alice.address,
      now: 10,
    }));
    assert.equal(done.code, "conflict");
    assert.match(done.reason, new RegExp(`is ${status}, not awaiting validation`));
  }

  const elsewhere = refusal(checkDecision({
    ...base,
    machine: machine([alice.address], { machine_id: "another-machine" }),
    validator: alice.address,
    now: 10,
  }));
  assert.match(elsewhere.reason, /answered about machine another-machine, not this one/);
  assert.equal(
    refusal(checkDecision({ ...base, machine: machine([]), validator: "not-an-account", now: 0 }))
      .code,
    "forbidden",
  );
});

Deno.test("one live check per round: a live one of this round refuses, an earlier round's does not", async () => {
  const { alice } = await devWallets();
  const input = {
    machine: machine([alice.address]),
    machineId: MACHINE_ID,
    validator: alice.address,
    now: 10,
  };
  const twice = refusal(checkDecision({ ...input, live: [{ checkId: "chk-1", round: 3 }] }));
  assert.equal(twice.code, "conflict");
  assert.match(twice.reason, /already has check VM chk-1 .* round 3/);
  // The order of an earlier round counts for nothing now, and its check VM blocks nothing.
  assert.equal(checkDecision({ ...input, live: [{ checkId: "chk-0", round: 2 }] }).allowed, true);
  const earlier = refusal(checkDecision({
    ...input,
    machine: machine([], { validation: { ...input.machine.validation, round: 4, validators: [] } }),
    live: [],
  }));
  assert.match(earlier.reason, /holds no order .* in round 4/);
});

Deno.test("the declared size must fit the host and a VM's limits", () => {
  const host: HostCapacity = {
    cpuCores: 8,
    memoryTotalMib: 15_800,
    diskFreeGib: 200,
    gpus: { count: 2 },
  };
  const size = { cpu_cores: 8, memory_gib: 16, disk_gib: 200, gpu_count: 2 };
  // 16 GiB declared on a host whose kernel reports 15.4 GiB: the usual shortfall, allowed.
  assert.equal(capacityRefusal(size, host), undefined);
  assert.match(capacityRefusal({ ...size, cpu_cores: 9 }, host)!, /cpu_cores 9: the host has 8/);
  assert.match(
    capacityRefusal({ ...size, memory_gib: 64 }, host)!,
    /^this node cannot make a VM of the size its owner declared: memory_gib 64: the host has 15\.4 GiB$/,
  );
  assert.match(capacityRefusal({ ...size, disk_gib: 300 }, host)!, /disk_gib 300: 200 GiB free/);
  assert.match(capacityRefusal({ ...size, gpu_count: 3 }, host)!, /has 2 to pass through/);
  assert.match(
    capacityRefusal({ ...size, gpu_count: 1 }, {
      ...host,
      gpus: { count: 0, reason: "no nvidia-smi" },
    })!,
    /no GPU to pass through \(no nvidia-smi\)/,
  );
  assert.match(
    capacityRefusal({ ...size, cpu_cores: 4096 }, { ...host, cpuCores: 8192 })!,
    /a VM has at most 256/,
  );
  assert.match(capacityRefusal({ ...size, memory_gib: 100_000 }, host)!, /at most 4096 GiB/);
  // What the host could not tell is left to the create itself.
  const unknown: HostCapacity = {
    cpuCores: null,
    memoryTotalMib: null,
    diskFreeGib: null,
    gpus: { count: 0, reason: "none" },
  };
  assert.equal(capacityRefusal({ ...size, gpu_count: 0 }, unknown), undefined);
  const many = capacityRefusal(
    { cpu_cores: 99, memory_gib: 99, disk_gib: 999, gpu_count: 0 },
    host,
  )!;
  assert.equal(many.split("; ").length, 3);
});
