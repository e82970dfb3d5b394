/**
 * A VM's data disks: extra qcow2 files in its directory, each attached at a
 * guest device of its own (`vdc`.. on Linux, `sdb`.. on Windows), kept in
 * the VM's record (its spec in node.db) so a restart and a redefinition keep
 * them, and removed with the VM's directory when it is deleted.
 *
 * Listing works in any state; adding, growing and deleting work on a stopped
 * VM and, as in the original, on a running Linux one: the disk is plugged
 * into (or out of) the running guest through libvirt's live operations and
 * the persistent definition is then the node's own XML from the new record.
 * A Windows guest's data disks are SATA, which QEMU does not hot-plug: it
 * must be stopped. Each change is applied in the order that can be undone:
 * the file, then the running guest (a failure removes a new file), then the
 * definition and the record (a failure unplugs what was plugged in, or plugs
 * back what was unplugged). A node killed between the definition and the
 * record is set right by start-up repair (repair.ts), which defines the
 * record's domain again; what a running guest saw meanwhile lasts until it
 * next powers off (a disk added then is gone at the next start, its file
 * left in the VM's directory; a disk deleted then comes back).
 */
import { RpcError, type Vm, VM_OPS_LIMITS, type VmDisk } from "../../mod/mod.ts";
import { VM_FILES } from "./constants.ts";
import { dataDiskElement } from "./libvirt/mod.ts";
import { stoppedOnlyRefusal } from "./modify_plan.ts";
import { createBlankDisk, diskInfo, growDisk } from "./disk.ts";
import type { VmRecord, VmSpec } from "./store.ts";
import type { VmCore } from "./vm_core.ts";
import { errorText, GIB } from "./vm_helpers.ts";

type DataDisk = NonNullable<VmSpec["data_disks"]>[number];
export type VmDiskList = { vm_id: string; disks: VmDisk[] };

/** The guest device of the system disk. */
function systemDiskName(record: VmRecord): string {
  return record.os === "windows" ? "sda" : "vda";
}

/** The first device free for a data disk; `vdb` is the seed disk's, `sda` Windows' system disk. */
function nextDiskName(record: VmRecord, disks: DataDisk[]): string | undefined {
  const [prefix, first] = record.os === "windows" ? ["sd", "b"] : ["vd", "c"];
  const taken = new Set(disks.map((disk) => disk.name));
  for (let code = first.charCodeAt(0); code <= "z".charCodeAt(0); code++) {
    const name = `${prefix}${String.fromCharCode(code)}`;
    if (!taken.has(name)) return name;
  }
  return undefined;
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await diskInfo(path)).virtualSizeBytes;
  } catch {
    return null;
  }
}

/** The VM's disks, the system disk first; sizes as qemu-img reads them now. */
export async function diskList(core: VmCore, id: string): Promise<VmDiskList> {
  const record = core.record(id);
  if (record.state === "deleted") throw new RpcError("not_found", `VM ${id} is deleted`);
  const system: VmDisk = {
    name: systemDiskName(record),
    file: core.diskPath(id),
    size_gib: record.spec.disk_gib,
    size_bytes: await sizeOf(core.diskPath(id)),
    kind: "system",
  };
  const data = await Promise.all((record.spec.data_disks ?? []).map(async (disk) => {
    const file = `${core.vmPath(id)}/${disk.file}`;
    return {
      name: disk.name,
      file,
      size_gib: disk.size_gib,
      size_bytes: await sizeOf(file),
      kind: "data" as const,
    };
  }));
  return { vm_id: id, disks: [system, ...data] };
}

/**
 * Runs a disk change on a VM that is stopped or running (the record's state after what libvirt
 * says now); `live` tells `work` whether the running guest must be changed too.
 */
async function whileStoppedOrRunning<T>(
  core: VmCore,
  actor: string,
  action: string,
  id: string,
  what: string,
  work: (record: VmRecord, live: boolean, detail: Record<string, unknown>) => Promise<T>,
  requestDetail: Record<string, unknown>,
): Promise<T> {
  return await core.queued(id, () =>
    core.logged(actor, action, id, async (detail) => {
      const record = await core.freshRecord(id);
      const live = record.state === "running";
      const refusal = live ? undefined : stoppedOnlyRefusal(record.state);
      if (refusal) throw new RpcError("conflict", `cannot ${what} VM ${id}: ${refusal}`);
      if (live && record.os === "windows") {
        throw new RpcError(
          "conflict",
          `cannot ${what} VM ${id} while it runs: a Windows guest's data disks are SATA, ` +
            "which is not plugged into a running guest; stop it first",
        );
      }
      detail.live = live;
      return await work(record, live, detail);
    }, requestDetail));
}

/** Adds an empty data disk of `sizeGib` to a VM, plugged into the guest at once if it runs. */
export async function diskAdd(
  core: VmCore,
  actor: string,
  id: string,
  sizeGib: number,
): Promise<VmDiskList> {
  await whileStoppedOrRunning(core, actor, "vm.disk_add", id, "add a disk to", async (
    record,
    live,
    detail,
  ) => {
    const disks = record.spec.data_disks ?? [];
    const name = disks.length < VM_OPS_LIMITS.maxDataDisks
      ? nextDiskName(record, disks)
      : undefined;
    if (name === undefined) {
      throw new RpcError(
        "invalid_params",
        `VM ${id} has ${disks.length} data disks, the most a VM may have`,
      );
    }
    detail.disk = name;
    await core.options.diskGuard?.require(core.options.vmDir, 0, `a data disk for VM ${id}`);
    const disk: DataDisk = { name, size_gib: sizeGib, file: `data-${name}.qcow2` };
    const path = `${core.vmPath(id)}/${disk.file}`;
    await createBlankDisk(path, sizeGib * GIB);
    let plugged = false;
    try {
      if (live) {
        await plugIn(core, record, { path, target: name });
        plugged = true;
      }
      await redefine(core, record, { ...record.spec, data_disks: [...disks, disk] });
    } catch (error) {
      if (plugged) {
        await core.options.hypervisor.detachDiskLive(record.domain, name).catch((undo) =>
          core.log.error("cannot unplug a data disk after a failed add", {
            id,
            disk: name,
            error: errorText(undo),
          })
        );
      }
      await Deno.remove(path).catch(() => {});
      throw error;
    }
  }, { size_gib: sizeGib });
  return await diskList(core, id);
}

/**
 * Grows a disk (a data disk, or the system disk); a smaller size is refused. A running guest's
 * disk is grown by QEMU (`virsh blockresize`), and the guest sees the new size at once.
 */
export async function diskResize(
  core: VmCore,
  actor: string,
  id: string,
  name: string,
  sizeGib: number,
): Promise<VmDiskList> {
  await whileStoppedOrRunning(core, actor, "vm.disk_resize", id, "resize a disk of", async (
    record,
    live,
  ) => {
    const disks = record.spec.data_disks ?? [];
    const system = name === systemDiskName(record);
    const disk = disks.find((item) => item.name === name);
    if (!system && !disk) throw new RpcError("not_found", `VM ${id} has no disk ${name}`);
    const path = system ? core.diskPath(id) : `${core.vmPath(id)}/${disk!.file}`;
    const { virtualSizeBytes } = await diskInfo(path);
    const wanted = sizeGib * GIB;
    if (wanted < virtualSizeBytes) {
      throw new RpcError(
        "invalid_params",
        `disk ${name} of VM ${id} is ${virtualSizeBytes / GIB} GiB: a disk only grows ` +
          `(asked for ${sizeGib} GiB)`,
      );
    }
    if (wanted === virtualSizeBytes) return;
    await core.options.diskGuard?.require(core.options.vmDir, 0, `growing disk ${name} of ${id}`);
    // A disk grown but not recorded is only larger than the record says: the record follows
    // the next resize, and start-up repair never shrinks a disk.
    if (live) await core.options.hypervisor.resizeBlockLive(record.domain, name, wanted);
    else await growDisk(path, wanted);
    // The size is in the record, not the definition: no new definition needed.
    core.store.modify(
      id,
      system ? { ...record.spec, disk_gib: sizeGib } : {
        ...record.spec,
        data_disks: disks.map((item) => item.name === name ? { ...item, size_gib: sizeGib } : item),
      },
      record.loginPort,
    );
  }, { disk: name, size_gib: sizeGib });
  return await diskList(core, id);
}

/**
 * Detaches a data disk (unplugged from the guest first if it runs) and deletes its file; the
 * system disk stays.
 */
export async function diskDelete(
  core: VmCore,
  actor: string,
  id: string,
  name: string,
): Promise<VmDiskList> {
  await whileStoppedOrRunning(core, actor, "vm.disk_delete", id, "delete a disk of", async (
    record,
    live,
  ) => {
    if (name === systemDiskName(record)) {
      throw new RpcError("invalid_params", `${name} is VM ${id}'s system disk: delete the VM`);
    }
    const disks = record.spec.data_disks ?? [];
    const disk = disks.find((item) => item.name === name);
    if (!disk) throw new RpcError("not_found", `VM ${id} has no disk ${name}`);
    const path = `${core.vmPath(id)}/${disk.file}`;
    if (live) await core.options.hypervisor.detachDiskLive(record.domain, name);
    try {
      await redefine(core, record, {
        ...record.spec,
        data_disks: disks.filter((item) => item.name !== name),
      });
    } catch (error) {
      if (live) {
        await plugIn(core, record, { path, target: name }).catch((undo) =>
          core.log.error("cannot plug a data disk back after a failed delete", {
            id,
            disk: name,
            error: errorText(undo),
          })
        );
      }
      throw error;
    }
    // QEMU may hold the file open until the guest has let go of the device: removing it is safe
    // all the same (the space comes back when QEMU closes it).
    await Deno.remove(path).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }, { disk: name });
  return await diskList(core, id);
}

/** Plugs a data disk into the running guest: its `<disk>` element, as the definition has it. */
export async function plugIn(
  core: VmCore,
  record: VmRecord,
  disk: { path: string; target: string },
): Promise<void> {
  const xmlPath = `${core.vmPath(record.id)}/${VM_FILES.domainXml}.disk`;
  await Deno.writeTextFile(xmlPath, dataDiskElement(disk, record.os).xml, { mode: 0o600 });
  try {
    await core.options.hypervisor.attachLive(record.domain, xmlPath);
  } finally {
    await Deno.remove(xmlPath).catch(() => {});
  }
}

/**
 * Defines the VM with `spec`, then writes the record; the old definition is put back when the
 * record cannot be written.
 */
async function redefine(core: VmCore, record: VmRecord, spec: VmSpec): Promise<Vm> {
  const xmlPath = `${core.vmPath(record.id)}/${VM_FILES.domainXml}`;
  const nextXmlPath = `${xmlPath}.next`;
  await Deno.writeTextFile(nextXmlPath, core.domainXml({ ...record, spec }), { mode: 0o600 });
  try {
    await core.options.hypervisor.define(nextXmlPath);
  } catch (error) {
    await Deno.remove(nextXmlPath).catch(() => {});
    throw error;
  }
  let updated: VmRecord;
  try {
    updated = core.store.modify(record.id, spec, record.loginPort);
  } catch (error) {
    await core.options.hypervisor.define(xmlPath).catch((undo) =>
      core.log.error("cannot restore a VM's definition after a failed disk change", {
        id: record.id,
        error: errorText(undo),
      })
    );
    await Deno.remove(nextXmlPath).catch(() => {});
    throw error;
  }
  await Deno.rename(nextXmlPath, xmlPath).catch((error) =>
    core.log.warn("cannot keep the VM's new domain XML", { id: record.id, error: errorText(error) })
  );
  return core.view(updated);
}
