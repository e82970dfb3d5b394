/**
 * The crash test's invariants, pure: what the node's records say against
 * what is really there once the restart's repair is over. A record is live
 * unless its state is `deleted`. Each problem is named by a key, so one that
 * outlasts several runs counts once.
 *
 * - `orphan_domains`: a libvirt domain with the node's prefix that no live VM
 *   record names.
 * - `orphan_disks`: a VM directory (disk overlay, seed, console) in the VM
 *   directory, named like a VM id, that no live VM record owns.
 * - `orphan_containers`: an engine container labelled `dbc.node=<node id>`
 *   whose `dbc.instance` is no live container record.
 * - `lost_records`: a VM or container record that was in `node.db` at the kill
 *   (read right after it, before the restart) and is gone after the restart;
 *   a create the node answered (202, with the instance id) that has no record
 *   after the restart; or a live record that claims its domain or engine
 *   container (`running`, `stopped`, `expired`) while that is gone, instead of
 *   being marked `failed` (or `deleted`) with the reason.
 * - `leaked_gpus`: a GPU allocation held by an instance that has no record or
 *   whose record is deleted. (This machine has no GPU: a stand-in nvidia-smi
 *   reports one, so creates that ask for it allocate it in the table; a VM's
 *   passthrough then fails and its create is undone, a container keeps it
 *   (Podman accepts the device request and ignores it) until deleted. The
 *   allocation table is the ground truth of who holds a GPU.)
 * - `stuck_operations`: a live record still `creating` after the repair: a
 *   create that neither finished nor failed (nothing is fired before the
 *   check, so no create is under way).
 * - `lost_events`: an operation the node reported done (a 200, or a create's
 *   operation `done`) with no `ok` event for it in the event log after the
 *   restart.
 * - `mismatched_records`: a live VM whose domain runs while its record says
 *   stopped (or the reverse), whose persistent definition has other CPU cores
 *   or memory than its record, whose disk is smaller than its record says or
 *   cannot be read, or whose disk's snapshots differ from its snapshot
 *   records; a live container whose engine container runs while its record
 *   says stopped (or the reverse).
 */
import type { Acknowledged } from "./actions.ts";
import type { GroundTruth, NodeRecords } from "./ground_truth.ts";

export const FIGURES = [
  "orphan_domains",
  "orphan_disks",
  "orphan_containers",
  "lost_records",
  "leaked_gpus",
  "stuck_operations",
  "lost_events",
  "mismatched_records",
] as const;
export type Figure = typeof FIGURES[number];

/** One problem: which figure it counts in, a key naming it, and what was seen. */
export type Finding = { figure: Figure; key: string; detail: string };

const GIB = 1024 ** 3;
const VM_ID = /^vm-[a-z0-9]+$/;
/** States in which a record says its domain or engine container exists. */
const CLAIMS_PRESENCE = new Set(["running", "stopped", "expired"]);

export type CheckInput = {
  /** After the restart's repair. */
  truth: GroundTruth;
  /** Read right after the kill, before the restart. */
  atKill: NodeRecords;
  /** Instance ids of creates the node answered 202 for, this run. */
  createsAnswered: readonly string[];
  /** Operations reported done this run that have no `ok` event after the restart. */
  eventsMissing: readonly Acknowledged[];
};

export function checkInvariants(input: CheckInput): Finding[] {
  const { truth, atKill } = input;
  const { records } = truth;
  const findings: Finding[] = [];
  const found = (figure: Figure, key: string, detail: string) =>
    findings.push({ figure, key: `${figure}:${key}`, detail });

  const liveVms = records.vms.filter((vm) => vm.state !== "deleted");
  const liveContainers = records.containers.filter((container) => container.state !== "deleted");
  const ownedDomains = new Set(liveVms.map((vm) => vm.domain));
  const domains = new Map(truth.domains.map((domain) => [domain.name, domain]));

  for (const domain of truth.domains) {
    if (!ownedDomains.has(domain.name)) {
      found("orphan_domains", domain.name, `domain ${domain.name} has no live VM record`);
    }
  }
  const liveVmIds = new Set(liveVms.map((vm) => vm.id));
  for (const entry of truth.vmDirEntries) {
    if (VM_ID.test(entry) && !liveVmIds.has(entry)) {
      found("orphan_disks", entry, `VM directory ${entry} has no live VM record`);
    }
  }
  const liveContainerIds = new Set(liveContainers.map((container) => container.id));
  for (const container of truth.engineContainers) {
    if (!liveContainerIds.has(container.instance)) {
      found(
        "orphan_containers",
        container.name,
        `engine container ${container.name} (instance ${
          container.instance || "?"
        }) has no live record`,
      );
    }
  }

  const recordIds = new Set([...records.vms, ...records.containers].map((record) => record.id));
  for (const record of [...atKill.vms, ...atKill.containers]) {
    if (!recordIds.has(record.id)) {
      found("lost_records", record.id, `${record.id} was recorded at the kill, gone after`);
    }
  }
  for (const id of input.createsAnswered) {
    if (!recordIds.has(id)) {
      found("lost_records", id, `create of ${id} was answered 202; no record after the restart`);
    }
  }
  for (const vm of liveVms) {
    if (CLAIMS_PRESENCE.has(vm.state) && !domains.has(vm.domain)) {
      found("lost_records", vm.id, `VM ${vm.id} is ${vm.state} but domain ${vm.domain} is gone`);
    }
  }
  const engineByInstance = new Map(
    truth.engineContainers.map((container) => [container.instance, container]),
  );
  for (const container of liveContainers) {
    if (CLAIMS_PRESENCE.has(container.state) && !engineByInstance.has(container.id)) {
      found(
        "lost_records",
        container.id,
        `container ${container.id} is ${container.state} but its engine container is gone`,
      );
    }
  }

  const holders = new Map<string, string>();
  for (const vm of records.vms) holders.set(`vm:${vm.id}`, vm.state);
  for (const container of records.containers) {
    holders.set(`container:${container.id}`, container.state);
  }
  for (const allocation of records.gpuAllocations) {
    const state = holders.get(`${allocation.instanceKind}:${allocation.instanceId}`);
    if (state === undefined || state === "deleted") {
      found(
        "leaked_gpus",
        `${allocation.gpuUuid}:${allocation.instanceId}`,
        `GPU ${allocation.gpuUuid} held by ${allocation.instanceKind} ${allocation.instanceId}, ${
          state ?? "which has no record"
        }`,
      );
    }
  }

  for (const record of [...liveVms, ...liveContainers]) {
    if (record.state === "creating") {
      found("stuck_operations", record.id, `${record.id} is still creating after the repair`);
    }
  }

  for (const acknowledged of input.eventsMissing) {
    found(
      "lost_events",
      `${acknowledged.action}:${acknowledged.target}`,
      `${acknowledged.action} of ${acknowledged.target} was reported done; no ok event for it`,
    );
  }

  const snapshotsOf = new Map<string, string[]>();
  for (const snapshot of records.snapshots) {
    snapshotsOf.set(snapshot.vmId, [...(snapshotsOf.get(snapshot.vmId) ?? []), snapshot.name]);
  }
  for (const vm of liveVms) {
    const domain = domains.get(vm.domain);
    const facts = truth.vmFacts.get(vm.id);
    if (!domain || !facts) continue;
    const mismatch = (what: string) =>
      found("mismatched_records", `${vm.id}:${what}`, `VM ${vm.id} (${vm.state}): ${what}`);
    if (vm.state === "running" && !domain.active) mismatch("domain is off");
    if ((vm.state === "stopped" || vm.state === "expired") && domain.active) {
      mismatch("domain runs");
    }
    if (facts.vcpus !== vm.cpuCores) mismatch(`defined with ${facts.vcpus} CPU cores`);
    if (facts.memoryKib !== vm.memoryMib * 1024) {
      mismatch(`defined with ${facts.memoryKib} KiB of memory`);
    }
    if (facts.diskSnapshots === null || facts.diskBytes === null) {
      mismatch("disk unreadable");
      continue;
    }
    if (vm.diskGib !== null && facts.diskBytes < vm.diskGib * GIB) {
      mismatch(`disk of ${facts.diskBytes} bytes`);
    }
    const recorded = (snapshotsOf.get(vm.id) ?? []).sort().join(",");
    const inDisk = facts.diskSnapshots.join(",");
    if (recorded !== inDisk) mismatch(`snapshots [${recorded}] recorded, [${inDisk}] in the disk`);
  }
  for (const container of liveContainers) {
    const engine = engineByInstance.get(container.id);
    if (!engine) continue;
    if (container.state === "running" && !engine.running) {
      found("mismatched_records", `${container.id}:off`, `container ${container.id}: not running`);
    }
    if ((container.state === "stopped" || container.state === "expired") && engine.running) {
      found("mismatched_records", `${container.id}:runs`, `container ${container.id}: runs`);
    }
  }
  return findings;
}
