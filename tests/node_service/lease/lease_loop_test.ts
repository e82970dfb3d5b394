/**
 * The lease loop with a test clock, real SQLite (node.db with the service's
 * migrations, and the embedded ledger's own file) and an in-memory stand-in
 * for the instances it acts on.
 */
import assert from "node:assert/strict";
import {
  generateNodeKeys,
  type InstanceState,
  type MachineConfig,
  ManualClock,
  type Method,
  openDatabase,
  type SignedBy,
  silentLogger,
} from "../../../mod/mod.ts";
import { networkLedgerTransport } from "../../../node_service/ledger/rpc.ts";
import type { WorkerCall } from "../../../node_service/network_subscription.ts";
import { EventLog } from "../../../node_service/event_log.ts";
import { nextInstanceState } from "../../../node_service/instances.ts";
import { Ledger } from "../../../node_service/ledger/ledger.ts";
import {
  LeaseLoop,
  type LeaseTarget,
  type LeaseTargets,
} from "../../../node_service/lease/loop.ts";
import { nextLease } from "../../../node_service/lease/state.ts";
import { SERVICE_MIGRATIONS } from "../../../node_service/migrations.ts";
import {
  LocalLedgerVerification,
  RemoteLedgerVerification,
  type VerificationService,
} from "../../../node_service/verification/verification_service.ts";
import { scratchDir } from "../../helpers.ts";
import { machineId, registration } from "../../machines.ts";
import { devWallets } from "../../wallets.ts";

const HOUR = 3_600_000;
const DAY = 86_400_000;
const RETENTION = 10 * DAY;
const INTERVAL = 60_000;
const T0 = Date.UTC(2025, 2, 1);
const MACHINE = machineId("lease-loop-machine");
const CONFIG: MachineConfig = {
  gpu_model: "NVIDIA RTX 4090",
  gpu_count: 1,
  cpu_model: "Intel Xeon",
  cpu_cores: 16,
  memory_gib: 64,
  disk_gib: 1000,
};

/** Instances in memory, moved by the same pure transition function the real drivers use. */
class MemoryInstances implements LeaseTargets {
  readonly calls: string[] = [];
  failNext: string | undefined;
  constructor(readonly instances: Map<string, LeaseTarget>) {}

  list(): Promise<LeaseTarget[]> {
    return Promise.resolve(
      [...this.instances.values()].filter((target) => target.state !== "deleted").map((t) => ({
        ...t,
      })),
    );
  }
  expire(target: LeaseTarget) {
    return this.#apply(target, "expire");
  }
  renew(target: LeaseTarget) {
    return this.#apply(target, "renew");
  }
  delete(target: LeaseTarget) {
    return this.#apply(target, "delete");
  }
  state(id: string): InstanceState | undefined {
    return this.instances.get(id)?.state;
  }
  #apply(target: LeaseTarget, event: "expire" | "renew" | "delete"): Promise<void> {
    this.calls.push(`${event} ${target.id}`);
    if (this.failNext === event) {
      this.failNext = undefined;
      return Promise.reject(new Error(`${event} failed: engine unavailable`));
    }
    const current = this.instances.get(target.id)!;
    const next = nextInstanceState(current.state, { type: event });
    if (!next.ok) return Promise.reject(new Error(next.reason));
    current.state = next.state;
    return Promise.resolve();
  }
}

let nonce = 0;
const by = (account: string): SignedBy => ({
  account,
  nonce: `lease-${nonce++}`,
  nonce_expires_at: T0 + 400 * DAY,
});

async function setUp() {
  const { alice, bob, charlie, dave, eve } = await devWallets();
  const dir = await scratchDir("lease-loop");
  const clock = new ManualClock(T0);
  const ledgerOptions = {
    now: () => clock.now(),
    verificationWindowMs: 9 * HOUR,
    validators: [],
    renewalGraceMs: RETENTION,
    admins: [alice.address],
  };
  const ledger = Ledger.open(`${dir}/ledger.db`, ledgerOptions);
  ledger.registerMachine(
    by(alice.address),
    registration({
      machine: "lease-loop-machine",
      owner: alice.address,
      config: CONFIG,
      prices: { day: "100" },
      signedAt: clock.now(),
    }),
  );
  ledger.fund(by(alice.address), { account: eve.address, amount: "1000000" });
  for (const validator of [bob, charlie, dave]) ledger.grabOrder(by(validator.address), MACHINE);
  for (const [index, validator] of [bob, charlie, dave].entries()) {
    clock.advance(index === 0 ? 0 : HOUR);
    ledger.reportOrder(by(validator.address), MACHINE, { kind: "observed", observed: CONFIG });
  }
  assert.equal(ledger.getMachine(MACHINE).status, "online");
  const rental = ledger.rent(by(eve.address), { machine_id: MACHINE, unit: "day", count: 1 });
  const instances = new MemoryInstances(
    new Map<string, LeaseTarget>([
      ["vm-eve-1", { id: "vm-eve-1", kind: "vm", owner: eve.address, state: "running" }],
      ["ct-eve-1", { id: "ct-eve-1", kind: "container", owner: eve.address, state: "stopped" }],
      ["vm-operator", { id: "vm-operator", kind: "vm", owner: "node", state: "running" }],
    ]),
  );
  const open = (intervalMs = INTERVAL) => {
    const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS, { now: () => clock.now() });
    const events = new EventLog(db, () => clock.now());
    const loop = new LeaseLoop({
      db,
      events,
      clock,
      verification: new LocalLedgerVerification(ledger),
      targets: instances,
      machineId: MACHINE,
      intervalMs,
      retentionMs: RETENTION,
    });
    return { db, events, loop };
  };
  return { dir, clock, ledger, ledgerOptions, rental, instances, eve, open };
}

Deno.test("lease decisions: a pure function of the service's answer, the time and the retention", () => {
  const active = { state: "active" as const, endsAt: null, rentalId: null };
  const answer = (status: Parameters<typeof nextLease>[1] & { kind: "answer" }) => status;
  const running = nextLease(
    active,
    answer({ kind: "answer", status: { state: "active", rental_id: "7", ends_at: 500 } }),
    100,
    1_000,
  );
  assert.deepEqual(running, {
    next: { state: "active", endsAt: 500, rentalId: "7" },
    action: "none",
    why: running.why,
  });
  const ended = nextLease(
    running.next,
    answer({ kind: "answer", status: { state: "ended", rental_id: "7", ended_at: 500 } }),
    600,
    1_000,
  );
  assert.equal(ended.action, "expire");
  assert.deepEqual(ended.next, { state: "expired", expiredAt: 500, rentalId: "7" });
  const kept = nextLease(
    ended.next,
    answer({ kind: "answer", status: { state: "ended", rental_id: "7", ended_at: 500 } }),
    1_499,
    1_000,
  );
  assert.equal(kept.action, "none");
  const gone = nextLease(
    ended.next,
    answer({ kind: "answer", status: { state: "ended", rental_id: "7", ended_at: 500 } }),
    1_500,
    1_000,
  );
  assert.equal(gone.action, "delete");
  const back = nextLease(
    ended.next,
    answer({ kind: "answer", status: { state: "active", rental_id: "7", ends_at: 9_000 } }),
    1_400,
    1_000,
  );
  assert.equal(back.action, "renew");
  const outage = nextLease(ended.next, { kind: "unreachable", reason: "timeout" }, 99_999, 1_000);
  assert.equal(outage.action, "none", "an outage never deletes");
  const none = nextLease(active, answer({ kind: "answer", status: { state: "none" } }), 100, 1_000);
  assert.deepEqual(none.next, { state: "expired", expiredAt: 100, rentalId: null });
  const lagging = nextLease(
    running.next,
    answer({ kind: "answer", status: { state: "active", rental_id: "7", ends_at: 500 } }),
    500,
    1_000,
  );
  assert.equal(lagging.action, "expire", "an end that has come is an end, whatever the state says");
});

Deno.test("expiry stops the instance, renewal on day 9 brings it back, and a restart between loses nothing", async () => {
  const { clock, ledger, rental, instances, eve, open } = await setUp();
  // The loop runs on its own timer here, so a coarse interval keeps the simulated days cheap.
  let node = open(HOUR);
  try {
    node.loop.start();
    await clock.advanceAsync(0);
    assert.equal(instances.state("vm-eve-1"), "running");
    assert.deepEqual(
      node.events.list({ action: "lease.track", limit: 10 }).map((event) => event.target).sort(),
      ["ct-eve-1", "vm-eve-1"],
      "the operator's own instance has no lease",
    );

    // The rental ends; within one interval both instances are stopped and kept.
    await clock.advanceAsync(rental.ends_at - clock.now() - 1);
    assert.equal(instances.state("vm-eve-1"), "running", "not before the end");
    await clock.advanceAsync(HOUR);
    assert.equal(instances.state("vm-eve-1"), "expired");
    assert.equal(instances.state("ct-eve-1"), "expired");
    assert.equal(instances.state("vm-operator"), "running");
    const expired = node.events.list({ action: "lease.expire", limit: 10 });
    assert.equal(expired.length, 2);
    assert.equal(expired[0]!.result, "ok");
    assert.equal(expired[0]!.detail.renter, eve.address);

    // Day 5: the node stops and starts again (database reopened, a new loop).
    await node.loop.stop();
    node.db.close();
    clock.advance(rental.ends_at + 5 * DAY - clock.now());
    node = open(HOUR);
    node.loop.start();
    await clock.advanceAsync(0);
    assert.equal(instances.state("vm-eve-1"), "expired");
    assert.equal(
      node.events.list({ action: "lease.expire", limit: 10 }).length,
      2,
      "not expired twice",
    );

    // Day 9: the renter renews; the next pass brings the instances back.
    await clock.advanceAsync(rental.ends_at + 9 * DAY - clock.now());
    assert.equal(instances.state("vm-eve-1"), "expired");
    ledger.renew(by(eve.address), { rental_id: rental.rental_id, unit: "day", count: 3 });
    await clock.advanceAsync(HOUR);
    assert.equal(instances.state("vm-eve-1"), "running");
    assert.equal(instances.state("ct-eve-1"), "running");
    assert.equal(node.events.list({ action: "lease.renew", limit: 10 }).length, 2);
    // Day 10 and beyond: still rented, nothing is deleted.
    await clock.advanceAsync(2 * DAY);
    assert.equal(instances.state("vm-eve-1"), "running");
    assert.equal(node.events.list({ action: "lease.delete", limit: 10 }).length, 0);
  } finally {
    await node.loop.stop();
    node.db.close();
    ledger.close();
  }
});

Deno.test("without renewal, day 10 deletes the instance with its disks; a restart on day 9 loses nothing", async () => {
  const { clock, ledger, rental, instances, open } = await setUp();
  let node = open();
  try {
    await node.loop.pass();
    clock.advance(rental.ends_at + HOUR - clock.now());
    const expiry = await node.loop.pass();
    assert.deepEqual(expiry.expired.sort(), ["ct-eve-1", "vm-eve-1"]);

    clock.advance(9 * DAY);
    node.db.close();
    node = open();
    const day9 = await node.loop.pass();
    assert.deepEqual(day9.deleted, [], "day 9: kept");
    assert.equal(instances.state("vm-eve-1"), "expired");

    // Exactly ten days after the rental's end.
    clock.advance(rental.ends_at + RETENTION - clock.now());
    const day10 = await node.loop.pass();
    assert.deepEqual(day10.deleted.sort(), ["ct-eve-1", "vm-eve-1"]);
    assert.equal(instances.state("vm-eve-1"), "deleted");
    assert.equal(instances.state("ct-eve-1"), "deleted");
    const deleted = node.events.list({ action: "lease.delete", limit: 10 });
    assert.equal(deleted.length, 2);
    assert.match(String(deleted[0]!.detail.why), /past the retention period/);
    // Nothing further happens to deleted leases.
    const after = await node.loop.pass();
    assert.deepEqual(after, {
      tracked: [],
      expired: [],
      renewed: [],
      deleted: [],
      failed: [],
      unreachable: false,
    });
    assert.deepEqual(instances.calls.filter((call) => call.startsWith("delete")).length, 2);
  } finally {
    node.db.close();
    ledger.close();
  }
});

Deno.test("an unreachable service changes nothing; a failed action is logged and retried", async () => {
  const { clock, ledger, rental, instances, open } = await setUp();
  const node = open();
  let reachable = true;
  const flaky: VerificationService = {
    kind: "ledger",
    leaseStatus: (query) =>
      reachable
        ? Promise.resolve(ledger.leaseStatus(query.machineId, query.renter))
        : Promise.reject(new Error("connection refused")),
    machineStatus: () => Promise.resolve({ found: false }),
    machine: (machineId) => Promise.resolve(ledger.getMachine(machineId)),
    close: () => {},
  };
  const loop = new LeaseLoop({
    db: node.db,
    events: node.events,
    clock,
    verification: flaky,
    targets: instances,
    machineId: MACHINE,
    intervalMs: INTERVAL,
    retentionMs: RETENTION,
  });
  try {
    await loop.pass();
    clock.advance(rental.ends_at - clock.now());
    reachable = false;
    const outage = await loop.pass();
    assert.equal(outage.unreachable, true);
    assert.equal(instances.state("vm-eve-1"), "running", "no answer, no action");
    clock.advance(RETENTION * 2);
    await loop.pass();
    assert.notEqual(instances.state("vm-eve-1"), "deleted");

    // Twenty days after the end the service answers again.
    reachable = true;
    instances.failNext = "delete";
    const failing = await loop.pass();
    assert.equal(failing.failed.length, 1);
    const errors = node.events.list({ action: "lease.delete", limit: 10 }).filter((event) =>
      event.result === "error"
    );
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]!.detail.error), /engine unavailable/);
    const retried = await loop.pass();
    assert.equal(retried.deleted.length, 1, "the failed one is tried again");
    assert.equal(instances.state("vm-eve-1"), "deleted");
    assert.equal(instances.state("ct-eve-1"), "deleted");
  } finally {
    node.db.close();
    ledger.close();
  }
});

Deno.test("an instance deleted by someone else is no longer followed; a failed one is not stopped", async () => {
  const { clock, ledger, rental, instances, eve, open } = await setUp();
  instances.instances.set("vm-eve-failed", {
    id: "vm-eve-failed",
    kind: "vm",
    owner: eve.address,
    state: "failed",
  });
  const node = open();
  try {
    await node.loop.pass();
    instances.instances.get("ct-eve-1")!.state = "deleted";
    await node.loop.pass();
    assert.equal(
      node.events.list({ action: "lease.gone", target: "ct-eve-1", limit: 5 }).length,
      1,
    );
    await node.loop.pass();
    assert.equal(node.events.list({ action: "lease.gone", limit: 5 }).length, 1);
    clock.advance(rental.ends_at - clock.now());
    const expiry = await node.loop.pass();
    assert.deepEqual(expiry.failed, []);
    assert.deepEqual(expiry.expired.sort(), ["vm-eve-1", "vm-eve-failed"]);
    assert.equal(instances.state("vm-eve-failed"), "failed", "nothing to stop");
    assert.ok(!instances.calls.includes("expire vm-eve-failed"));
  } finally {
    node.db.close();
    ledger.close();
  }
});

Deno.test("a rogue 'seed' answering lease reads changes nothing: its answers are not the authority's", async () => {
  const { clock, ledger, instances, eve, open } = await setUp();
  const node = open();
  const authority = generateNodeKeys().nodeId;
  const rogue = generateNodeKeys().nodeId;
  const asked: string[] = [];
  // The rogue is connected and calls itself a seed; whatever is asked, it hands back
  // "ended long ago", and this network plays it as though the answer came from the rogue.
  const call = ((method: Method, params: unknown) =>
    Promise.resolve().then(() => {
      if (method === "network.peers.active") {
        return { peers: [{ id: rogue, node_type: "seed" }] };
      }
      if (method === "network.peers.global") return { peers: [] };
      if (method !== "network.send") throw new Error(`unexpected call ${method}`);
      asked.push((params as { to: string }).to);
      return {
        from: rogue,
        reply: {
          type: "app",
          topic: "ledger.rpc",
          body: { outcome: "ok", result: { state: "ended", rental_id: "1", ended_at: 1 } },
        },
        rtt_ms: 1,
        hops: 1,
        route: "direct",
      };
    })) as WorkerCall;
  const loop = new LeaseLoop({
    db: node.db,
    events: node.events,
    clock,
    verification: new RemoteLedgerVerification(
      networkLedgerTransport({ call, log: silentLogger, authority }),
    ),
    targets: instances,
    machineId: MACHINE,
    intervalMs: INTERVAL,
    retentionMs: RETENTION,
  });
  try {
    for (let day = 0; day < 30; day++) {
      const pass = await loop.pass();
      assert.equal(pass.unreachable, true, "an answer not from the authority is no answer");
      assert.deepEqual(pass.deleted, []);
      clock.advance(DAY);
    }
    assert.deepEqual(instances.calls, [], "nothing stopped, nothing deleted");
    assert.equal(instances.state("vm-eve-1"), "running");
    assert.equal(instances.state("ct-eve-1"), "stopped");
    assert.ok(asked.length > 0 && asked.every((to) => to === authority), "only the authority");
    assert.equal(node.events.list({ action: "lease.delete", limit: 10 }).length, 0);
    assert.ok(eve.address);
  } finally {
    node.db.close();
    ledger.close();
  }
});
