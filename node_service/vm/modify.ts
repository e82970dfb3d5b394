/**
 * Modify: new CPU cores, memory, disk size, login, VNC or custom ports of a stopped VM
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
 * New CPU cores, memory, disk size (grow only), login port, VNC port or
 * custom forwards of a stopped VM (host ports checked as at create). Checked in full before anything changes; then the new definition,
 * the disk, and the record, each step undone when a later one fails.
 */
export async function modify(core: VmCore, request: VmModifyRequest): Promise<Vm> {
  const { actor, id, ...wanted } = request;
  // The operator's range (vm_port_range) for every host port named, as at create.
  requireLoginPortInRange(wanted.login_port, core.options.loginPorts);
  requireLoginPortInRange(wanted.vnc_port, core.options.loginPorts, "VNC");
  for (const forward of wanted.custom_ports ?? []) {
    requireLoginPortInRange(
      forward.host_port,
      core.options.loginPorts,
      `custom ${forward.protocol}`,
    );
  }
  return await core.whileStopped(actor, "vm.modify", id, "modify", async (record, detail) => {
    const disk = core.diskPath(id);
    const { virtualSizeBytes } = await diskInfo(disk);
    const portChanges = (wanted.login_port !== undefined && record.loginPort !== null &&
      wanted.login_port !== record.loginPort) ||
      (wanted.vnc_port !== undefined && wanted.vnc_port !== record.vncPort) ||
      wanted.custom_ports !== undefined;
    const hostPorts = portChanges ? await core.options.listeningPorts() : new Set<PortKey>();
    // Every host port of other VMs: this VM's own may move among its own forwards.
    const otherVms = core.store.loginPortsInUse();
    for (
      const port of [
        record.loginPort,
        record.vncPort,
        ...(record.spec.custom_ports ?? []).map((forward) => forward.host_port),
      ]
    ) {
      if (port !== null) otherVms.delete(port);
    }
    const plan = planModify(
      {
        state: record.state,
        spec: record.spec,
        loginPort: record.loginPort,
        vncPort: record.vncPort,
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
    const xml = core.domainXml({
      ...record,
      spec: plan.spec,
      loginPort: plan.loginPort,
      vncPort: plan.vncPort,
    });
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
      updated = core.store.modify(id, plan.spec, plan.loginPort, plan.vncPort);
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
