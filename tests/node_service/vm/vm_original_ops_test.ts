/**
 * The original node's VM operations on real libvirt (emulated), one test
 * guest for the steps: a kept description, custom port forwards (QEMU
 * listens on them; a taken, doubled or out-of-range one is refused), an ACPI
 * shutdown answered at once that never forces (its outcome logged) and a
 * hard poweroff, data disks (added, seen by the guest, grown, never shrunk,
 * deleted, kept across a node restart, gone with the VM; a running guest's
 * are in vm_live_disks_test.ts), a running guest's password changed through
 * its guest agent, also right after a start; and a Windows guest on UEFI
 * (OVMF), whose firmware ignores an ACPI shutdown (logged as ignored, never forced).
 *
 * Fails (does not skip) when libvirt is not running.
 */
import assert from "node:assert/strict";
import { RpcError } from "../../../mod/mod.ts";
import { VM_FILES } from "../../../node_service/vm/constants.ts";
import { freePort, waitFor } from "../../helpers.ts";
import {
  removeDomains,
  requireLibvirt,
  run,
  tcpAccepts,
  testGuest,
  testPrefix,
  virsh,
  vmScratchDir,
} from "./libvirt_fixture.ts";
import {
  addGuestImages,
  bootFinished,
  consoleCount,
  guestRequest,
  openVmSetting,
  type VmSetting,
} from "./vm_fixture.ts";

const BOOT_MS = 180_000;
/** How long a shutdown nothing in the guest answers is watched before it counts as ignored. */
const IGNORED_WATCH_MS = 8_000;
const GIB = 2 ** 30;
/** Characters a shell or chpasswd's `user:password` line could trip on. */
const NEW_PASSWORD = `n3w pa:ss "$x" \\ 'y'`;

async function refusedWith(work: Promise<unknown>, code: string, pattern: RegExp) {
  await assert.rejects(work, (error: unknown) => {
    assert.ok(error instanceof RpcError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("the original's VM operations: desc, custom ports, shutdown, poweroff, data disks, passwd", async (t) => {
  await requireLibvirt();
  const guest = await testGuest();
  const prefix = testPrefix();
  const dir = await vmScratchDir("vm-original-ops");
  let setting: VmSetting = openVmSetting({ dir, prefix });
  try {
    await addGuestImages(setting.images, guest);
    const [loginPort, tcpPort, udpPort] = [freePort(), freePort(), freePort()];
    const vm = await setting.service.create(guestRequest(guest, {
      disk_gib: 1,
      login_port: loginPort,
      desc: "training box #1",
      custom_ports: [
        { protocol: "tcp", host_port: tcpPort, guest_port: 80 },
        { protocol: "udp", host_port: udpPort, guest_port: 53 },
      ],
    }));
    const vmDir = `${dir}/vms/${vm.id}`;
    const consoleLog = `${vmDir}/${VM_FILES.console}`;
    const ready = (boots: number) =>
      waitFor(
        `boot ${boots} of ${vm.id}`,
        async () =>
          (await consoleCount(consoleLog, guest.marker)) >= boots &&
            await bootFinished(consoleLog, guest.marker, "DBC-TEST-GUEST-READY") || undefined,
        BOOT_MS,
      );

    await t.step("desc and custom ports are kept, shown and forwarded by QEMU", async () => {
      assert.equal(vm.desc, "training box #1");
      assert.deepEqual(vm.custom_ports, [
        { protocol: "tcp", host_port: tcpPort, guest_port: 80 },
        { protocol: "udp", host_port: udpPort, guest_port: 53 },
      ]);
      const detail = await setting.service.get(vm.id);
      assert.equal(detail.desc, "training box #1");
      const xml = (await virsh("dumpxml", vm.domain)).stdout;
      assert.match(xml, new RegExp(`hostfwd=tcp:127\\.0\\.0\\.1:${tcpPort}-:80`));
      assert.match(xml, new RegExp(`hostfwd=udp:127\\.0\\.0\\.1:${udpPort}-:53`));
      assert.match(xml, /org\.qemu\.guest_agent\.0/);
      assert.ok(await tcpAccepts(tcpPort), "QEMU listens on the custom TCP port");
    });

    await t.step(
      "a custom port taken, named twice or outside vm_port_range is refused",
      async () => {
        const other = (
          ports: { protocol: "tcp" | "udp"; host_port: number; guest_port: number }[],
        ) => setting.service.create(guestRequest(guest, { custom_ports: ports, start: false }));
        await refusedWith(
          other([{ protocol: "tcp", host_port: tcpPort, guest_port: 22 }]),
          "conflict",
          new RegExp(`${tcpPort} is taken by another VM`),
        );
        const free = freePort();
        await refusedWith(
          other([
            { protocol: "tcp", host_port: free, guest_port: 22 },
            { protocol: "udp", host_port: free, guest_port: 22 },
          ]),
          "invalid_params",
          /named twice/,
        );
        await refusedWith(
          other([{ protocol: "tcp", host_port: 80, guest_port: 80 }]),
          "invalid_params",
          /outside this node's VM ports 1024-65535/,
        );
        assert.equal((await setting.service.list({ includeDeleted: true })).length, 1);
      },
    );

    await t.step("shutdown answers once the guest was asked; the outcome is logged", async () => {
      await ready(1);
      const asked = await setting.service.shutdown("renter", vm.id, 120_000);
      // Answered before the guest went off, as the original answers.
      assert.equal(asked.state, "running");
      const event = setting.events.list({ action: "vm.shutdown", target: vm.id, limit: 1 })[0];
      assert.equal(event?.detail.outcome, "asked");
      const outcome = await waitFor(
        "the shutdown's outcome",
        () => setting.events.list({ action: "vm.shutdown_outcome", target: vm.id, limit: 1 })[0],
        120_000,
      );
      assert.equal(outcome.detail.outcome, "acpi");
      assert.equal((await virsh("domstate", vm.domain)).stdout.trim(), "shut off");
      assert.equal((await setting.service.get(vm.id)).state, "stopped");
      assert.match(await Deno.readTextFile(consoleLog), /DBC-TEST-GUEST-POWEROFF/);
    });

    await t.step("data disks are added, grown only, and the system disk stays", async () => {
      const added = await setting.service.diskAdd("renter", vm.id, 1);
      assert.deepEqual(added.disks.map((disk) => [disk.name, disk.kind, disk.size_bytes]), [
        ["vda", "system", GIB],
        ["vdc", "data", GIB],
      ]);
      const grown = await setting.service.diskResize("renter", vm.id, "vdc", 2);
      assert.equal(grown.disks[1]?.size_bytes, 2 * GIB);
      assert.equal(grown.disks[1]?.size_gib, 2);
      await refusedWith(
        setting.service.diskResize("renter", vm.id, "vdc", 1),
        "invalid_params",
        /only grows/,
      );
      await refusedWith(
        setting.service.diskDelete("renter", vm.id, "vda"),
        "invalid_params",
        /system disk/,
      );
      await refusedWith(
        setting.service.diskResize("renter", vm.id, "vdq", 3),
        "not_found",
        /no disk vdq/,
      );
      const second = await setting.service.diskAdd("renter", vm.id, 1);
      assert.deepEqual(second.disks.map((disk) => disk.name), ["vda", "vdc", "vdd"]);
      const afterDelete = await setting.service.diskDelete("renter", vm.id, "vdd");
      assert.deepEqual(afterDelete.disks.map((disk) => disk.name), ["vda", "vdc"]);
      await assert.rejects(Deno.stat(`${vmDir}/data-vdd.qcow2`), Deno.errors.NotFound);
      const blocks = (await virsh("domblklist", vm.domain)).stdout;
      assert.match(blocks, /vdc\s+\S+data-vdc\.qcow2/);
      assert.doesNotMatch(blocks, /vdd/);
      assert.deepEqual((await setting.service.get(vm.id)).data_disks, [
        { name: "vdc", size_gib: 2 },
      ]);
    });

    await t.step("passwd right after a start waits for the guest agent to connect", async () => {
      await setting.service.start("renter", vm.id);
      const changed = await setting.service.passwd("renter", vm.id, undefined, "s3cond-pass");
      assert.equal(changed.state, "running");
      const event = setting.events.list({ action: "vm.passwd", target: vm.id, limit: 1 })[0];
      assert.equal(event?.result, "ok");
      // The guest was still booting: its agent was not there at the first try.
      assert.ok(Number(event?.detail.agent_retries) >= 1, JSON.stringify(event?.detail));
      assert.equal((await setting.service.get(vm.id)).credentials?.password, "s3cond-pass");
    });

    await t.step("the guest boots with its data disk", async () => {
      await ready(2);
      const text = await Deno.readTextFile(consoleLog);
      assert.match(text.slice(text.lastIndexOf(guest.marker)), /blockdev=vdc size_kb=2097152\b/);
    });

    await t.step(
      "passwd changes the running guest's password through its guest agent",
      async () => {
        assert.match(await Deno.readTextFile(consoleLog), /DBC-TEST-FACT agent=vport\d+p\d+/);
        const changed = await setting.service.passwd("renter", vm.id, undefined, NEW_PASSWORD);
        assert.equal(changed.state, "running");
        // The guest prints /etc/shadow when it changes: the login user's latest hash is of the
        // new password (an earlier line may be the password set while it booted).
        await waitFor("the guest's new shadow line", async () => {
          const text = await Deno.readTextFile(consoleLog);
          const hashes = [...text.matchAll(/^DBC-TEST-SHADOW dbc:(\$6\$[^:]+):/gm)];
          const latest = hashes.at(-1)?.[1];
          if (latest === undefined) return undefined;
          const salt = latest.split("$")[2]!;
          const expected = await run("openssl", ["passwd", "-6", "-salt", salt, NEW_PASSWORD]);
          return expected.stdout.trim() === latest || undefined;
        }, 60_000);
        assert.equal((await setting.service.get(vm.id)).credentials?.password, NEW_PASSWORD);
        const event = setting.events.list({ action: "vm.passwd", target: vm.id, limit: 1 })[0];
        assert.equal(event?.detail.user, "dbc");
        assert.ok(!JSON.stringify(setting.events.list({ limit: 500 })).includes(NEW_PASSWORD));
        await refusedWith(
          setting.service.passwd("renter", vm.id, "nobody", NEW_PASSWORD),
          "invalid_params",
          /refused the new password of nobody/,
        );
      },
    );

    await t.step("poweroff (force) pulls the plug at once", async () => {
      const off = await setting.service.stop("renter", vm.id, { force: true });
      assert.equal(off.state, "stopped");
      const event = setting.events.list({ action: "vm.stop", target: vm.id, limit: 1 })[0];
      assert.equal(event?.detail.outcome, "forced");
      await refusedWith(
        setting.service.passwd("renter", vm.id, undefined, NEW_PASSWORD),
        "conflict",
        /start it first/,
      );
    });

    await t.step("after a node restart the data disk, desc and ports are still there", async () => {
      await setting.close();
      setting = openVmSetting({ dir, prefix });
      await setting.service.reconcile();
      const { disks } = await setting.service.diskList(vm.id);
      assert.deepEqual(disks.map((disk) => disk.name), ["vda", "vdc"]);
      const again = await setting.service.get(vm.id);
      assert.equal(again.desc, "training box #1");
      assert.equal(again.custom_ports?.length, 2);
      assert.match((await virsh("domblklist", vm.domain)).stdout, /data-vdc\.qcow2/);
      // A restart makes no repair of a VM whose definition is its record's.
      const repairs = setting.events.list({ action: "vm.reconcile", limit: 50 })
        .filter((event) => event.target === vm.id && event.detail.kind === "definition_replaced");
      assert.deepEqual(repairs, []);
    });

    await t.step("deleting the VM deletes its data disks", async () => {
      await setting.service.delete("renter", vm.id);
      await assert.rejects(Deno.stat(`${vmDir}/data-vdc.qcow2`), Deno.errors.NotFound);
      await refusedWith(setting.service.diskList(vm.id), "not_found", /deleted/);
    });
  } finally {
    await removeDomains(prefix);
    await setting.close();
  }
});

Deno.test("a Windows guest boots with UEFI (OVMF), takes an RDP forward, and an ignored shutdown is not forced", async () => {
  await requireLibvirt();
  const guest = await testGuest();
  const prefix = testPrefix();
  const dir = await vmScratchDir("vm-windows-uefi");
  const setting = openVmSetting({ dir, prefix });
  try {
    await addGuestImages(setting.images, guest);
    const rdpPort = freePort();
    const vm = await setting.service.create(
      guestRequest(guest, { os: "windows", firmware: "uefi", login_port: rdpPort }),
    );
    assert.equal(vm.state, "running");
    assert.deepEqual(vm.login, { protocol: "rdp", host: "127.0.0.1", port: rdpPort });
    const xml = (await virsh("dumpxml", vm.domain)).stdout;
    // libvirt picked OVMF's firmware from Debian's descriptors.
    assert.match(xml, /<loader[^>]*>[^<]*OVMF[^<]*<\/loader>/);
    assert.match(xml, new RegExp(`hostfwd=tcp:127\\.0\\.0\\.1:${rdpPort}-:3389`));
    assert.match(xml, /<target dev="sda" bus="sata"\/>|<target dev='sda' bus='sata'\/>/);
    assert.ok(await tcpAccepts(rdpPort), "QEMU listens on the RDP forward");

    // Nothing booted (the disk is not a UEFI one): the firmware runs on and nothing in the guest
    // handles the ACPI power button. The shutdown is logged as ignored and never forced; a
    // poweroff then stops it.
    const asked = await setting.service.shutdown("renter", vm.id, IGNORED_WATCH_MS);
    assert.equal(asked.state, "running");
    const outcome = await waitFor(
      "the ignored shutdown's outcome",
      () => setting.events.list({ action: "vm.shutdown_outcome", target: vm.id, limit: 1 })[0],
      IGNORED_WATCH_MS + 30_000,
    );
    assert.equal(outcome.detail.outcome, "ignored");
    assert.ok(Number(outcome.detail.watched_ms) >= IGNORED_WATCH_MS, "watched the whole time");
    assert.equal((await virsh("domstate", vm.domain)).stdout.trim(), "running");
    assert.equal((await setting.service.get(vm.id)).state, "running");
    const off = await setting.service.stop("renter", vm.id, { force: true });
    assert.equal(off.state, "stopped");
    assert.equal((await virsh("domstate", vm.domain)).stdout.trim(), "shut off");
    await setting.service.delete("renter", vm.id);
  } finally {
    await removeDomains(prefix);
    await setting.close();
  }
});
