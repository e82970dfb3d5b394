/**
 * Snapshots of a VM's disk: take, restore and delete need the VM stopped and
 * work on its disk with qemu-img (disk.ts); listing works in any state.
 */
import { RpcError, type Vm, VM_LIMITS, type VmSnapshot } from "../../mod/mod.ts";
import {
  applyDiskSnapshot,
  createDiskSnapshot,
  deleteDiskSnapshot,
  diskInfo,
  growDisk,
} from "./disk.ts";
import type { VmCore } from "./vm_core.ts";

/** Takes an internal snapshot of a stopped VM's disk. */
export async function snapshotCreate(
  core: VmCore,
  actor: string,
  id: string,
  name: string,
  description: string,
): Promise<VmSnapshot> {
  return await core.whileStopped(
    actor,
    "vm.snapshot_create",
    id,
    "take a snapshot of",
    async (_record, detail) => {
      if (core.snapshots.get(id, name)) {
        throw new RpcError("conflict", `VM ${id} has a snapshot named ${name} already`);
      }
      const count = core.snapshots.count(id);
      if (count >= VM_LIMITS.maxSnapshotsPerVm) {
        throw new RpcError(
          "conflict",
          `VM ${id} has ${count} snapshots, the most it may have; delete one first`,
        );
      }
      await core.options.diskGuard?.require(core.options.vmDir, 0, `a snapshot of VM ${id}`);
      const disk = core.diskPath(id);
      const info = await diskInfo(disk);
      // Left by a take that was interrupted before its record was written; qemu-img would
      // otherwise keep two snapshots of one name, and restore the older.
      if (info.snapshots.includes(name)) {
        await deleteDiskSnapshot(disk, name);
        detail.replaced_unrecorded = true;
      }
      await createDiskSnapshot(disk, name);
      try {
        return core.snapshots.insert({
          vm_id: id,
          name,
          description,
          disk_bytes: info.virtualSizeBytes,
          created_at: core.options.now(),
          created_by: actor,
        });
      } catch (error) {
        await deleteDiskSnapshot(disk, name).catch(() => {});
        throw error;
      }
    },
    { name },
  );
}

/** A VM's snapshots, oldest first; in any state. */
export function snapshotList(core: VmCore, id: string): VmSnapshot[] {
  core.record(id);
  return core.snapshots.list(id);
}

export function snapshotGet(core: VmCore, id: string, name: string): VmSnapshot {
  core.record(id);
  return recordedSnapshot(core, id, name);
}

/**
 * Puts a stopped VM's disk back as the snapshot saw it. The VM keeps its
 * resources of now: CPU cores and memory are in its definition, which a
 * disk snapshot does not hold, and a disk grown since is grown again.
 */
export async function snapshotRevert(
  core: VmCore,
  actor: string,
  id: string,
  name: string,
): Promise<Vm> {
  return await core.whileStopped(
    actor,
    "vm.snapshot_revert",
    id,
    "restore a snapshot of",
    async (record, detail) => {
      recordedSnapshot(core, id, name);
      const disk = core.diskPath(id);
      const before = await diskInfo(disk);
      if (!before.snapshots.includes(name)) {
        throw new RpcError(
          "not_found",
          `snapshot ${name} is recorded but no longer in VM ${id}'s disk; delete it`,
        );
      }
      await applyDiskSnapshot(disk, name);
      // qcow2 puts back the snapshot's disk size as well.
      const after = await diskInfo(disk);
      if (after.virtualSizeBytes < before.virtualSizeBytes) {
        await growDisk(disk, before.virtualSizeBytes);
        detail.regrown_to_bytes = before.virtualSizeBytes;
      }
      return core.view(record);
    },
    { name },
  );
}

/** Deletes a stopped VM's snapshot (from its disk, then its record). */
export async function snapshotDelete(
  core: VmCore,
  actor: string,
  id: string,
  name: string,
): Promise<{ vm_id: string; name: string; deleted: true }> {
  return await core.whileStopped(
    actor,
    "vm.snapshot_delete",
    id,
    "delete a snapshot of",
    async (_record, detail) => {
      recordedSnapshot(core, id, name);
      try {
        await deleteDiskSnapshot(core.diskPath(id), name);
      } catch (error) {
        if (!(error instanceof RpcError && error.code === "not_found")) throw error;
        detail.disk = "already gone";
      }
      core.snapshots.delete(id, name);
      return { vm_id: id, name, deleted: true as const };
    },
    { name },
  );
}

function recordedSnapshot(core: VmCore, id: string, name: string): VmSnapshot {
  const snapshot = core.snapshots.get(id, name);
  if (!snapshot) throw new RpcError("not_found", `no snapshot ${name} of VM ${id}`);
  return snapshot;
}
