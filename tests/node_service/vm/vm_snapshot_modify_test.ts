/**
 * Snapshots and modify of one VM on real libvirt (emulated), never booted
 * to its prompt: a disk snapshot needs the VM stopped, so the guest's own
 * output adds nothing here, and every check reads libvirt (`virsh`) or the
 * disk (`qemu-img`, `qemu-io`) directly. One VM goes through every step:
 * snapshot, modify (CPU, memory, disk grow, login port), refusals (shrink,
 * while running), a modify that fails half-way, restore, snapshot delete,
 * and the VM's delete with snapshots in its disk and in libvirt's metadata.
 *
 * Fails (does not skip) when libvirt is not running.
 */
import assert from "node:assert/strict";
import { RpcError } from "../../../mod/mod.ts";
import type { Hypervisor } from "../../../node_service/vm/libvirt/hypervisor.ts";
import { VM_FILES } from "../../../node_service/vm/constants.ts";
import { freePort } from "../../helpers.ts";
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

const GIB = 2 ** 30;
/** Where the system libvirt daemon keeps the snapshot metadata of each domain. */
const LIBVIRT_SNAPSHOT_DIR = "/var/lib/libvirt/qemu/snapshot";
const ACTOR = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

async function diskHeader(path: string): Promise<{ size: number; snapshots: string[] }> {
  const info = await run("qemu-img", ["info", "-U", "--output=json", path]);
  assert.equal(info.code, 0, info.stderr);
  const header = JSON.parse(info.stdout);
  return {
    size: header["virtual-size"],
    snapshots: (header.snapshots ?? []).map((snapshot: { name: string }) => snapshot.name),
  };
}

/** `virsh dominfo`'s CPU count and maximum memory (KiB). */
async function domInfo(domain: string): Promise<{ cpus: number; memoryKib: number }> {
  const info = await virsh("dominfo", domain);
  assert.equal(info.code, 0, info.stderr);
  return {
    cpus: Number(/^CPU\(s\):\s+(\d+)/m.exec(info.stdout)?.[1]),
    memoryKib: Number(/^Max memory:\s+(\d+) KiB/m.exec(info.stdout)?.[1]),
  };
}

/** Whether 64 KiB at the disk's start hold `pattern` in every byte. */
async function diskStartHolds(path: string, pattern: number): Promise<boolean> {
  const read = await run("qemu-io", ["-f", "qcow2", "-c", `read -P ${pattern} 0 64k`, path]);
  assert.equal(read.code, 0, read.stderr);
  return !/Pattern verification failed/.test(read.stdout + read.stderr);
}

function rejectsWith(code: string, message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof RpcError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    return true;
  };
}

Deno.test("a VM's disk is snapshotted, the VM modified while stopped, restored, and deleted with its snapshots", async (t) => {
  await requireLibvirt();
  const guest = await testGuest();
  const prefix = testPrefix();
  const dir = await vmScratchDir("vm-snapshots");
  // Lets a step make something happen right after libvirt accepted a new definition.
  let afterDefine: ((xmlPath: string) => void) | undefined;
  const setting = openVmSetting({
    dir,
    prefix,
    hypervisor: (real) =>
      new Proxy(real, {
        get(target, key) {
          if (key === "define") {
            return async (xmlPath: string) => {
              await target.define(xmlPath);
              afterDefine?.(xmlPath);
            };
          }
          const value = target[key as keyof Hypervisor];
          return typeof value === "function" ? value.bind(target) : value;
        },
      }),
  });
  const { service, images, events } = setting;
  try {
    await addGuestImages(images, guest);
    const firstPort = freePort();
    const vm = await service.create(
      guestRequest(guest, { disk_gib: 1, login_port: firstPort, start: false }),
    );
    const disk = `${dir}/vms/${vm.id}/${VM_FILES.disk}`;
    assert.equal(vm.state, "stopped");

    await t.step("a snapshot of the stopped VM's disk is taken, listed and read", async () => {
      const snapshot = await service.snapshotCreate(ACTOR, vm.id, "clean", "before any change");
      assert.deepEqual(snapshot, {
        vm_id: vm.id,
        name: "clean",
        description: "before any change",
        disk_bytes: GIB,
        created_at: snapshot.created_at,
        created_by: ACTOR,
      });
      assert.deepEqual((await diskHeader(disk)).snapshots, ["clean"]);
      assert.deepEqual(service.snapshotList(vm.id), [snapshot]);
      assert.deepEqual(service.snapshotGet(vm.id, "clean"), snapshot);
      await assert.rejects(
        service.snapshotCreate(ACTOR, vm.id, "clean", ""),
        rejectsWith("conflict", /has a snapshot named clean already/),
      );
      assert.throws(() => service.snapshotGet(vm.id, "other"), rejectsWith("not_found", /other/));
      assert.throws(() => service.snapshotList("vm-nothing"), rejectsWith("not_found", /no VM/));
      // What the guest would have written after the snapshot.
      const write = await run("qemu-io", ["-f", "qcow2", "-c", "write -P 171 0 64k", disk]);
      assert.equal(write.code, 0, write.stderr);
      assert.ok(await diskStartHolds(disk, 171));
    });

    const secondPort = freePort();
    await t.step(
      "modified while stopped: CPUs, memory, disk grown, login port; libvirt and the record agree",
      async () => {
        const modified = await service.modify({
          actor: ACTOR,
          id: vm.id,
          cpu_cores: 2,
          memory_mib: 512,
          disk_gib: 2,
          login_port: secondPort,
        });
        assert.equal(modified.state, "stopped");
        assert.equal(modified.cpu_cores, 2);
        assert.equal(modified.memory_mib, 512);
        assert.equal(modified.disk_gib, 2);
        assert.equal(modified.login?.port, secondPort);
        assert.deepEqual(await domInfo(vm.domain), { cpus: 2, memoryKib: 512 * 1024 });
        assert.equal((await diskHeader(disk)).size, 2 * GIB);
        const xml = (await virsh("dumpxml", vm.domain)).stdout;
        assert.match(xml, new RegExp(`hostfwd=tcp:127\\.0\\.0\\.1:${secondPort}-:22`));
        assert.equal(
          await Deno.readTextFile(`${dir}/vms/${vm.id}/${VM_FILES.domainXml}`).then((text) =>
            text.includes(`:${secondPort}-:22`)
          ),
          true,
        );
        assert.ok(await diskStartHolds(disk, 171), "growing keeps what the disk holds");
        const event = events.list({ action: "vm.modify", target: vm.id, limit: 1 })[0]!;
        assert.equal(event.actor, ACTOR);
        assert.equal(event.result, "ok");
        assert.deepEqual(event.detail.changes, {
          cpu_cores: { from: 1, to: 2 },
          memory_mib: { from: 256, to: 512 },
          disk_gib: { from: 1, to: 2 },
          login_port: { from: firstPort, to: secondPort },
        });
      },
    );

    await t.step("a smaller disk is refused, and nothing changes", async () => {
      await assert.rejects(
        service.modify({ actor: ACTOR, id: vm.id, disk_gib: 1, cpu_cores: 4 }),
        rejectsWith("invalid_params", /cannot shrink: it is 2 GiB/),
      );
      assert.deepEqual(await domInfo(vm.domain), { cpus: 2, memoryKib: 512 * 1024 });
      assert.equal(service.store.get(vm.id)?.spec.cpu_cores, 2);
      assert.equal((await diskHeader(disk)).size, 2 * GIB);
    });

    await t.step("a modify that fails half-way leaves the VM as it was", async () => {
      const stolen = freePort();
      // A create takes the port between the checks and the record: the unique index refuses it.
      afterDefine = (xmlPath) => {
        if (!xmlPath.endsWith(".next")) return;
        afterDefine = undefined;
        const record = service.store.get(vm.id)!;
        service.store.insert({
          ...record,
          id: "vm-squatter",
          domain: `${prefix}vm-squatter`,
          loginPort: stolen,
        });
      };
      await assert.rejects(
        service.modify({ actor: ACTOR, id: vm.id, cpu_cores: 3, login_port: stolen }),
        rejectsWith("conflict", /login port is taken/),
      );
      assert.deepEqual(await domInfo(vm.domain), { cpus: 2, memoryKib: 512 * 1024 });
      const record = service.store.get(vm.id)!;
      assert.equal(record.spec.cpu_cores, 2);
      assert.equal(record.loginPort, secondPort);
      assert.match((await virsh("dumpxml", vm.domain)).stdout, new RegExp(`:${secondPort}-:22`));
      assert.equal(
        await Deno.stat(`${dir}/vms/${vm.id}/${VM_FILES.domainXml}.next`).then(
          () => true,
          () => false,
        ),
        false,
      );
      service.store.setState("vm-squatter", "deleted");
    });

    await t.step(
      "while running: modify and snapshot changes are refused, listing works",
      async () => {
        assert.equal((await service.start(ACTOR, vm.id)).state, "running");
        const running = rejectsWith("conflict", /it is running; stop it first/);
        await assert.rejects(service.modify({ actor: ACTOR, id: vm.id, cpu_cores: 1 }), running);
        await assert.rejects(service.snapshotCreate(ACTOR, vm.id, "live", ""), running);
        await assert.rejects(service.snapshotRevert(ACTOR, vm.id, "clean"), running);
        await assert.rejects(service.snapshotDelete(ACTOR, vm.id, "clean"), running);
        assert.deepEqual(service.snapshotList(vm.id).map((snapshot) => snapshot.name), ["clean"]);
        assert.deepEqual(await domInfo(vm.domain), { cpus: 2, memoryKib: 512 * 1024 });
        assert.equal((await service.stop(ACTOR, vm.id, { force: true })).state, "stopped");
      },
    );

    await t.step(
      "restored: the disk as the snapshot saw it, the VM's resources of now",
      async () => {
        const restored = await service.snapshotRevert(ACTOR, vm.id, "clean");
        assert.equal(restored.state, "stopped");
        assert.equal(restored.cpu_cores, 2);
        assert.ok(await diskStartHolds(disk, 0), "the write after the snapshot is gone");
        assert.equal((await diskHeader(disk)).size, 2 * GIB, "the disk keeps its grown size");
        assert.deepEqual(await domInfo(vm.domain), { cpus: 2, memoryKib: 512 * 1024 });
        assert.equal(
          events.list({ action: "vm.snapshot_revert", target: vm.id, limit: 1 })[0]?.detail
            .regrown_to_bytes,
          2 * GIB,
        );
      },
    );

    await t.step("the snapshot is deleted from the disk and the records", async () => {
      assert.deepEqual(await service.snapshotDelete(ACTOR, vm.id, "clean"), {
        vm_id: vm.id,
        name: "clean",
        deleted: true,
      });
      assert.deepEqual(service.snapshotList(vm.id), []);
      assert.deepEqual((await diskHeader(disk)).snapshots, []);
      await assert.rejects(
        service.snapshotDelete(ACTOR, vm.id, "clean"),
        rejectsWith("not_found", /no snapshot clean/),
      );
      await assert.rejects(
        service.snapshotRevert(ACTOR, vm.id, "clean"),
        rejectsWith("not_found", /no snapshot clean/),
      );
    });

    await t.step(
      "deleted with snapshots (the node's and one libvirt knows): no domain, no files, no records",
      async () => {
        await service.snapshotCreate(ACTOR, vm.id, "kept", "");
        const libvirtSnapshot = await virsh(
          "snapshot-create-as",
          "--domain",
          vm.domain,
          "--name",
          "by-operator",
        );
        assert.equal(libvirtSnapshot.code, 0, libvirtSnapshot.stderr);
        assert.equal((await service.delete(ACTOR, vm.id)).state, "deleted");
        const state = await virsh("domstate", vm.domain);
        assert.notEqual(state.code, 0);
        assert.match(state.stderr, /failed to get domain/);
        assert.equal(await Deno.stat(`${dir}/vms/${vm.id}`).then(() => true, () => false), false);
        assert.equal(
          await Deno.stat(`${LIBVIRT_SNAPSHOT_DIR}/${vm.domain}`).then(() => true, () => false),
          false,
          "libvirt's snapshot metadata went with the domain",
        );
        assert.deepEqual(service.snapshots.list(vm.id), []);
        assert.equal(
          events.list({ action: "vm.delete", target: vm.id, limit: 1 })[0]?.detail
            .snapshots_removed,
          1,
        );
        await assert.rejects(
          service.snapshotCreate(ACTOR, vm.id, "late", ""),
          rejectsWith("conflict", /it is deleted/),
        );
      },
    );

    await t.step("every operation is in the event log, with its actor and result", () => {
      const logged = events.list({ target: vm.id, limit: 100 }).reverse()
        .filter((event) => event.action !== "vm.observe")
        .map((event) => `${event.action} ${event.result}`);
      assert.deepEqual(logged, [
        "vm.create ok",
        "vm.snapshot_create ok",
        "vm.snapshot_create error",
        "vm.modify ok",
        "vm.modify error",
        "vm.modify error",
        "vm.start ok",
        "vm.modify error",
        "vm.snapshot_create error",
        "vm.snapshot_revert error",
        "vm.snapshot_delete error",
        "vm.stop ok",
        "vm.snapshot_revert ok",
        "vm.snapshot_delete ok",
        "vm.snapshot_delete error",
        "vm.snapshot_revert error",
        "vm.snapshot_create ok",
        "vm.delete ok",
        "vm.snapshot_create error",
      ]);
      assert.ok(
        events.list({ target: vm.id, limit: 100 }).filter((event) => event.action !== "vm.create")
          .every((event) => event.actor === ACTOR || event.actor === "node"),
      );
    });
  } finally {
    await removeDomains(prefix);
    await setting.close();
    await Deno.remove(dir, { recursive: true });
  }
});
