/**
 * A volume that really fills up (a small tmpfs mounted for the test; root
 * only), past what the free-space reserve can foresee: a download with no
 * length announced, a database whose disk another program filled, and VM
 * disks (a new VM's overlay, a snapshot) on a full volume. Each
 * write that meets the full disk fails with a clear error, leaves no
 * half-written image and no corrupt database, and the same operation succeeds
 * once there is room again.
 */
import assert from "node:assert/strict";
import { openDatabase } from "../../../mod/mod.ts";
import { EventLog } from "../../../node_service/event_log.ts";
import { SERVICE_MIGRATIONS } from "../../../node_service/migrations.ts";
import { ImageStore } from "../../../node_service/vm/images/mod.ts";
import { scratchDir } from "../../helpers.ts";
import {
  removeDomains,
  requireLibvirt,
  run,
  testGuest,
  testPrefix,
  virsh,
  vmScratchDir,
} from "../vm/libvirt_fixture.ts";
import { addGuestImages, guestRequest, openVmSetting } from "../vm/vm_fixture.ts";

const MIB = 2 ** 20;
const VOLUME_MIB = 24;

/** Runs `work` on a fresh tmpfs of `VOLUME_MIB`, unmounted afterwards. */
async function withSmallVolume(
  work: (dir: string) => Promise<void>,
  at?: string,
): Promise<void> {
  if (Deno.uid() !== 0) throw new Error("mounting a tmpfs needs root: run the tests as root");
  const dir = at ?? await scratchDir("full-disk");
  await Deno.mkdir(dir, { recursive: true });
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${VOLUME_MIB}m,mode=0711`, "tmpfs", dir],
  }).output();
  assert.equal(mount.code, 0, new TextDecoder().decode(mount.stderr));
  try {
    await work(dir);
  } finally {
    await new Deno.Command("umount", { args: ["-l", dir] }).output();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Writes `path` until the volume refuses; the bytes written. */
async function fill(path: string): Promise<number> {
  const file = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(256 * 1024).fill(7);
  let written = 0;
  try {
    for (;;) written += await file.write(chunk);
  } catch (error) {
    assert.match(String(error), /No space left|os error 28/, String(error));
  } finally {
    file.close();
  }
  return written;
}

function integrity(db: ReturnType<typeof openDatabase>): string {
  return (db.prepare("PRAGMA integrity_check").get() as { integrity_check: string })
    .integrity_check;
}

Deno.test("a download that fills the volume fails cleanly, and lands once there is room", async () => {
  await withSmallVolume(async (dir) => {
    const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS);
    // A raw image of 8 MiB, served without a length, so no reserve check can see it coming.
    const image = new Uint8Array(8 * MIB);
    for (let offset = 0; offset < image.length; offset += 65_536) {
      crypto.getRandomValues(image.subarray(offset, offset + 65_536));
    }
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () =>
        new Response(
          new ReadableStream({
            start(controller) {
              for (let offset = 0; offset < image.length; offset += MIB) {
                controller.enqueue(image.slice(offset, offset + MIB));
              }
              controller.close();
            },
          }),
        ),
    );
    const store = new ImageStore({
      db,
      imageDir: `${dir}/images`,
      now: Date.now,
      usersOf: () => [],
      downloads: { hosts: ["127.0.0.1"], privateAddresses: "allow", deniedHosts: [] },
    });
    const url = `http://127.0.0.1:${server.addr.port}/disk.raw`;
    try {
      // Another program leaves 4 MiB free.
      const filler = `${dir}/filler`;
      await fill(filler);
      await Deno.truncate(filler, (await Deno.stat(filler)).size - 4 * MIB);

      const failed = await store.add("disk.raw", { kind: "url", url }).done;
      assert.equal(failed.state, "failed");
      assert.match(failed.error!, /No space left|os error 28/);
      const files = [...Deno.readDirSync(`${dir}/images`)].map((entry) => entry.name);
      assert.deepEqual(files, [], "no image and no partial file is left");
      assert.equal(integrity(db), "ok");

      // Room again: the same image, added again under its name, lands whole.
      await Deno.remove(filler);
      store.delete("disk.raw");
      const ready = await store.add("disk.raw", { kind: "url", url }).done;
      assert.equal(ready.state, "ready", ready.error ?? "");
      assert.equal(ready.size_bytes, image.length);
      assert.equal(ready.format, "raw");
      assert.equal(integrity(db), "ok");
    } finally {
      await store.close();
      await server.shutdown();
      db.close();
    }
  });
});

Deno.test("a database on a full volume refuses writes with a clear error, stays whole, and writes again once there is room", async () => {
  await withSmallVolume(async (dir) => {
    const path = `${dir}/node.db`;
    let db = openDatabase(path, SERVICE_MIGRATIONS);
    const events = new EventLog(db, Date.now);
    const record = (target: string) =>
      events.record({ actor: "node", action: "test.write", target, result: "ok", detail: {} });
    record("before");
    const filler = `${dir}/filler`;
    await fill(filler);

    // The WAL may take a few writes from pages it already holds; then the disk says no.
    let refused: unknown;
    for (let index = 0; index < 10_000 && refused === undefined; index++) {
      try {
        record(`while-full-${index}-${"x".repeat(512)}`);
      } catch (error) {
        refused = error;
      }
    }
    assert.ok(refused !== undefined, "a write on a full disk was refused");
    assert.match(String(refused), /database or disk is full|disk I\/O error/);
    assert.equal(integrity(db), "ok");

    // A crash now, then a restart with room: everything that was committed is there.
    db.close();
    await Deno.remove(filler);
    db = openDatabase(path, SERVICE_MIGRATIONS);
    try {
      assert.equal(integrity(db), "ok");
      const again = new EventLog(db, Date.now);
      const targets = again.list({ action: "test.write", limit: 100_000 }).map((event) =>
        event.target
      );
      assert.ok(targets.includes("before"));
      again.record({
        actor: "node",
        action: "test.write",
        target: "after",
        result: "ok",
        detail: {},
      });
      assert.ok(
        again.list({ action: "test.write", limit: 1 }).some((event) => event.target === "after"),
      );
    } finally {
      db.close();
    }
  });
});

Deno.test("VM disks on a full volume: a new VM and a snapshot fail cleanly, nothing is left or damaged, both succeed once there is room", async () => {
  await requireLibvirt();
  const guest = await testGuest();
  const dir = await vmScratchDir("full-disk-vms");
  const prefix = testPrefix();
  // The database and images on the ordinary disk; the VM disks on the small volume.
  await withSmallVolume(async (vmDir) => {
    const setting = openVmSetting({ dir, prefix, vmDir });
    try {
      await addGuestImages(setting.images, guest);
      const vm = await setting.service.create(guestRequest(guest, { start: false }));
      const filler = `${vmDir}/filler`;
      await fill(filler);

      // A new VM: its overlay cannot be written. Refused with the disk's reason; no record
      // left running, no domain, no directory of its own.
      const before = await setting.service.list({ includeDeleted: false });
      await assert.rejects(
        setting.service.create(guestRequest(guest, { start: false })),
        /No space left|os error 28|ENOSPC/i,
      );
      const after = await setting.service.list({ includeDeleted: false });
      assert.deepEqual(
        after.filter((listed) => listed.state !== "failed").map((listed) => listed.id),
        before.map((listed) => listed.id),
      );
      const domains = (await virsh("list", "--all", "--name")).stdout.split("\n")
        .filter((name) => name.startsWith(prefix));
      assert.deepEqual(domains, [vm.domain]);
      const dirs = [...Deno.readDirSync(vmDir)].filter((entry) => entry.isDirectory)
        .map((entry) => entry.name);
      assert.deepEqual(dirs, [vm.id]);

      // A snapshot of the stopped VM: refused, the disk unharmed, no snapshot recorded.
      await assert.rejects(
        setting.service.snapshotCreate("renter", vm.id, "full", ""),
        /No space left|os error 28|ENOSPC|space/i,
      );
      assert.deepEqual(setting.service.snapshotList(vm.id), []);
      const overlay = [...Deno.readDirSync(`${vmDir}/${vm.id}`)]
        .find((entry) => entry.name.endsWith(".qcow2"))!;
      const check = await run("qemu-img", ["check", "-q", `${vmDir}/${vm.id}/${overlay.name}`]);
      assert.equal(check.code, 0, check.stderr);

      // Room again: the same snapshot and a new VM go through.
      await Deno.remove(filler);
      assert.equal(
        (await setting.service.snapshotCreate("renter", vm.id, "full", "")).name,
        "full",
      );
      const second = await setting.service.create(guestRequest(guest, { start: false }));
      assert.equal(second.state, "stopped");
    } finally {
      await removeDomains(prefix);
      await setting.close();
    }
  }, `${dir}/vms`);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});
