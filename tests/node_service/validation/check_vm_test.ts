/**
 * Validators' check VMs on real libvirt (emulated), decided on the word of a
 * real ledger (SQLite) on a fake clock: a validator in its slot gets a VM of
 * the declared size whose guest reports nproc, memory and disk back through
 * its console; a validator without an order, outside its slot, or asking a
 * second time is refused; the lease loop leaves the VM alone; the slot's end
 * deletes it (and a restart after the end does too); the validator deletes
 * its own; a node that cannot make the declared size fails the create.
 *
 * Fails (does not skip) when libvirt is not running.
 */
import assert from "node:assert/strict";
import { type CheckVm, type MachineConfig, ManualClock, RpcError } from "../../../mod/mod.ts";
import { LeaseLoop, leaseTargetsFromDrivers } from "../../../node_service/lease/mod.ts";
import { Ledger } from "../../../node_service/ledger/mod.ts";
import { LocalLedgerVerification } from "../../../node_service/verification/mod.ts";
import { CheckVmService, hostCapacity } from "../../../node_service/validation/mod.ts";
import { VM_FILES } from "../../../node_service/vm/constants.ts";
import { waitFor } from "../../helpers.ts";
import { registration } from "../../machines.ts";
import { devWallets } from "../../wallets.ts";
import { by, HOUR, T0 } from "../ledger/ledger_fixture.ts";
import {
  removeDomains,
  requireLibvirt,
  testGuest,
  testPrefix,
  virsh,
  vmScratchDir,
} from "../vm/libvirt_fixture.ts";
import { addGuestImages, NO_GPUS, openVmSetting } from "../vm/vm_fixture.ts";

/** Boots are emulated on a shared 2-core machine: be generous. */
const BOOT_MS = 180_000;
/** Nine slots of an hour: Bob holds slots 0, 3, 6 and Charlie 1, 4, 7. */
const SLOT = HOUR;
const DECLARED: MachineConfig = {
  gpu_model: "none",
  gpu_count: 0,
  cpu_model: "QEMU Virtual CPU version 2.5+",
  cpu_cores: 2,
  memory_gib: 1,
  disk_gib: 1,
};

/** The RpcError `work` rejects with, as `code: message`. */
async function refusal(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (error) {
    assert.ok(error instanceof RpcError, String(error));
    return `${error.code}: ${error.message}`;
  }
  return "no error";
}

Deno.test("a validator's check VM: made in its slot as declared, reports back, deleted when the slot ends", async (t) => {
  await requireLibvirt();
  const guest = await testGuest();
  const prefix = testPrefix();
  const dir = await vmScratchDir("check-vm");
  const { alice, bob, charlie, dave } = await devWallets();
  const clock = new ManualClock(T0);
  const ledger = Ledger.open(`${dir}/ledger.db`, {
    now: () => clock.now(),
    verificationWindowMs: 9 * SLOT,
    validators: [],
    renewalGraceMs: 0,
  });
  const register = (name: string, config: MachineConfig) =>
    ledger.registerMachine(
      by(alice.address),
      registration({
        machine: name,
        owner: alice.address,
        config,
        prices: { hour: "1000" },
        signedAt: clock.now(),
      }),
    ).machine_id;
  const machine = register("check-vm-node", DECLARED);
  ledger.grabOrder(by(bob.address), machine);
  ledger.grabOrder(by(charlie.address), machine);

  const setting = openVmSetting({ dir, prefix });
  const { service: vms, images, events, db } = setting;
  const checksFor = (machineId: string) =>
    new CheckVmService({
      db,
      events,
      vms,
      images,
      verification: new LocalLedgerVerification(ledger),
      machineId,
      capacity: () => hostCapacity(`${dir}/vms`, () => Promise.resolve(NO_GPUS)),
      clock,
    });
  let checks = checksFor(machine);
  const directBoot = {
    kernel_image: "vmlinuz",
    initrd_image: "initrd.img",
    cmdline: guest.cmdline,
  };
  const ask = (validator: string) =>
    checks.create({ validator, image: "base.qcow2", direct_boot: directBoot });
  try {
    await addGuestImages(images, guest);
    clock.advance(10);

    await t.step("refused: no order, another validator's slot", async () => {
      assert.match(
        await refusal(ask(dave.address)),
        /^forbidden: .* holds no order for machine .* in round 1: grab it first/,
      );
      // Slot 0 is Bob's; Charlie's first opens an hour in.
      assert.match(
        await refusal(ask(charlie.address)),
        /^forbidden: not within one of .* time slots .*; the next opens at/,
      );
      const refused = events.list({ action: "validation.check_create", result: "error", limit: 5 });
      assert.deepEqual(
        refused.map((event) => event.actor).sort(),
        [
          charlie.address,
          dave.address,
        ].sort(),
      );
      assert.equal(checks.store.live().length, 0);
      assert.equal((await vms.list({ includeDeleted: true })).length, 0, "no VM was made");
    });

    let check: CheckVm;
    await t.step(
      "in its slot: a VM of the declared size, booted with the check script",
      async () => {
        check = await ask(bob.address);
        assert.equal(check.state, "live");
        assert.equal(check.validator, bob.address);
        assert.equal(check.round, 1);
        assert.deepEqual(check.slot, { starts_at: T0, ends_at: T0 + SLOT });
        assert.deepEqual(check.size, { cpu_cores: 2, memory_gib: 1, disk_gib: 1, gpu_count: 0 });
        const running = await checks.wait(bob.address, check.check_id);
        assert.equal(running.state === "live" && running.vm_state, "running");
        const vm = await vms.get(check.check_id);
        assert.equal(vm.domain, `${prefix}${check.check_id}`);
        assert.equal(vm.owner, `validator:${bob.address}`);
        assert.equal(vm.cpu_cores, 2);
        assert.equal(vm.memory_mib, 1024);
        assert.equal(vm.disk_gib, 1);
        assert.equal(vm.credentials, null, "a check VM has no login");
        // Another validator does not see it.
        assert.match(await refusal(checks.get(charlie.address, check.check_id)), /^not_found/);
      },
    );

    await t.step("its guest's facts come back from the console", async () => {
      const detail = await waitFor("the guest's report", async () => {
        const seen = await checks.get(bob.address, check.check_id);
        return seen.facts?.state === "ready" ? seen : undefined;
      }, BOOT_MS);
      assert.equal(detail.facts?.state, "ready");
      if (detail.facts?.state !== "ready") return;
      const observed = detail.facts.observed;
      assert.equal(observed.cpu_cores, 2);
      assert.equal(observed.memory_gib, 1);
      assert.equal(observed.disk_gib, 1);
      assert.deepEqual(observed.gpus, [], "the emulated VGA adapter is not a GPU");
      assert.ok(observed.cpu_model, "the guest names its CPU");
      assert.deepEqual(observed.missing, []);
      const console = await Deno.readTextFile(`${dir}/vms/${check.check_id}/${VM_FILES.console}`);
      assert.match(console, /DBC-TEST-SEED #!\/bin\/sh/);
      assert.match(console, /DBC-TEST-USER-SCRIPT exit=0/);
    });

    await t.step("a second one in the same round is refused while the first lives", async () => {
      assert.match(
        await refusal(ask(bob.address)),
        new RegExp(`^conflict: .* already has check VM ${check.check_id} .* round 1`),
      );
    });

    await t.step("the lease loop leaves it alone: it is no renter's instance", async () => {
      const loop = new LeaseLoop({
        db,
        events,
        clock,
        verification: new LocalLedgerVerification(ledger),
        targets: leaseTargetsFromDrivers(() => [vms]),
        machineId: machine,
        intervalMs: 60_000,
        retentionMs: 0,
      });
      const pass = await loop.pass();
      assert.deepEqual(pass.tracked, []);
      assert.deepEqual([...pass.expired, ...pass.deleted], []);
      assert.equal((await vms.get(check.check_id)).state, "running");
    });

    await t.step("the slot ends: the node deletes it, VM, domain and disk", async () => {
      clock.advance(T0 + SLOT - clock.now());
      const closed = await waitFor("the check deleted", () => {
        const record = checks.store.get(check.check_id)!;
        return record.status.state === "deleted" ? record : undefined;
      }, 60_000);
      assert.equal(closed.status.state === "deleted" && closed.status.reason, "slot_ended");
      assert.equal((await vms.get(check.check_id)).state, "deleted");
      assert.notEqual((await virsh("domstate", `${prefix}${check.check_id}`)).code, 0);
      await assert.rejects(Deno.stat(`${dir}/vms/${check.check_id}`), Deno.errors.NotFound);
      const [deleted] = events.list({ action: "validation.check_delete", limit: 1 });
      assert.equal(deleted?.actor, "node");
      assert.equal(deleted?.detail.validator, bob.address);
      assert.equal(deleted?.detail.reason, "slot_ended");
      const detail = await checks.get(bob.address, check.check_id);
      assert.equal(detail.facts, null);
    });

    await t.step("after a crash past the slot's end, the restart deletes it", async () => {
      clock.advance(T0 + 3 * SLOT + 10 - clock.now());
      const again = await ask(bob.address);
      await checks.wait(bob.address, again.check_id);
      // The node goes down: no timer runs while the slot ends.
      await checks.stop();
      clock.advance(SLOT);
      assert.equal((await vms.get(again.check_id)).state, "running");
      checks = checksFor(machine);
      await checks.start();
      const closed = checks.store.get(again.check_id)!;
      assert.equal(closed.status.state === "deleted" && closed.status.reason, "slot_ended");
      assert.equal((await vms.get(again.check_id)).state, "deleted");
    });

    await t.step(
      "the validator deletes its own; then another may be made in the round",
      async () => {
        const own = await ask(charlie.address);
        const deleted = await checks.delete(charlie.address, own.check_id);
        assert.equal(deleted.state === "deleted" && deleted.reason, "validator");
        assert.equal((await vms.get(own.check_id)).state, "deleted");
        const [event] = events.list({ action: "validation.check_delete", limit: 1 });
        assert.equal(event?.actor, charlie.address);
        const next = await ask(charlie.address);
        assert.equal(next.state, "live");
        await checks.delete(charlie.address, next.check_id);
      },
    );

    await t.step(
      "a declaration the node cannot give fails the create; nothing is left",
      async () => {
        const big = register("check-vm-big", { ...DECLARED, memory_gib: 4_096 });
        ledger.grabOrder(by(bob.address), big);
        const bigChecks = checksFor(big);
        const accepted = await bigChecks.create({
          validator: bob.address,
          image: "base.qcow2",
          direct_boot: directBoot,
        });
        assert.match(
          await refusal(bigChecks.wait(bob.address, accepted.check_id)),
          /^conflict: this node cannot make a VM of the size its owner declared: memory_gib 4096: the host has/,
        );
        const closed = bigChecks.store.get(accepted.check_id)!;
        assert.equal(closed.status.state === "deleted" && closed.status.reason, "create_failed");
        assert.equal(
          (await vms.list({ includeDeleted: true })).some((vm) => vm.id === accepted.check_id),
          false,
          "no VM was made",
        );
        await bigChecks.stop();
      },
    );
  } finally {
    await checks.stop();
    await removeDomains(prefix);
    await setting.close();
    ledger.close();
  }
});
