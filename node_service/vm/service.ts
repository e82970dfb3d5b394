/**
 * The VM service: turns typed requests into VMs and back. Create runs
 * validate request -> check images -> allocate GPUs -> seed disk (Linux:
 * the login user, keys and password for cloud-init) -> qcow2 overlay ->
 * domain XML -> define (libvirt validates the XML against its schema) ->
 * start; a failure at any step undoes the steps before it. Every operation,
 * whatever its outcome, goes to the event log (a password never does).
 *
 * Operations on one VM run one at a time (a per-VM queue), so a stop and a
 * delete of the same VM never interleave.
 *
 * Modify and snapshots (take, restore, delete) need the VM stopped
 * (modify_plan.ts says why) and work on its disk with qemu-img (disk.ts);
 * listing snapshots works in any state. A modify is checked in full first,
 * then applied in the order that can be undone: the new definition (the old
 * one is put back when a later step fails), the disk grown (never shrunk),
 * and the record last, so a failure half-way leaves the VM as it was (but
 * for a disk already grown, which stays so). A crash half-way through any
 * of these (or a create) is set right at the next start: `reconcile` makes
 * libvirt, the VM's files and its disk agree with the record (repair.ts).
 */
import type {
  InstanceUsage,
  Vm,
  VmCreateRequest,
  VmDetail,
  VmModifyRequest,
  VmSnapshot,
} from "../../mod/mod.ts";
import type { InstanceDriver } from "../instances.ts";
import type { VmSnapshotStore } from "./snapshot_store.ts";
import type { VmStore } from "./store.ts";
import { create } from "./create.ts";
import * as lifecycle from "./lifecycle.ts";
import { modify } from "./modify.ts";
import * as dataDisks from "./data_disks.ts";
import { passwd } from "./passwd.ts";
import { type ReconcileReport, reconcileVms } from "./repair.ts";
import * as snapshots from "./snapshots.ts";
import { type StopOptions, VmCore, type VmServiceOptions } from "./vm_core.ts";

export type { ReconcileReport, StopOptions, VmServiceOptions };
export { newVmId } from "./create.ts";
export { toRpcError } from "./vm_helpers.ts";

/**
 * The VM service's public face; each part of it lives in a module of its own
 * (create.ts, lifecycle.ts, snapshots.ts, modify.ts, repair.ts) over the
 * machinery they share (vm_core.ts).
 */
export class VmService implements InstanceDriver {
  readonly kind = "vm" as const;
  readonly store: VmStore;
  readonly snapshots: VmSnapshotStore;
  readonly #core: VmCore;

  constructor(options: VmServiceOptions) {
    this.#core = new VmCore(options);
    this.store = this.#core.store;
    this.snapshots = this.#core.snapshots;
  }

  /** Creates (and by default starts) a VM; resolves once libvirt reports it running. */
  async create(request: VmCreateRequest): Promise<Vm> {
    try {
      return await create(this.#core, request);
    } finally {
      // A create refused before its record was written answers its waiters too.
      if (request.id !== undefined) this.#core.recordWaiters.settle(request.id);
    }
  }

  /** True once the create of `id` has written its record; false when it ended without one. */
  whenRecorded(id: string): Promise<boolean> {
    return this.#core.recordWaiters.when(id);
  }

  /** Starts a stopped VM; a running one is left as it is. */
  start(actor: string, id: string): Promise<Vm> {
    return lifecycle.start(this.#core, actor, id);
  }

  /** ACPI power-off, forced when the guest has not gone off after the time-out (or at once with `force`). */
  stop(actor: string, id: string, options: StopOptions = { force: false }): Promise<Vm> {
    return lifecycle.stop(this.#core, actor, id, options);
  }

  /**
   * ACPI only, never forced, answered once the guest was asked (the original's shutdown); the
   * outcome goes to the event log (`vm.shutdown_outcome`) within `watchMs`.
   */
  shutdown(actor: string, id: string, watchMs?: number): Promise<Vm> {
    return lifecycle.shutdown(this.#core, actor, id, watchMs);
  }

  /** Stops the watches under way (a shutdown's); call before the database closes. */
  close(): Promise<void> {
    return this.#core.close();
  }

  /** Reboots a running guest (ACPI); starts a stopped one. */
  restart(actor: string, id: string): Promise<Vm> {
    return lifecycle.restart(this.#core, actor, id);
  }

  /** Hard reset of a running guest; starts a stopped one. */
  reset(actor: string, id: string): Promise<Vm> {
    return lifecycle.reset(this.#core, actor, id);
  }

  /** Lease over: powered off (ACPI, then forced) and kept, disk and GPUs included. */
  expire(actor: string, id: string): Promise<Vm> {
    return lifecycle.expire(this.#core, actor, id);
  }

  /** Lease renewed within the retention period: started again. */
  renew(actor: string, id: string): Promise<Vm> {
    return lifecycle.renew(this.#core, actor, id);
  }

  /**
   * Powers off, undefines, removes the VM's disk and files (unless
   * `keepData`, which keeps its directory), releases its GPUs; keeps the
   * record as `deleted`.
   */
  delete(actor: string, id: string, options = { keepData: false }): Promise<Vm> {
    return lifecycle.deleteVm(this.#core, actor, id, options);
  }

  /** {@link InstanceDriver}: deletion by another name. */
  remove(actor: string, id: string, options: { keepData: boolean }): Promise<Vm> {
    return this.delete(actor, id, options);
  }

  /** {@link InstanceDriver}: every VM that is not deleted, as its record says. */
  summaries(): Vm[] {
    return lifecycle.summaries(this.#core);
  }

  /** The record with what libvirt says about the domain now. */
  get(id: string): Promise<VmDetail> {
    return lifecycle.get(this.#core, id);
  }

  /** Every VM; records are brought up to date with one `virsh list` first (when libvirt answers). */
  list(options: { includeDeleted: boolean }): Promise<Vm[]> {
    return lifecycle.list(this.#core, options);
  }

  /** The guest's console output (its serial port), head or tail. */
  logs(
    id: string,
    from: "head" | "tail",
    lines: number,
  ): Promise<{ lines: string[]; truncated: boolean }> {
    return lifecycle.logs(this.#core, id, from, lines);
  }

  /** A running VM's CPU, memory, network and disk counters now. */
  usage(id: string): Promise<InstanceUsage> {
    return lifecycle.usage(this.#core, id);
  }

  /**
   * New CPU cores, memory, disk size (grow only) or login port of a stopped
   * VM. Checked in full before anything changes; then the new definition,
   * the disk, and the record, each step undone when a later one fails.
   */
  modify(request: VmModifyRequest): Promise<Vm> {
    return modify(this.#core, request);
  }

  /** Takes an internal snapshot of a stopped VM's disk. */
  snapshotCreate(
    actor: string,
    id: string,
    name: string,
    description: string,
  ): Promise<VmSnapshot> {
    return snapshots.snapshotCreate(this.#core, actor, id, name, description);
  }

  /** A VM's snapshots, oldest first; in any state. */
  snapshotList(id: string): VmSnapshot[] {
    return snapshots.snapshotList(this.#core, id);
  }

  snapshotGet(id: string, name: string): VmSnapshot {
    return snapshots.snapshotGet(this.#core, id, name);
  }

  /**
   * Puts a stopped VM's disk back as the snapshot saw it. The VM keeps its
   * resources of now: CPU cores and memory are in its definition, which a
   * disk snapshot does not hold, and a disk grown since is grown again.
   */
  snapshotRevert(actor: string, id: string, name: string): Promise<Vm> {
    return snapshots.snapshotRevert(this.#core, actor, id, name);
  }

  /** Deletes a stopped VM's snapshot (from its disk, then its record). */
  snapshotDelete(
    actor: string,
    id: string,
    name: string,
  ): Promise<{ vm_id: string; name: string; deleted: true }> {
    return snapshots.snapshotDelete(this.#core, actor, id, name);
  }

  /** The VM's disks, the system disk first. */
  diskList(id: string): Promise<dataDisks.VmDiskList> {
    return dataDisks.diskList(this.#core, id);
  }

  /** Adds an empty data disk to a stopped VM. */
  diskAdd(actor: string, id: string, sizeGib: number): Promise<dataDisks.VmDiskList> {
    return dataDisks.diskAdd(this.#core, actor, id, sizeGib);
  }

  /** Grows a disk of a stopped VM; a smaller size is refused. */
  diskResize(
    actor: string,
    id: string,
    name: string,
    sizeGib: number,
  ): Promise<dataDisks.VmDiskList> {
    return dataDisks.diskResize(this.#core, actor, id, name, sizeGib);
  }

  /** Detaches and deletes a data disk of a stopped VM. */
  diskDelete(actor: string, id: string, name: string): Promise<dataDisks.VmDiskList> {
    return dataDisks.diskDelete(this.#core, actor, id, name);
  }

  /** A running guest's login password, through its guest agent. */
  passwd(actor: string, id: string, user: string | undefined, password: string): Promise<Vm> {
    return passwd(this.#core, actor, id, user, password);
  }

  /**
   * Start-up reconciliation: brings the records' states up to date with
   * libvirt (reconcile.ts), undoes the creates a restart cut short, then makes
   * each VM's definition, files and disk agree with its record (repair_plan.ts).
   * Every finding and repair goes to the event log (`vm.reconcile`, actor
   * `node`). Each VM is repaired in its own queue, so a request for it that
   * arrives meanwhile waits. Throws when libvirt does not answer at all.
   */
  reconcile(): Promise<ReconcileReport[]> {
    return reconcileVms(this.#core);
  }
}
