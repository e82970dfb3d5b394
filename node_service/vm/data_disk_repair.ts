/**
 * Start-up repair of a VM's data disks against its record, for what a node
 * killed half-way through a data disk change of a running guest leaves
 * (data_disks.ts): a disk plugged into the running guest but never recorded
 * (killed before the record) is unplugged and its file removed; a recorded
 * disk the running guest lacks (killed after unplugging, before the record)
 * is plugged back in; a data disk file that no record names and no guest
 * holds (killed after making it) is removed. The persistent definition is
 * repair.ts's (it defines the record's). The plan is pure; the VM service
 * reads libvirt and the VM's directory, and applies it.
 */
import { isActive } from "./libvirt/mod.ts";
import { plugIn } from "./data_disks.ts";
import type { VmCore } from "./vm_core.ts";
import { errorText } from "./vm_helpers.ts";

/** The name data_disks.ts gives a data disk's file; nothing else in a VM's directory is one. */
const DATA_DISK_FILE = /^data-((?:vd|sd)[a-z])\.qcow2$/;

export type DataDiskRepair =
  /** Plugged into the running guest, in no record: unplugged. */
  | { kind: "data_disk_unplugged"; id: string; disk: string }
  /** In the record, missing from the running guest: plugged back in. */
  | { kind: "data_disk_plugged"; id: string; disk: string }
  /** A data disk file no record names and no guest holds: removed. */
  | { kind: "data_file_removed"; id: string; file: string };

export type DataDiskRepairInput = {
  id: string;
  vmDir: string;
  /** Whether the domain runs now (only a running guest's devices are changed live). */
  running: boolean;
  recorded: readonly { name: string; file: string }[];
  /** The running guest's disks (`virsh domblklist`); empty when it does not run. */
  live: readonly { target: string; source: string }[];
  /** The names of the files in the VM's directory. */
  files: readonly string[];
};

export function planDataDiskRepairs(input: DataDiskRepairInput): DataDiskRepair[] {
  const repairs: DataDiskRepair[] = [];
  const recordedFiles = new Set(input.recorded.map((disk) => disk.file));
  const liveData = input.running
    ? input.live.filter((disk) => {
      const file = disk.source.slice(input.vmDir.length + 1);
      return disk.source.startsWith(`${input.vmDir}/`) && DATA_DISK_FILE.test(file);
    })
    : [];
  const liveTargets = new Set(liveData.map((disk) => disk.target));
  for (const disk of liveData) {
    const file = disk.source.slice(input.vmDir.length + 1);
    if (!recordedFiles.has(file)) {
      repairs.push({ kind: "data_disk_unplugged", id: input.id, disk: disk.target });
    }
  }
  if (input.running) {
    for (const disk of input.recorded) {
      if (!liveTargets.has(disk.name) && input.files.includes(disk.file)) {
        repairs.push({ kind: "data_disk_plugged", id: input.id, disk: disk.name });
      }
    }
  }
  for (const file of [...input.files].sort()) {
    // A file unplugged above is no longer held once the repair has run.
    if (DATA_DISK_FILE.test(file) && !recordedFiles.has(file)) {
      repairs.push({ kind: "data_file_removed", id: input.id, file });
    }
  }
  return repairs;
}

/** Plans and applies one VM's data disk repairs; each is logged (`vm.reconcile`). */
export async function repairDataDisks(core: VmCore, id: string): Promise<DataDiskRepair[]> {
  const record = core.store.get(id);
  if (!record || record.state === "deleted" || record.state === "creating") return [];
  const vmDir = core.vmPath(id);
  let input: DataDiskRepairInput;
  try {
    const state = await core.options.hypervisor.state(record.domain);
    const running = state !== undefined && isActive(state);
    const details = running ? await core.options.hypervisor.details(record.domain) : undefined;
    const files: string[] = [];
    for await (const entry of Deno.readDir(vmDir)) if (entry.isFile) files.push(entry.name);
    input = {
      id,
      vmDir,
      running: details !== undefined,
      recorded: record.spec.data_disks ?? [],
      live: details?.disks ?? [],
      files,
    };
  } catch (error) {
    // A directory not there (a volume not mounted) or libvirt not answering: nothing is known.
    if (!(error instanceof Deno.errors.NotFound)) {
      core.log.warn("cannot check a VM's data disks", { id, error: errorText(error) });
    }
    return [];
  }
  const done: DataDiskRepair[] = [];
  for (const repair of planDataDiskRepairs(input)) {
    try {
      switch (repair.kind) {
        case "data_disk_unplugged":
          await core.options.hypervisor.detachDiskLive(record.domain, repair.disk);
          break;
        case "data_disk_plugged": {
          const disk = input.recorded.find((item) => item.name === repair.disk)!;
          await plugIn(core, record, { path: `${vmDir}/${disk.file}`, target: disk.name });
          break;
        }
        case "data_file_removed":
          await Deno.remove(`${vmDir}/${repair.file}`);
          break;
      }
      done.push(repair);
      event(core, id, "ok", repair);
    } catch (error) {
      event(core, id, "error", { ...repair, error: errorText(error) });
      core.log.error("cannot repair a VM's data disks", { ...repair, error: errorText(error) });
    }
  }
  return done;
}

function event(
  core: VmCore,
  target: string,
  result: "ok" | "error",
  detail: Record<string, unknown>,
): void {
  core.options.events.record({ actor: "node", action: "vm.reconcile", target, result, detail });
}
