/**
 * Start-up repair: a crash half-way through a create, a modify or a snapshot
 * is set right at the next start, when `reconcileVms` makes libvirt, the
 * VM's files and its disk agree with the record. What differs is worked out
 * by pure functions (reconcile.ts, repair_plan.ts); this applies it.
 */
import type { DomainState } from "./libvirt/mod.ts";
import { reconcile, type ReconcileFinding } from "./reconcile.ts";
import { VM_FILES } from "./constants.ts";
import { deleteDiskSnapshot, type DiskInfo, diskInfo, growDisk } from "./disk.ts";
import {
  planVmRepairs,
  unownedDirectories,
  type VmReconcileNote,
  type VmRepair,
  type VmRepairInput,
} from "./repair_plan.ts";
import type { VmCore } from "./vm_core.ts";
import { errorText, GIB } from "./vm_helpers.ts";
import { type DataDiskRepair, repairDataDisks } from "./data_disk_repair.ts";

/** What start-up reconciliation found, repaired, or could not check. */
export type ReconcileReport = ReconcileFinding | VmRepair | VmReconcileNote | DataDiskRepair;

/**
 * Start-up reconciliation: brings the records' states up to date with
 * libvirt (reconcile.ts), undoes the creates a restart cut short, then makes
 * each VM's definition, files and disk agree with its record (repair_plan.ts).
 * Every finding and repair goes to the event log (`vm.reconcile`, actor
 * `node`). Each VM is repaired in its own queue, so a request for it that
 * arrives meanwhile waits. Throws when libvirt does not answer at all.
 */
export async function reconcileVms(core: VmCore): Promise<ReconcileReport[]> {
  const domains = await core.options.hypervisor.list();
  const findings = reconcile(
    core.store.list({ includeDeleted: false }).filter((record) => !core.creating.has(record.id)),
    domains,
    core.options.domainPrefix,
  );
  for (const finding of findings) {
    switch (finding.kind) {
      case "vanished":
        core.store.setState(
          finding.id,
          finding.to,
          `domain ${finding.domain} vanished from libvirt (found at start-up); delete the VM to free its resources`,
        );
        break;
      case "state_changed":
        core.store.setState(finding.id, finding.to);
        break;
      case "interrupted":
        // The renter never heard of this VM: it goes as a failed create goes, GPUs released.
        await core.queued(
          finding.id,
          () =>
            core.undoCreate(
              finding.id,
              finding.domain,
              finding.observed !== null,
              new Error(
                "creation was interrupted by a node restart; what it had made is removed",
              ),
            ),
        );
        break;
      case "appeared":
        break;
    }
    core.options.events.record({
      actor: "node",
      action: "vm.reconcile",
      target: "id" in finding ? finding.id : finding.domain,
      result: finding.kind === "vanished" || finding.kind === "interrupted" ? "error" : "ok",
      detail: { ...finding },
    });
  }
  const report: ReconcileReport[] = [...findings];
  for (const record of core.store.list({ includeDeleted: false })) {
    if (record.state === "creating") continue;
    report.push(
      ...await core.queued(record.id, async () => [
        ...await repairVm(core, record.id),
        // A running guest's data disks after a change cut short (data_disk_repair.ts).
        ...await repairDataDisks(core, record.id),
      ]),
    );
  }
  for (const name of await unownedVmDirectories(core)) {
    const note: VmReconcileNote = { kind: "unowned_directory", path: core.vmPath(name) };
    report.push(note);
    reconcileEvent(core, note.path, "ok", note);
  }
  core.log.info("reconciled VMs with libvirt", {
    records: core.store.list({ includeDeleted: false }).length,
    domains: domains.length,
    findings: findings.length,
    repairs_and_notes: report.length - findings.length,
  });
  return report;
}

/** Makes one VM's definition, files and disk agree with its record; returns what it did. */
async function repairVm(core: VmCore, id: string): Promise<ReconcileReport[]> {
  const record = core.store.get(id);
  if (!record || record.state === "deleted" || record.state === "creating") return [];
  const report: ReconcileReport[] = [];
  const unchecked = (what: "domain" | "definition" | "disk", error: unknown) => {
    const note: VmReconcileNote = { kind: "unchecked", id, what, error: errorText(error) };
    report.push(note);
    reconcileEvent(core, id, "error", note);
    core.log.warn("cannot check a VM against its record", { id, what, error: note.error });
  };
  let domainState: DomainState | undefined;
  let definedXml: string | undefined;
  try {
    domainState = await core.options.hypervisor.state(record.domain);
    if (domainState !== undefined) {
      definedXml = await core.options.hypervisor.definition(record.domain);
    }
  } catch (error) {
    // Without the domain's state, not even the disk is known to be safe to write.
    unchecked("domain", error);
    return report;
  }
  let wantedXml: string | undefined;
  try {
    wantedXml = core.domainXml(record);
  } catch (error) {
    unchecked("definition", error);
  }
  const repairs = planVmRepairs({
    id,
    domainState,
    wantedXml,
    definedXml,
    files: await vmFiles(core, id, (error) => unchecked("disk", error)),
    recordDiskBytes: record.spec.disk_gib === null ? null : record.spec.disk_gib * GIB,
    snapshotRecords: core.snapshots.list(id).map((snapshot) => snapshot.name),
  });
  for (const repair of repairs) {
    try {
      await applyRepair(core, repair, wantedXml);
      report.push(repair);
      reconcileEvent(core, id, "ok", repair);
      core.log.info("repaired a VM after a restart", { ...repair });
    } catch (error) {
      const note: VmReconcileNote = {
        kind: "repair_failed",
        id,
        repair,
        error: errorText(error),
      };
      report.push(note);
      reconcileEvent(core, id, "error", { ...repair, error: note.error });
      core.log.error("cannot repair a VM after a restart", { ...repair, error: note.error });
    }
  }
  return report;
}

/** What is in a VM's directory; `undefined` when the directory is gone. */
async function vmFiles(
  core: VmCore,
  id: string,
  diskUnreadable: (error: unknown) => void,
): Promise<VmRepairInput["files"]> {
  const xmlPath = `${core.vmPath(id)}/${VM_FILES.domainXml}`;
  if (!await pathExists(core.vmPath(id))) return undefined;
  const xmlCopy = await Deno.readTextFile(xmlPath).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
  let disk: DiskInfo | undefined;
  if (await pathExists(core.diskPath(id))) {
    try {
      disk = await diskInfo(core.diskPath(id));
    } catch (error) {
      diskUnreadable(error);
    }
  } else {
    diskUnreadable(new Error(`${core.diskPath(id)} is missing`));
  }
  return { xmlCopy, nextXml: await pathExists(`${xmlPath}.next`), disk };
}

async function applyRepair(
  core: VmCore,
  repair: VmRepair,
  wantedXml: string | undefined,
): Promise<void> {
  const xmlPath = `${core.vmPath(repair.id)}/${VM_FILES.domainXml}`;
  const wanted = () => {
    if (wantedXml === undefined) throw new Error("no definition made from the record");
    return wantedXml;
  };
  switch (repair.kind) {
    case "definition_replaced":
      // The copy first: a crash before the define leaves a copy that is right, and a
      // definition that the next start still finds wrong.
      await Deno.writeTextFile(xmlPath, wanted(), { mode: 0o600 });
      await core.options.hypervisor.define(xmlPath);
      return;
    case "xml_copy_rewritten":
      await Deno.writeTextFile(xmlPath, wanted(), { mode: 0o600 });
      return;
    case "next_xml_removed":
      await Deno.remove(`${xmlPath}.next`).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
      return;
    case "disk_regrown":
      await growDisk(core.diskPath(repair.id), repair.to_bytes);
      return;
    case "snapshot_record_dropped":
      core.snapshots.delete(repair.id, repair.name);
      return;
    case "snapshot_orphan_deleted":
      await deleteDiskSnapshot(core.diskPath(repair.id), repair.name);
      return;
  }
}

/** Directories in the VM directory that no record owns. */
async function unownedVmDirectories(core: VmCore): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(core.options.vmDir)) {
    if (entry.isDirectory) names.push(entry.name);
  }
  const ids = new Set(core.store.list({ includeDeleted: true }).map((record) => record.id));
  return unownedDirectories(names, ids);
}

function reconcileEvent(
  core: VmCore,
  target: string,
  result: "ok" | "error",
  detail: Record<string, unknown>,
): void {
  core.options.events.record({ actor: "node", action: "vm.reconcile", target, result, detail });
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
