/**
 * A node that dies half-way through a VM operation, then starts again over
 * the same database, on real libvirt and real qemu-img: start-up
 * reconciliation makes libvirt's definitions, the VM directories and the
 * disks agree with the records, says so in the event log, and finds nothing
 * to do on the start after.
 *
 * Each crash is the operation itself stopped at the step where a kill would
 * cut it (a define that never returns), or its half done by hand (a snapshot
 * taken with qemu-img and never recorded). No guest boots: VMs are defined
 * only, and the one "running" VM is started paused, which is enough for
 * libvirt and QEMU's disk lock.
 */
import assert from "node:assert/strict";
import { readDomainFacts } from "../../../node_service/vm/libvirt/domain_facts.ts";
import type { Hypervisor } from "../../../node_service/vm/libvirt/hypervisor.ts";
import { VM_FILES } from "../../../node_service/vm/constants.ts";
import type { ReconcileReport } from "../../../node_service/vm/service.ts";
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
import { addGuestImages, guestRequest, openVmSetting, type VmSetting } from "./vm_fixture.ts";

const GIB = 2 ** 30;
const ACTOR = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

async function qemuImg(...args: string[]): Promise<string> {
  const output = await run("qemu-img", args);
  assert.equal(output.code, 0, output.stderr);
  return output.stdout;
}

async function diskHeader(path: string): Promise<{ size: number; snapshots: string[] }> {
  const header = JSON.parse(await qemuImg("info", "-U", "--output=json", path));
  return {
    size: header["virtual-size"],
    snapshots: (header.snapshots ?? []).map((snapshot: { name: string }) => snapshot.name),
  };
}

async function virshOk(...args: string[]): Promise<string> {
  const output = await virsh(...args);
  assert.equal(output.code, 0, `virsh ${args.join(" ")}: ${output.stderr}`);
  return output.stdout;
}

function exists(path: string): Promise<boolean> {
  return Deno.lstat(path).then(() => true, () => false);
}

/** The report's entries about one VM, without the VM's id (known from the filter). */
function about(report: ReconcileReport[], id: string): Record<string, unknown>[] {
  return report.filter((entry) => "id" in entry && entry.id === id).map((entry) => {
    const { id: _id, ...rest } = entry as ReconcileReport & { id: string };
    return rest;
  });
}

Deno.test("after a crash at any step, the next start makes libvirt, disks and files agree with the records, once", async () => {
  await requireLibvirt();
  const guest = await testGuest();
  const prefix = testPrefix();
  const dir = await vmScratchDir("vm-reconcile");
  const vmPath = (id: string) => `${dir}/vms/${id}`;
  // Makes a define that matches never return, as if the node died right after libvirt took it.
  let cutAfterDefine: ((xmlPath: string) => boolean) | undefined;
  let cut: (xmlPath: string) => void = () => {};
  const open = () =>
    openVmSetting({
      dir,
      prefix,
      hypervisor: (real) =>
        new Proxy(real, {
          get(target, key) {
            if (key === "define") {
              return async (xmlPath: string) => {
                await target.define(xmlPath);
                if (cutAfterDefine?.(xmlPath)) {
                  cutAfterDefine = undefined;
                  cut(xmlPath);
                  await new Promise(() => {});
                }
              };
            }
            const value = target[key as keyof Hypervisor];
            return typeof value === "function" ? value.bind(target) : value;
          },
        }),
    });
  /** Runs `operation` until its define matching `where` went through, and leaves it there. */
  const crashAfterDefine = async (
    where: (xmlPath: string) => boolean,
    operation: () => unknown,
  ) => {
    const reached = new Promise<string>((resolve) => (cut = resolve));
    cutAfterDefine = where;
    const outcome = Promise.resolve().then(operation);
    outcome.catch(() => {});
    return await Promise.race([
      reached,
      outcome.then(() => assert.fail("the operation finished: nothing was cut")),
    ]);
  };

  let setting: VmSetting = open();
  try {
    await addGuestImages(setting.images, guest);
    const { service } = setting;

    // 1. Snapshots half taken and half deleted, then a modify cut after its define.
    const firstPort = freePort();
    const modified = await service.create(
      guestRequest(guest, { disk_gib: 1, login_port: firstPort, start: false }),
    );
    const modifiedDisk = `${vmPath(modified.id)}/${VM_FILES.disk}`;
    await service.snapshotCreate(ACTOR, modified.id, "kept", "");
    await service.snapshotCreate(ACTOR, modified.id, "gone", "");
    // A delete cut after qemu-img, before the record went; a take cut before its record.
    await qemuImg("snapshot", "-d", "gone", modifiedDisk);
    await qemuImg("snapshot", "-c", "orphan", modifiedDisk);
    const secondPort = freePort();
    await crashAfterDefine(
      (path) => path.endsWith(`${modified.id}/${VM_FILES.domainXml}.next`),
      () =>
        service.modify({
          actor: ACTOR,
          id: modified.id,
          cpu_cores: 2,
          memory_mib: 512,
          login_port: secondPort,
        }),
    );
    assert.equal(readDomainFacts(await virshOk("dumpxml", "--inactive", modified.domain)).vcpus, 2);

    // 2. A modify cut after its record (domain.xml left old, the .next there), and a restore
    //    cut before it grew the disk again.
    const restored = await service.create(guestRequest(guest, { disk_gib: 1, start: false }));
    const restoredXml = `${vmPath(restored.id)}/${VM_FILES.domainXml}`;
    const restoredDisk = `${vmPath(restored.id)}/${VM_FILES.disk}`;
    await service.snapshotCreate(ACTOR, restored.id, "small", "");
    const oldCopy = await Deno.readTextFile(restoredXml);
    await service.modify({ actor: ACTOR, id: restored.id, cpu_cores: 2, disk_gib: 2 });
    await Deno.writeTextFile(`${restoredXml}.next`, await Deno.readTextFile(restoredXml));
    await Deno.writeTextFile(restoredXml, oldCopy);
    await qemuImg("snapshot", "-a", "small", restoredDisk);
    assert.equal((await diskHeader(restoredDisk)).size, GIB);

    // 3. A running guest whose definition was changed behind the node's back, with a snapshot
    //    in its disk that no record has.
    const running = await service.create(guestRequest(guest, { start: false }));
    const runningDisk = `${vmPath(running.id)}/${VM_FILES.disk}`;
    await qemuImg("snapshot", "-c", "orphan", runningDisk);
    const edited = `${dir}/edited.xml`;
    await Deno.writeTextFile(
      edited,
      (await Deno.readTextFile(`${vmPath(running.id)}/${VM_FILES.domainXml}`))
        .replace(/<vcpu placement="static">1<\/vcpu>/, '<vcpu placement="static">3</vcpu>'),
    );
    await virshOk("define", edited);
    await virshOk("start", "--paused", running.domain);
    const runningDomId = (await virshOk("domid", running.domain)).trim();

    // 4. A create cut after its define: a seed disk with the password, a disk, a domain.
    const interruptedXml = await crashAfterDefine(
      (path) => path.endsWith(`/${VM_FILES.domainXml}`),
      () => service.create(guestRequest(guest, { start: false })),
    );
    const interruptedId = interruptedXml.split("/").at(-2)!;
    const interrupted = service.store.get(interruptedId)!;
    assert.equal(interrupted.state, "creating");
    assert.ok(await exists(`${vmPath(interruptedId)}/${VM_FILES.seed}`));

    // 5. A directory named like a VM that no record owns.
    await Deno.mkdir(`${dir}/vms/vm-nobodys`);

    // --- The node dies (the cut operations never finish) and starts again.
    await setting.close();
    setting = open();
    const first = await setting.service.reconcile();

    const [replaced, ...afterReplaced] = about(first, modified.id);
    const { spec_digest: digests, ...resources } = (replaced?.differences ?? {}) as Record<
      string,
      { libvirt: unknown; record: unknown }
    >;
    assert.equal(replaced?.kind, "definition_replaced");
    assert.deepEqual(resources, {
      cpu_cores: { libvirt: 2, record: 1 },
      memory_kib: { libvirt: 512 * 1024, record: 256 * 1024 },
      login_port: { libvirt: secondPort, record: firstPort },
    });
    assert.notEqual(digests?.libvirt, digests?.record);
    assert.deepEqual(afterReplaced, [
      { kind: "next_xml_removed" },
      { kind: "snapshot_record_dropped", name: "gone" },
      { kind: "snapshot_orphan_deleted", name: "orphan" },
    ]);
    assert.deepEqual(about(first, restored.id), [
      { kind: "xml_copy_rewritten" },
      { kind: "next_xml_removed" },
      { kind: "disk_regrown", from_bytes: GIB, to_bytes: 2 * GIB },
    ]);
    assert.deepEqual(about(first, running.id).map((entry) => entry.kind), [
      "state_changed",
      "definition_replaced",
    ]);
    assert.deepEqual(about(first, running.id)[1]?.differences, {
      cpu_cores: { libvirt: 3, record: 1 },
    });
    assert.deepEqual(about(first, interruptedId), [
      { kind: "interrupted", domain: interrupted.domain, observed: "shut off" },
    ]);
    assert.deepEqual(first.filter((entry) => !("id" in entry)), [
      { kind: "unowned_directory", path: vmPath("vm-nobodys") },
    ]);

    // libvirt, the files and the disks now say what the records say.
    for (const vm of [modified, restored, running]) {
      const record = setting.service.store.get(vm.id)!;
      const defined = readDomainFacts(await virshOk("dumpxml", "--inactive", vm.domain));
      const copy = readDomainFacts(
        await Deno.readTextFile(`${vmPath(vm.id)}/${VM_FILES.domainXml}`),
      );
      assert.deepEqual(defined, copy, vm.id);
      assert.equal(defined.vcpus, record.spec.cpu_cores, vm.id);
      assert.equal(defined.memoryKib, record.spec.memory_mib * 1024, vm.id);
      assert.equal(defined.loginPort, record.loginPort, vm.id);
      assert.equal(await exists(`${vmPath(vm.id)}/${VM_FILES.domainXml}.next`), false, vm.id);
    }
    assert.equal(
      readDomainFacts(await virshOk("dumpxml", "--inactive", modified.domain)).specDigest,
      digests?.record,
    );
    assert.equal(setting.service.store.get(modified.id)!.spec.cpu_cores, 1);
    assert.deepEqual((await diskHeader(modifiedDisk)).snapshots, ["kept"]);
    assert.deepEqual(setting.service.snapshotList(modified.id).map((s) => s.name), ["kept"]);
    assert.equal(setting.service.store.get(restored.id)!.spec.cpu_cores, 2);
    assert.equal((await diskHeader(restoredDisk)).size, 2 * GIB);
    // The running guest was not restarted: same QEMU, still at the vCPUs it started with; its
    // disk is QEMU's, so the unrecorded snapshot waits for a start that finds it off.
    assert.equal((await virshOk("domid", running.domain)).trim(), runningDomId);
    assert.equal(readDomainFacts(await virshOk("dumpxml", running.domain)).vcpus, 3);
    assert.equal(setting.service.store.get(running.id)!.state, "running");
    assert.deepEqual((await diskHeader(runningDisk)).snapshots, ["orphan"]);
    // The cut create went as a failed one goes: no domain, no files (the password with them).
    assert.notEqual((await virsh("domstate", interrupted.domain)).code, 0);
    assert.equal(await exists(vmPath(interruptedId)), false);
    const failed = setting.service.store.get(interruptedId)!;
    assert.equal(failed.state, "failed");
    assert.match(failed.lastError!, /interrupted by a node restart/);
    assert.ok(await exists(vmPath("vm-nobodys")), "a directory no record owns is kept");

    // Every repair is in the event log, the node's doing.
    const logged = setting.events.list({ action: "vm.reconcile", limit: 100 });
    assert.ok(logged.every((event) => event.actor === "node"));
    assert.deepEqual(
      logged.filter((event) => event.target === modified.id).map((event) =>
        `${event.detail.kind} ${event.result}`
      ).reverse(),
      [
        "definition_replaced ok",
        "next_xml_removed ok",
        "snapshot_record_dropped ok",
        "snapshot_orphan_deleted ok",
      ],
    );
    assert.equal(logged.length, first.length);

    // --- A second start finds nothing to repair.
    await setting.close();
    setting = open();
    const second = await setting.service.reconcile();
    assert.deepEqual(second, [{ kind: "unowned_directory", path: vmPath("vm-nobodys") }]);
    assert.equal(
      setting.events.list({ action: "vm.reconcile", limit: 100 }).length,
      first.length + 1,
    );
  } finally {
    await removeDomains(prefix);
    await setting.close().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
