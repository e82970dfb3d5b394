/**
 * Modify: new CPU cores, memory, disk size or login port of a stopped VM
 * (modify_plan.ts, the pure part, says why stopped). Checked in full first,
 * then applied in the order that can be undone: the new definition (the old
 * one is put back when a later step fails), the disk grown (never shrunk),
 * and the record last, so a failure half-way leaves the VM as it was (but
 * for a disk already grown, which stays so).
 */
import type { Vm, VmModifyRequest } from "../../mod/mod.ts";
import type { PortKey } from "../host/mod.ts";
import { VM_FILES } from "./constants.ts";
import { diskInfo, growDisk } from "./disk.ts";
import { planModify, requireLoginPortInRange } from "./modify_plan.ts";
import type { VmRecord } from "./store.ts";
import type { VmCore } from "./vm_core.ts";
import { errorText } from "./vm_helpers.ts";

/**
 * New CPU cores, memory, disk size (grow only) or login port of a stopped
 * VM. Checked in full before anything changes; then the new definition,
 * the disk, and the record, each step undone when a later one fails.
 */
export async function modify(core: VmCore, request: VmModifyRequest): Promise<Vm> {
  const { actor, id, ...wanted } = request;
  requireLoginPortInRange(wanted.login_port, core.options.loginPorts);
  return await core.whileStopped(actor, "vm.modify", id, "modify", async (record, detail) => {
    const disk = core.diskPath(id);
    const { virtualSizeBytes } = await diskInfo(disk);
    const portChanges = wanted.login_port !== undefined && wanted.login_port !== record.loginPort;
    const hostPorts = portChanges && record.loginPort !== null
      ? await core.options.listeningPorts()
      : new Set<PortKey>();
    const otherVms = core.store.loginPortsInUse();
    if (record.loginPort !== null) otherVms.delete(record.loginPort);
    const plan = planModify(
      {
        state: record.state,
        spec: record.spec,
        loginPort: record.loginPort,
        diskBytes: virtualSizeBytes,
      },
      wanted,
      { otherVms, host: hostPorts },
    );
    detail.changes = plan.changes;
    if (Object.keys(plan.changes).length === 0) return core.view(record);
    if (plan.growDiskTo !== undefined) {
      await core.options.diskGuard?.require(core.options.vmDir, 0, `growing VM ${id}'s disk`);
    }

    const xmlPath = `${core.vmPath(id)}/${VM_FILES.domainXml}`;
    const nextXmlPath = `${xmlPath}.next`;
    const xml = core.domainXml({ ...record, spec: plan.spec, loginPort: plan.loginPort });
    await Deno.writeTextFile(nextXmlPath, xml, { mode: 0o600 });
    try {
      await core.options.hypervisor.define(nextXmlPath);
    } catch (error) {
      await Deno.remove(nextXmlPath).catch(() => {});
      throw error;
    }
    let updated: VmRecord;
    try {
      if (plan.growDiskTo !== undefined) await growDisk(disk, plan.growDiskTo);
      // The unique index refuses a login port that a create took meanwhile.
      updated = core.store.modify(id, plan.spec, plan.loginPort);
    } catch (error) {
      // domain.xml still holds the definition from before: put it back. A disk already grown
      // stays so (harmless: the guest sees more room, and the next modify measures the disk).
      await core.options.hypervisor.define(xmlPath).catch((undo) => {
        detail.undo_error = errorText(undo);
        core.log.error("cannot restore a VM's definition after a failed modify", {
          id,
          error: errorText(undo),
        });
      });
      await Deno.remove(nextXmlPath).catch(() => {});
      throw error;
    }
    // Only a copy of what libvirt now holds; a failure here must not fail a modify that is done.
    await Deno.rename(nextXmlPath, xmlPath).catch((error) =>
      core.log.warn("cannot keep the VM's new domain XML", { id, error: errorText(error) })
    );
    return core.view(updated);
  }, { ...wanted });
}
