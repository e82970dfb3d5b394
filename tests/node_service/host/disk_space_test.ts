/**
 * The free-space reserve: the arithmetic on its own, then on the real volume
 * (statfs) with real libvirt and qemu-img, where a reserve no disk can meet
 * refuses a new VM, a disk grow, a snapshot and an image add with a clear
 * error, and leaves nothing behind.
 */
import assert from "node:assert/strict";
import { RpcError } from "../../../mod/mod.ts";
import { DiskGuard, roomRefusal, statfsFreeSpace } from "../../../node_service/host/disk_space.ts";
import {
  removeDomains,
  requireLibvirt,
  testGuest,
  testPrefix,
  virsh,
  vmScratchDir,
} from "../vm/libvirt_fixture.ts";
import { addGuestImages, guestRequest, openVmSetting } from "../vm/vm_fixture.ts";

const GIB = 2 ** 30;
/** More than any disk here has: every guarded operation must be refused. */
const UNMEETABLE = 2 ** 60;

Deno.test("roomRefusal keeps the reserve after what is needed", () => {
  assert.equal(roomRefusal(20 * GIB, 5 * GIB, 10 * GIB), undefined);
  assert.equal(roomRefusal(15 * GIB, 5 * GIB, 10 * GIB), undefined);
  assert.match(
    roomRefusal(14 * GIB, 5 * GIB, 10 * GIB)!,
    /^14\.0 GiB free, 5\.0 GiB needed, and 10\.0 GiB is kept free/,
  );
  assert.match(roomRefusal(9 * GIB, 0, 10 * GIB)!, /^9\.0 GiB free, and 10\.0 GiB/);
});

Deno.test("on the real volume: a reserve no disk meets refuses VMs, grows, snapshots and images; nothing is left", async () => {
  await requireLibvirt();
  const guest = await testGuest();
  const dir = await vmScratchDir("disk-space");
  const prefix = testPrefix();
  assert.ok(await statfsFreeSpace(dir) > 0);
  // One setting without a reserve makes what the other one is then asked to change.
  const open = openVmSetting({ dir, prefix, diskGuard: new DiskGuard(0) });
  const full = openVmSetting({ dir, prefix, diskGuard: new DiskGuard(UNMEETABLE) });
  const refused = (pattern: RegExp) => (error: unknown) => {
    assert.ok(error instanceof RpcError, String(error));
    assert.equal(error.code, "conflict");
    assert.match(error.message, pattern);
    return true;
  };
  try {
    await addGuestImages(open.images, guest);
    const vm = await open.service.create(guestRequest(guest, { start: false }));
    assert.equal(vm.state, "stopped");

    const before = (await open.service.list({ includeDeleted: true })).length;
    await assert.rejects(
      full.service.create(guestRequest(guest, { start: false })),
      refused(/not enough disk space for a new VM .*GiB free, and 1073741824\.0 GiB is kept free/),
    );
    // Refused before anything was written: no record, no domain beyond the first VM's.
    assert.equal((await open.service.list({ includeDeleted: true })).length, before);
    const domains = (await virsh("list", "--all", "--name")).stdout.split("\n")
      .filter((name) => name.startsWith(prefix));
    assert.deepEqual(domains, [vm.domain]);

    await assert.rejects(
      full.service.snapshotCreate("renter", vm.id, "before", ""),
      refused(/not enough disk space for a snapshot of VM/),
    );
    assert.equal(open.service.snapshotList(vm.id).length, 0);
    await assert.rejects(
      full.service.modify({ actor: "renter", id: vm.id, disk_gib: 2 }),
      refused(/not enough disk space for growing VM .*'s disk/),
    );
    // A change that does not grow the disk needs no room.
    assert.equal(
      (await full.service.modify({ actor: "renter", id: vm.id, cpu_cores: 2 })).cpu_cores,
      2,
    );

    // An image add ends failed with the reason, and leaves no partial file.
    const added = await full.images.add("another.qcow2", { kind: "path", path: guest.baseDisk })
      .done;
    assert.equal(added.state, "failed");
    assert.match(added.error ?? "", /not enough disk space for image another\.qcow2/);
    const files = [];
    for await (const entry of Deno.readDir(`${dir}/images`)) files.push(entry.name);
    assert.ok(!files.some((name) => name.startsWith("another.qcow2")), files.join(", "));

    // With the reserve met, the same snapshot goes through.
    assert.equal((await open.service.snapshotCreate("renter", vm.id, "before", "")).name, "before");
  } finally {
    await removeDomains(prefix);
    await full.close();
    await open.close();
    await Deno.remove(dir, { recursive: true });
  }
});
