/**
 * Start-up reconciliation of one VM's definition and disk with its record
 * (pure: the VM service reads libvirt, the files and qemu-img, and applies
 * the plan). The record is the truth: it is what the renter was told. A node
 * that dies half-way through an operation leaves the rest ahead of or behind
 * it, and each repair undoes one such half:
 *
 * - modify defines the new domain XML (`domain.xml.next`), grows the disk,
 *   then writes the record: a crash in between leaves libvirt's definition
 *   ahead of the record, and a stale `domain.xml.next`;
 * - a crash after the record but before `domain.xml.next` replaces
 *   `domain.xml` leaves the node's copy behind (and modify's undo defines
 *   that copy, so it must be right);
 * - a snapshot is taken in the disk before its record is written, and
 *   deleted from the disk before its record is: a snapshot nobody was told
 *   of is deleted, a record whose snapshot is gone is dropped;
 * - a restore puts back the snapshot's disk size before growing the disk
 *   again: a disk smaller than the record says is grown.
 *
 * Nothing here restarts a guest. Redefining a running domain changes only
 * its next start; the disk of a running one is QEMU's (qemu-img cannot
 * write it), so its disk repairs wait for a start of the node that finds the
 * VM off. A disk whose snapshots are unknown (missing, unreadable) is left
 * alone, snapshot records included: a disk not found may be a volume not
 * mounted yet.
 */
import { InstanceIdSchema } from "../../mod/mod.ts";
import { type DomainFacts, type DomainState, isActive, readDomainFacts } from "./libvirt/mod.ts";
import type { DiskInfo } from "./disk.ts";

export type VmRepairInput = {
  id: string;
  /** libvirt's state of the VM's domain; `undefined` when the domain is gone. */
  domainState: DomainState | undefined;
  /**
   * The domain XML made from the record, as create and modify make it;
   * `undefined` when it cannot be made (an image it names is gone).
   */
  wantedXml: string | undefined;
  /** libvirt's persistent definition (`virsh dumpxml --inactive`); `undefined` without a domain. */
  definedXml: string | undefined;
  /** What is in the VM's directory; `undefined` when the directory is gone. */
  files:
    | {
      /** The node's copy of the definition (`domain.xml`); `undefined` when missing. */
      xmlCopy: string | undefined;
      /** Whether a modify's `domain.xml.next` is there. */
      nextXml: boolean;
      /** The disk's header; `undefined` when missing or unreadable. */
      disk: DiskInfo | undefined;
    }
    | undefined;
  /** The disk size the record says; `null`: the image's own. */
  recordDiskBytes: number | null;
  /** Names of the VM's snapshot records. */
  snapshotRecords: readonly string[];
};

/** A resource as libvirt's definition and the record's have it. */
export type DefinitionDifference = {
  libvirt: string | number | null;
  record: string | number | null;
};

export type VmRepair =
  /** libvirt's definition is not the record's: the record's is written to domain.xml and defined. */
  | {
    kind: "definition_replaced";
    id: string;
    differences: Partial<Record<DefinitionField, DefinitionDifference>>;
  }
  /** libvirt's definition is right, the node's copy (domain.xml) is not: it is written again. */
  | { kind: "xml_copy_rewritten"; id: string }
  /** A modify's next definition, left by a crash: removed. */
  | { kind: "next_xml_removed"; id: string }
  /** The disk is smaller than the record says (a restore cut short): grown. */
  | { kind: "disk_regrown"; id: string; from_bytes: number; to_bytes: number }
  /** A snapshot record whose snapshot is not in the disk: dropped. */
  | { kind: "snapshot_record_dropped"; id: string; name: string }
  /** A snapshot in the disk that no record has (never acknowledged): deleted from the disk. */
  | { kind: "snapshot_orphan_deleted"; id: string; name: string };

/** What reconciliation reports besides repairs; nothing was changed for these. */
export type VmReconcileNote =
  /** Something of the VM could not be read, so what depends on it was not checked. */
  | { kind: "unchecked"; id: string; what: "domain" | "definition" | "disk"; error: string }
  | { kind: "repair_failed"; id: string; repair: VmRepair; error: string }
  /** A directory in the VM directory that no record owns (see {@link unownedDirectories}). */
  | { kind: "unowned_directory"; path: string };

type DefinitionField = "spec_digest" | "cpu_cores" | "memory_kib" | "login_port";

const FACT_FIELDS: Record<DefinitionField, keyof DomainFacts> = {
  spec_digest: "specDigest",
  cpu_cores: "vcpus",
  memory_kib: "memoryKib",
  login_port: "loginPort",
};

/** The repairs one VM needs, in the order they are to be applied; empty when it is consistent. */
export function planVmRepairs(input: VmRepairInput): VmRepair[] {
  const { id } = input;
  const repairs: VmRepair[] = [];
  const differences = input.wantedXml !== undefined && input.definedXml !== undefined
    ? definitionDifferences(readDomainFacts(input.definedXml), readDomainFacts(input.wantedXml))
    : {};
  const files = input.files;
  if (Object.keys(differences).length > 0) {
    repairs.push({ kind: "definition_replaced", id, differences });
  } else if (
    files !== undefined && input.wantedXml !== undefined && files.xmlCopy !== input.wantedXml
  ) {
    repairs.push({ kind: "xml_copy_rewritten", id });
  }
  if (files === undefined) return repairs;
  if (files.nextXml) repairs.push({ kind: "next_xml_removed", id });

  const disk = files.disk;
  if (disk === undefined) return repairs;
  // The disk of a running guest is QEMU's; reading its header is safe, writing it is not.
  const writable = input.domainState === undefined || !isActive(input.domainState);
  if (
    writable && input.recordDiskBytes !== null && disk.virtualSizeBytes < input.recordDiskBytes
  ) {
    repairs.push({
      kind: "disk_regrown",
      id,
      from_bytes: disk.virtualSizeBytes,
      to_bytes: input.recordDiskBytes,
    });
  }
  const inDisk = new Set(disk.snapshots);
  for (const name of input.snapshotRecords) {
    if (!inDisk.has(name)) repairs.push({ kind: "snapshot_record_dropped", id, name });
  }
  if (writable) {
    const recorded = new Set(input.snapshotRecords);
    // One repair per copy: qcow2 allows two snapshots of one name, and deletes one at a time.
    for (const name of disk.snapshots) {
      if (!recorded.has(name)) repairs.push({ kind: "snapshot_orphan_deleted", id, name });
    }
  }
  return repairs;
}

function definitionDifferences(
  defined: DomainFacts,
  wanted: DomainFacts,
): Partial<Record<DefinitionField, DefinitionDifference>> {
  const differences: Partial<Record<DefinitionField, DefinitionDifference>> = {};
  for (
    const [field, fact] of Object.entries(FACT_FIELDS) as [DefinitionField, keyof DomainFacts][]
  ) {
    if (defined[fact] !== wanted[fact]) {
      differences[field] = { libvirt: defined[fact], record: wanted[fact] };
    }
  }
  return differences;
}

/**
 * Directories in the VM directory, named like a VM, that no record (deleted
 * or not) owns. No create leaves one (the record is written before the
 * directory), so they are reported and kept: they may hold someone's data.
 * Other names (`lost+found`) are not the node's.
 */
export function unownedDirectories(
  directories: readonly string[],
  recordIds: ReadonlySet<string>,
): string[] {
  return directories.filter((name) =>
    InstanceIdSchema.safeParse(name).success && !recordIds.has(name)
  ).sort();
}
