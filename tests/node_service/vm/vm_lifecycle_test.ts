/**
 * A VM's whole life on real libvirt (emulated: `<domain type='qemu'>`): the
 * test guest is created from the image store, boots and prints its own
 * marker on the serial console, is queried, stopped (ACPI), started,
 * rebooted, reset, expired and renewed (the lease loop's operations), forced
 * off and deleted; its overlay disk is gone and the base image unchanged. One VM is reused across the steps to keep boots few.
 * The same VM carries the renter's SSH keys and password: the guest finds its
 * cloud-init seed disk (vfat, CIDATA) and prints it, and only the VM's detail shows them.
 *
 * Fails (does not skip) when libvirt is not running.
 */
import assert from "node:assert/strict";
import { RpcError } from "../../../mod/mod.ts";
import { VM_FILES } from "../../../node_service/vm/constants.ts";
import { ECDSA_KEY, ED25519_KEY } from "../../fixtures/ssh_keys.ts";
import { freePort, waitFor } from "../../helpers.ts";
import {
  removeDomains,
  requireLibvirt,
  run,
  sha256File,
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
} from "./vm_fixture.ts";

/** Boots are emulated on a shared 2-core machine: be generous. */
const BOOT_MS = 180_000;
/** Odd for YAML and for the guest's shell, valid for the schema. */
const PASSWORD = `pa55 "word" #1: {x} \\ 'y'`;

/** What the guest printed of its seed disk at its first boot: file names, meta-data, user-data. */
function seedOnConsole(text: string) {
  const lines = text.split("\n").map((line) => line.replace(/\r$/, ""));
  const end = lines.indexOf("DBC-TEST-SEED-END");
  const printed = (prefix: string) =>
    lines.slice(0, end).filter((line) => line.startsWith(prefix)).map((line) =>
      line.slice(prefix.length)
    );
  return {
    found: lines.some((line) => /^DBC-TEST-SEED-FOUND dev=vdb$/.test(line)),
    files: printed("DBC-TEST-SEED-FILE "),
    metaData: printed("DBC-TEST-SEED-META ").join("\n"),
    userData: printed("DBC-TEST-SEED ").join("\n"),
  };
}

Deno.test("a VM is created, boots, is queried, stopped, started, rebooted, reset and deleted", async (t) => {
  await requireLibvirt();
  const guest = await testGuest();
  const prefix = testPrefix();
  const dir = await vmScratchDir("vm-lifecycle");
  const setting = openVmSetting({ dir, prefix });
  const { service, images, events } = setting;
  try {
    await addGuestImages(images, guest);
    const baseBefore = await sha256File(`${dir}/images/base.qcow2`);
    const loginPort = freePort();

    const vm = await service.create(
      guestRequest(guest, {
        cpu_cores: 2,
        disk_gib: 1,
        login_port: loginPort,
        ssh_keys: [ED25519_KEY, ECDSA_KEY],
        password: PASSWORD,
      }),
    );
    const consoleLog = `${dir}/vms/${vm.id}/${VM_FILES.console}`;
    const overlay = `${dir}/vms/${vm.id}/${VM_FILES.disk}`;
    const seed = `${dir}/vms/${vm.id}/${VM_FILES.seed}`;
    const marker = guest.marker;
    const boots = (count: number) =>
      waitFor(
        `boot ${count} of ${vm.id}`,
        async () => (await consoleCount(consoleLog, marker)) >= count || undefined,
        BOOT_MS,
      );

    await t.step(
      "created: running, its disk an overlay on the image, its login port forwarded",
      async () => {
        assert.equal(vm.state, "running");
        assert.equal(vm.domain, `${prefix}${vm.id}`);
        assert.deepEqual(vm.login, { protocol: "ssh", host: "127.0.0.1", port: loginPort });
        assert.equal(vm.vnc.password.length, 8);
        const info = await run("qemu-img", ["info", "-U", "--output=json", overlay]);
        const header = JSON.parse(info.stdout);
        assert.equal(header.format, "qcow2");
        assert.equal(header["backing-filename"], `${dir}/images/base.qcow2`);
        assert.equal(header["virtual-size"], 2 ** 30);
        assert.ok(await tcpAccepts(loginPort), "QEMU listens on the forwarded login port");
      },
    );

    await t.step(
      "the guest's own boot lines show on its console, with what was asked for",
      async () => {
        await boots(1);
        await waitFor(
          "guest ready",
          async () => (await consoleCount(consoleLog, "DBC-TEST-GUEST-READY")) >= 1 || undefined,
          BOOT_MS,
        );
        const text = await Deno.readTextFile(consoleLog);
        assert.match(text, /DBC-TEST-FACT nproc=2\b/);
        assert.match(text, /DBC-TEST-FACT blockdev=vda size_kb=1048576\b/);
        const memory = Number(/DBC-TEST-FACT memtotal_kb=(\d+)/.exec(text)?.[1]);
        assert.ok(memory > 128 * 1024 && memory <= 256 * 1024, `guest memory ${memory} kB`);
        const seedShown = seedOnConsole(text);
        assert.ok(seedShown.found, "the guest found a vfat disk labelled CIDATA on vdb");
        assert.deepEqual(seedShown.files, ["meta-data", "user-data"]);
        assert.deepEqual(JSON.parse(seedShown.metaData), {
          "instance-id": vm.id,
          "local-hostname": vm.id,
        });
        assert.ok(seedShown.userData.startsWith("#cloud-config\n"), seedShown.userData);
        const userData = JSON.parse(seedShown.userData.slice("#cloud-config\n".length));
        assert.equal(userData.users[0].name, "dbc");
        assert.equal(userData.users[0].plain_text_passwd, PASSWORD);
        assert.deepEqual(userData.users[0].ssh_authorized_keys, [ED25519_KEY, ECDSA_KEY]);
        assert.equal(userData.ssh_pwauth, true);
        const logs = await service.logs(vm.id, "tail", 20);
        assert.ok(logs.lines.includes("DBC-TEST-GUEST-READY"), logs.lines.join("\n"));
        assert.ok(logs.lines.length <= 20);
        const head = await service.logs(vm.id, "head", 5);
        assert.equal(head.lines.length, 5);
        assert.equal(head.truncated, true);
      },
    );

    await t.step("queried: libvirt's view matches the request", async () => {
      const detail = await service.get(vm.id);
      assert.equal(detail.hypervisor.state, "present");
      if (detail.hypervisor.state !== "present") return;
      assert.equal(detail.hypervisor.status, "running");
      assert.equal(detail.hypervisor.vcpus, 2);
      assert.equal(detail.hypervisor.memory_kib, 256 * 1024);
      assert.deepEqual(detail.hypervisor.disks, [
        { target: "vda", source: overlay },
        { target: "vdb", source: seed },
      ]);
      assert.ok(detail.hypervisor.vnc_port !== null && detail.hypervisor.vnc_port >= 5900);
      assert.ok(await tcpAccepts(detail.hypervisor.vnc_port!), "VNC listens");
      assert.deepEqual((await service.list({ includeDeleted: false })).map((listed) => listed.id), [
        vm.id,
      ]);
    });

    await t.step(
      "the login details are in the VM's detail only, and never in the event log",
      async () => {
        const detail = await service.get(vm.id);
        assert.deepEqual(detail.credentials, {
          user: "dbc",
          password: PASSWORD,
          password_ssh: true,
          ssh_keys: [ED25519_KEY, ECDSA_KEY],
        });
        const password = JSON.stringify(PASSWORD).slice(1, -1);
        assert.doesNotMatch(JSON.stringify(vm), /credentials/);
        assert.ok(!JSON.stringify(vm).includes(password), "not in the create's answer");
        const listed = JSON.stringify(await service.list({ includeDeleted: true }));
        assert.ok(!listed.includes(password), "not in the list");
        const created = events.list({ action: "vm.create", target: vm.id, limit: 1 })[0]!;
        assert.deepEqual(created.detail.login, {
          user: "dbc",
          ssh_keys: 2,
          password: "given",
          password_ssh: true,
        });
        assert.ok(!JSON.stringify(events.list({ limit: 1000 })).includes(password));
      },
    );

    await t.step("the base image cannot be deleted while the VM uses it", () => {
      assert.throws(() => images.delete("base.qcow2"), /in use by VM/);
      assert.throws(() => images.delete("vmlinuz"), /in use by VM/);
    });

    await t.step("stopped: the guest powers off when asked (ACPI)", async () => {
      const stopped = await service.stop("operator", vm.id, { force: false, timeoutMs: 120_000 });
      assert.equal(stopped.state, "stopped");
      assert.equal((await virsh("domstate", vm.domain)).stdout.trim(), "shut off");
      assert.equal(
        events.list({ action: "vm.stop", target: vm.id, limit: 1 })[0]?.detail.outcome,
        "acpi",
      );
      assert.equal(await tcpAccepts(loginPort), false);
      // Stopping a stopped VM changes nothing and asks libvirt for nothing.
      assert.equal((await service.stop("operator", vm.id)).state, "stopped");
      assert.equal(
        events.list({ action: "vm.stop", target: vm.id, limit: 1 })[0]?.detail.outcome,
        "already_off",
      );
    });

    await t.step("started again: boots a second time, the console log kept", async () => {
      assert.equal((await service.start("operator", vm.id)).state, "running");
      await boots(2);
    });

    await t.step("rebooted (ACPI), then reset: two more boots", async () => {
      await waitFor(
        "acpid in the guest",
        async () => (await bootFinished(consoleLog, marker, "DBC-TEST-GUEST-READY")) || undefined,
        BOOT_MS,
      );
      assert.equal((await service.restart("operator", vm.id)).state, "running");
      await boots(3);
      assert.equal((await service.reset("operator", vm.id)).state, "running");
      await boots(4);
    });

    await t.step("lease expired: powered off and kept; only a renewal brings it back", async () => {
      await waitFor(
        "acpid in the guest",
        async () => (await bootFinished(consoleLog, marker, "DBC-TEST-GUEST-READY")) || undefined,
        BOOT_MS,
      );
      const expired = await service.expire("lease-loop", vm.id);
      assert.equal(expired.state, "expired");
      assert.equal((await virsh("domstate", vm.domain)).stdout.trim(), "shut off");
      await assert.rejects(service.start("operator", vm.id), (error: unknown) => {
        assert.ok(error instanceof RpcError);
        assert.equal(error.code, "conflict");
        assert.match(error.message, /lease has expired/);
        return true;
      });
      assert.equal((await service.renew("lease-loop", vm.id)).state, "running");
      await boots(5);
    });

    await t.step("forced off at once when asked to", async () => {
      const stopped = await service.stop("operator", vm.id, { force: true });
      assert.equal(stopped.state, "stopped");
      assert.equal(
        events.list({ action: "vm.stop", target: vm.id, limit: 1 })[0]?.detail.outcome,
        "forced",
      );
    });

    await t.step(
      "deleted: domain and overlay gone, base image untouched, record kept as deleted",
      async () => {
        await service.start("operator", vm.id);
        const deleted = await service.delete("operator", vm.id);
        assert.equal(deleted.state, "deleted");
        const state = await virsh("domstate", vm.domain);
        assert.notEqual(state.code, 0);
        assert.match(state.stderr, /failed to get domain/);
        assert.equal(await Deno.stat(`${dir}/vms/${vm.id}`).then(() => true, () => false), false);
        assert.equal(await sha256File(`${dir}/images/base.qcow2`), baseBefore);
        assert.deepEqual(await service.list({ includeDeleted: false }), []);
        assert.equal((await service.list({ includeDeleted: true }))[0]?.state, "deleted");
        await assert.rejects(service.start("operator", vm.id), /it is deleted/);
        images.delete("base.qcow2");
      },
    );

    await t.step("every operation is in the event log", () => {
      const actions = events.list({ target: vm.id, limit: 100 }).reverse()
        .filter((event) => event.result === "ok").map((event) => event.action);
      assert.deepEqual(actions, [
        "vm.create",
        "vm.stop",
        "vm.stop",
        "vm.start",
        "vm.restart",
        "vm.reset",
        "vm.expire",
        "vm.renew",
        "vm.stop",
        "vm.start",
        "vm.delete",
      ]);
      const refused = events.list({ target: vm.id, limit: 100 }).filter((event) =>
        event.result === "error"
      );
      assert.deepEqual(refused.map((event) => event.action), ["vm.start", "vm.start"]);
      assert.match(String(refused[0]!.detail.error), /deleted/);
      assert.match(String(refused[1]!.detail.error), /lease has expired/);
    });
  } finally {
    await removeDomains(prefix);
    await setting.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a create that fails after its record was written undoes its steps and says why", async () => {
  await requireLibvirt();
  const guest = await testGuest();
  const prefix = testPrefix();
  const dir = await vmScratchDir("vm-create-fails");
  const setting = openVmSetting({ dir, prefix });
  // Something else holds the login port: QEMU cannot forward it, so start fails.
  const squatter = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await addGuestImages(setting.images, guest);
    const port = (squatter.addr as Deno.NetAddr).port;
    await assert.rejects(
      setting.service.create(guestRequest(guest, { login_port: port })),
      (error: unknown) => {
        assert.ok(error instanceof RpcError);
        assert.equal(error.code, "conflict");
        assert.match(error.message, new RegExp(`login port ${port} is in use on this host`));
        return true;
      },
    );
    // The same for a VNC display a renter names on a port the host uses.
    await assert.rejects(
      setting.service.create(guestRequest(guest, { vnc_port: port })),
      new RegExp(`VNC port ${port} is in use on this host`),
    );
    await assert.rejects(
      setting.service.create(guestRequest(guest, { image: "nothing.qcow2" })),
      /no image nothing.qcow2/,
    );
    await assert.rejects(
      setting.service.create(guestRequest(guest, { disk_gib: undefined, gpus: { count: 1 } })),
      /GPUs asked for, but this node has none usable: no GPU here/,
    );

    // A start that libvirt refuses: the caller gets libvirt's reason, the VM stays as it was.
    const vm = await setting.service.create(guestRequest(guest, { start: false }));
    await Deno.remove(`${dir}/images/vmlinuz`);
    await assert.rejects(
      setting.service.start("operator", vm.id),
      /kernel|No such file|Cannot access/i,
    );
    assert.equal(setting.service.store.get(vm.id)?.state, "stopped");
    assert.deepEqual(
      (await setting.service.list({ includeDeleted: false })).map((listed) => listed.id),
      [vm.id],
    );
    // No password asked for: the node made one, and SSH takes it (there is no key).
    const { credentials } = await setting.service.get(vm.id);
    assert.equal(credentials?.user, "dbc");
    assert.match(credentials?.password ?? "", /^[A-Za-z0-9]{20}$/);
    assert.equal(credentials?.password_ssh, true);
    assert.deepEqual(credentials?.ssh_keys, []);
    const vmDir = `${dir}/vms/${vm.id}`;
    assert.ok((await Deno.stat(`${vmDir}/${VM_FILES.seed}`)).isFile);
    // Data kept: the disk stays, the seed (the password in clear) goes with the domain.
    const deleted = await setting.service.delete("operator", vm.id, { keepData: true });
    assert.equal(deleted.state, "deleted");
    assert.ok((await Deno.stat(`${vmDir}/${VM_FILES.disk}`)).isFile);
    await assert.rejects(Deno.stat(`${vmDir}/${VM_FILES.seed}`), Deno.errors.NotFound);
  } finally {
    squatter.close();
    await removeDomains(prefix);
    await setting.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with libvirt unreachable, VM requests fail with a clear 'unavailable'", async () => {
  const prefix = testPrefix();
  const dir = await vmScratchDir("vm-no-libvirt");
  const setting = openVmSetting({
    dir,
    prefix,
    uri: "qemu+unix:///system?socket=/nonexistent/libvirt-sock",
  });
  try {
    await assert.rejects(setting.service.reconcile(), (error: unknown) => {
      assert.match(String(error), /failed to connect to the hypervisor.*is libvirtd running/);
      return true;
    });
    const created = await run("qemu-img", [
      "create",
      "-q",
      "-f",
      "qcow2",
      `${dir}/disk.qcow2`,
      "1M",
    ]);
    assert.equal(created.code, 0);
    await setting.images.add("disk.qcow2", { kind: "path", path: `${dir}/disk.qcow2` }).done;
    await assert.rejects(
      setting.service.create(
        guestRequest({ kernel: "", initrd: "", baseDisk: "", cmdline: "", marker: "" }, {
          image: "disk.qcow2",
          direct_boot: undefined,
        }),
      ),
      (error: unknown) => {
        assert.ok(error instanceof RpcError);
        assert.equal(error.code, "unavailable");
        return true;
      },
    );
    const failed = (await setting.service.list({ includeDeleted: false }))[0];
    assert.equal(failed?.state, "failed");
    assert.match(failed?.last_error ?? "", /failed to connect to the hypervisor/);
    assert.equal(await Deno.stat(`${dir}/vms/${failed!.id}`).then(() => true, () => false), false);
  } finally {
    await setting.close();
    await Deno.remove(dir, { recursive: true });
  }
});
