/**
 * Data disks of a running guest on real libvirt (emulated), as the original
 * node changes them: added (plugged into the running guest), grown (the
 * guest sees the new size at once) and deleted (unplugged), the record, the
 * live domain and the persistent definition agreeing after each; a step that
 * fails half-way (the definition refused) leaves the guest, the files and
 * the record as they were, and what a node killed half-way leaves is set
 * right by start-up repair. The guest prints its block devices to its
 * console whenever they change (a guest script), which is how the test
 * reads what the guest sees.
 *
 * Fails (does not skip) when libvirt is not running.
 */
import assert from "node:assert/strict";
import { RpcError } from "../../../mod/mod.ts";
import { VM_FILES } from "../../../node_service/vm/constants.ts";
import { dataDiskElement, type Hypervisor } from "../../../node_service/vm/libvirt/mod.ts";
import { waitFor } from "../../helpers.ts";
import {
  removeDomains,
  requireLibvirt,
  run,
  testGuest,
  testPrefix,
  virsh,
  vmScratchDir,
} from "./libvirt_fixture.ts";
import { addGuestImages, guestRequest, openVmSetting } from "./vm_fixture.ts";

const BOOT_MS = 180_000;
/** How long the guest may take to notice a device plugged in, out or grown. */
const GUEST_SEES_MS = 60_000;
const GIB_KB = 1024 * 1024;

/** Prints `DBC-DISKS name=kB ...` whenever /proc/partitions changes. */
const WATCH_DISKS = `#!/bin/sh
old=""
while :; do
  now=$(awk 'NR > 2 && NF == 4 { printf "%s=%s ", $4, $3 }' /proc/partitions)
  if [ "$now" != "$old" ]; then echo "DBC-DISKS $now"; old=$now; fi
  sleep 0.5
done
`;

/** The guest's block devices as it last printed them: name to size in kB. */
async function guestDisks(consoleLog: string): Promise<Map<string, number> | undefined> {
  const text = await Deno.readTextFile(consoleLog).catch(() => "");
  const lines = text.match(/^DBC-DISKS .*$/gm);
  if (!lines) return undefined;
  const pairs = lines.at(-1)!.slice("DBC-DISKS ".length).trim().split(/\s+/);
  return new Map(pairs.map((pair) => {
    const [name, kb] = pair.split("=");
    return [name!, Number(kb)];
  }));
}

Deno.test("data disks of a running guest are plugged in, grown and unplugged live", async (t) => {
  await requireLibvirt();
  const guest = await testGuest();
  const prefix = testPrefix();
  const dir = await vmScratchDir("vm-live-disks");
  /** When set, the next `define` fails: a step that breaks half-way. */
  let failNextDefine = false;
  const setting = openVmSetting({
    dir,
    prefix,
    hypervisor: (real) =>
      new Proxy(real, {
        get(target, key, receiver) {
          if (key === "define") {
            return (xmlPath: string) => {
              if (!failNextDefine) return target.define(xmlPath);
              failNextDefine = false;
              return Promise.reject(new Error("injected: define refused"));
            };
          }
          const value = Reflect.get(target, key, receiver);
          return typeof value === "function" ? value.bind(target) : value;
        },
      }) as Hypervisor,
  });
  try {
    await addGuestImages(setting.images, guest);
    const vm = await setting.service.create(
      guestRequest(guest, { disk_gib: 1, guest_script: WATCH_DISKS }),
    );
    const vmDir = `${dir}/vms/${vm.id}`;
    const consoleLog = `${vmDir}/${VM_FILES.console}`;
    const guestSees = (what: string, test: (disks: Map<string, number>) => boolean) =>
      waitFor(what, async () => {
        const disks = await guestDisks(consoleLog);
        return disks && test(disks) ? disks : undefined;
      }, GUEST_SEES_MS);
    const liveBlocks = async () => (await virsh("domblklist", vm.domain)).stdout;
    const definedXml = async () => (await virsh("dumpxml", "--inactive", vm.domain)).stdout;

    await waitFor("the guest's first disk report", () => guestDisks(consoleLog), BOOT_MS);

    await t.step("a disk added to the running VM shows up in the guest", async () => {
      const added = await setting.service.diskAdd("renter", vm.id, 1);
      assert.deepEqual(added.disks.map((disk) => disk.name), ["vda", "vdc"]);
      assert.equal((await setting.service.get(vm.id)).state, "running");
      await guestSees("the guest's vdc", (disks) => disks.get("vdc") === GIB_KB);
      assert.match(await liveBlocks(), /vdc\s+\S+data-vdc\.qcow2/);
      assert.match(await definedXml(), /data-vdc\.qcow2/);
      const event = setting.events.list({ action: "vm.disk_add", target: vm.id, limit: 1 })[0];
      assert.equal(event?.result, "ok");
      assert.equal(event?.detail.live, true);
    });

    await t.step("a running guest's disk grows and the guest sees the new size", async () => {
      const grown = await setting.service.diskResize("renter", vm.id, "vdc", 2);
      assert.equal(grown.disks[1]?.size_bytes, 2 * 2 ** 30);
      await guestSees("vdc at 2 GiB", (disks) => disks.get("vdc") === 2 * GIB_KB);
      await assert.rejects(
        setting.service.diskResize("renter", vm.id, "vdc", 1),
        (error: unknown) => error instanceof RpcError && /only grows/.test(error.message),
      );
      assert.deepEqual((await setting.service.get(vm.id)).data_disks, [
        { name: "vdc", size_gib: 2 },
      ]);
    });

    await t.step("an add whose definition fails leaves guest, files and record", async () => {
      failNextDefine = true;
      await assert.rejects(setting.service.diskAdd("renter", vm.id, 1), /define refused/);
      assert.equal(failNextDefine, false, "the add reached the definition");
      assert.deepEqual((await setting.service.get(vm.id)).data_disks, [
        { name: "vdc", size_gib: 2 },
      ]);
      await assert.rejects(Deno.stat(`${vmDir}/data-vdd.qcow2`), Deno.errors.NotFound);
      const blocks = await waitFor("vdd unplugged again", async () => {
        const text = await liveBlocks();
        return /vdd/.test(text) ? undefined : text;
      }, GUEST_SEES_MS);
      assert.match(blocks, /vdc/);
      assert.doesNotMatch(await definedXml(), /data-vdd/);
    });

    await t.step("a disk deleted from the running VM leaves the guest", async () => {
      await setting.service.diskAdd("renter", vm.id, 1);
      await guestSees("the guest's vdd", (disks) => disks.has("vdd"));
      const after = await setting.service.diskDelete("renter", vm.id, "vdd");
      assert.deepEqual(after.disks.map((disk) => disk.name), ["vda", "vdc"]);
      await guestSees("vdd gone from the guest", (disks) => !disks.has("vdd") && disks.has("vdc"));
      await assert.rejects(Deno.stat(`${vmDir}/data-vdd.qcow2`), Deno.errors.NotFound);
      assert.doesNotMatch(await definedXml(), /data-vdd/);
    });

    await t.step("a delete whose definition fails plugs the disk back", async () => {
      failNextDefine = true;
      await assert.rejects(setting.service.diskDelete("renter", vm.id, "vdc"), /define refused/);
      assert.deepEqual((await setting.service.get(vm.id)).data_disks, [
        { name: "vdc", size_gib: 2 },
      ]);
      await Deno.stat(`${vmDir}/data-vdc.qcow2`);
      await waitFor(
        "vdc plugged back",
        async () => /vdc/.test(await liveBlocks()) || undefined,
        GUEST_SEES_MS,
      );
      await guestSees("vdc back in the guest", (disks) => disks.get("vdc") === 2 * GIB_KB);
    });

    await t.step("start-up repair sets right what a node killed half-way leaves", async () => {
      // What a kill leaves: an add plugged in but never recorded (vdd), a delete unplugged but
      // never recorded (vdc), and a disk file made but never plugged in (vde).
      await run("qemu-img", ["create", "-q", "-f", "qcow2", `${vmDir}/data-vdd.qcow2`, "1G"]);
      await run("qemu-img", ["create", "-q", "-f", "qcow2", `${vmDir}/data-vde.qcow2`, "1G"]);
      const diskXml = `${dir}/vdd.xml`;
      await Deno.writeTextFile(
        diskXml,
        dataDiskElement({ path: `${vmDir}/data-vdd.qcow2`, target: "vdd" }, "linux").xml,
      );
      assert.equal((await virsh("attach-device", vm.domain, "--file", diskXml, "--live")).code, 0);
      assert.equal((await virsh("detach-disk", vm.domain, "vdc", "--live")).code, 0);
      await guestSees("vdd in, vdc out", (disks) => disks.has("vdd") && !disks.has("vdc"));

      const report = await setting.service.reconcile();
      const repairs = report.filter((item) => "id" in item && item.id === vm.id);
      assert.deepEqual(repairs, [
        { kind: "data_disk_unplugged", id: vm.id, disk: "vdd" },
        { kind: "data_disk_plugged", id: vm.id, disk: "vdc" },
        { kind: "data_file_removed", id: vm.id, file: "data-vdd.qcow2" },
        { kind: "data_file_removed", id: vm.id, file: "data-vde.qcow2" },
      ]);
      await guestSees("vdc back, vdd gone", (disks) => disks.has("vdc") && !disks.has("vdd"));
      for (const file of ["data-vdd.qcow2", "data-vde.qcow2"]) {
        await assert.rejects(Deno.stat(`${vmDir}/${file}`), Deno.errors.NotFound);
      }
      assert.equal((await setting.service.get(vm.id)).state, "running");
      // A second start-up finds nothing left to do.
      const again = (await setting.service.reconcile())
        .filter((item) => "id" in item && item.id === vm.id);
      assert.deepEqual(again, []);
    });

    await t.step("after a power cycle the guest boots with the recorded disks", async () => {
      await setting.service.stop("renter", vm.id, { force: true });
      await setting.service.start("renter", vm.id);
      await guestSees(
        "the rebooted guest's disks",
        (disks) => disks.get("vdc") === 2 * GIB_KB && !disks.has("vdd"),
      );
    });
  } finally {
    await removeDomains(prefix);
    await setting.close();
  }
});
