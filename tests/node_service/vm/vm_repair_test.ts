/**
 * Start-up repairs of one VM, pure: the facts read from the node's domain XML
 * and from libvirt's rewrite of it, and the repairs planned for each half-done
 * operation a crash can leave (modify, snapshot take/delete/restore), without
 * libvirt or files. vm_reconcile_test.ts does the same against the real thing.
 */
import assert from "node:assert/strict";
import { readDomainFacts } from "../../../node_service/vm/libvirt/domain_facts.ts";
import {
  buildDomainXml,
  type DomainSpec,
  domainSpecDigest,
  SPEC_DIGEST_ATTRIBUTE,
} from "../../../node_service/vm/libvirt/domain_xml.ts";
import {
  planVmRepairs,
  unownedDirectories,
  type VmRepairInput,
} from "../../../node_service/vm/repair_plan.ts";

const GIB = 2 ** 30;

function spec(overrides: Partial<DomainSpec> = {}): DomainSpec {
  return {
    name: "dbc-vm-abcdefghij",
    uuid: "0f8c5f2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f",
    domainType: "qemu",
    os: "linux",
    firmware: "bios",
    vcpus: 1,
    memoryMib: 256,
    diskPath: "/var/lib/dbc/vms/vm-abcdefghij/disk.qcow2",
    gpuBusIds: [],
    network: {
      mode: "user",
      forward: { hostAddress: "127.0.0.1", hostPort: 30022, guestPort: 22 },
    },
    macAddress: "52:54:00:ab:cd:ef",
    vnc: { listen: "127.0.0.1", password: "Ab3dEf7h" },
    consoleLogPath: "/var/lib/dbc/vms/vm-abcdefghij/console.log",
    metadata: { instanceId: "vm-abcdefghij", owner: "renter" },
    ...overrides,
  };
}

/**
 * The parts of `virsh dumpxml --inactive` that the facts come from, as libvirt 9 writes them
 * back for `buildDomainXml(spec())`: single quotes, memory in KiB, metadata kept as written.
 */
function libvirtXml(
  options: { digest: string; vcpus: number; memoryKib: number; loginPort: number },
): string {
  return `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>dbc-vm-abcdefghij</name>
  <metadata>
    <dbc:instance xmlns:dbc="https://github.com/DeepBrainChain/dbc-node/vm/1" id="vm-abcdefghij" owner="renter" spec-sha256="${options.digest}"/>
  </metadata>
  <memory unit='KiB'>${options.memoryKib}</memory>
  <currentMemory unit='KiB'>${options.memoryKib}</currentMemory>
  <vcpu placement='static'>${options.vcpus}</vcpu>
  <qemu:commandline>
    <qemu:arg value='-netdev'/>
    <qemu:arg value='user,id=dbcnet0,hostfwd=tcp:127.0.0.1:${options.loginPort}-:22'/>
  </qemu:commandline>
</domain>
`;
}

const WANTED = buildDomainXml(spec());
const DIGEST = domainSpecDigest(spec());
const DEFINED = libvirtXml({ digest: DIGEST, vcpus: 1, memoryKib: 256 * 1024, loginPort: 30022 });

/** A VM that is as its record says: stopped, definition and copy right, one snapshot. */
function consistent(overrides: Partial<VmRepairInput> = {}): VmRepairInput {
  return {
    id: "vm-abcdefghij",
    domainState: "shut off",
    wantedXml: WANTED,
    definedXml: DEFINED,
    files: {
      xmlCopy: WANTED,
      nextXml: false,
      disk: { virtualSizeBytes: 2 * GIB, snapshots: ["clean"] },
    },
    recordDiskBytes: 2 * GIB,
    snapshotRecords: ["clean"],
    ...overrides,
  };
}

Deno.test("domain facts read the same from the node's XML and from libvirt's rewrite of it", () => {
  const facts = { specDigest: DIGEST, vcpus: 1, memoryKib: 256 * 1024, loginPort: 30022 };
  assert.deepEqual(readDomainFacts(WANTED), facts);
  assert.deepEqual(readDomainFacts(DEFINED), facts);
  assert.match(WANTED, new RegExp(`${SPEC_DIGEST_ATTRIBUTE}="${DIGEST}"`));
  // Without a forwarded port (bridge, network, or user mode without one), and without a digest.
  assert.deepEqual(
    readDomainFacts("<domain><memory>1048576</memory><vcpu>4</vcpu></domain>"),
    { specDigest: null, vcpus: 4, memoryKib: 1024 * 1024, loginPort: null },
  );
  assert.equal(
    readDomainFacts("<domain><memory unit='GiB'>2</memory></domain>").memoryKib,
    2 ** 21,
  );
  assert.equal(readDomainFacts("<domain><memory unit='KB'>2</memory></domain>").memoryKib, null);
});

Deno.test("the spec digest changes with anything the record decides but the VNC password", () => {
  assert.equal(domainSpecDigest(spec()), DIGEST);
  // Key order is not content.
  const reordered = Object.fromEntries(Object.entries(spec()).reverse()) as DomainSpec;
  assert.equal(domainSpecDigest(reordered), DIGEST);
  assert.equal(domainSpecDigest(spec({ vnc: { listen: "127.0.0.1", password: "Zz9" } })), DIGEST);
  for (
    const changed of [
      spec({ vcpus: 2 }),
      spec({ memoryMib: 512 }),
      spec({ gpuBusIds: ["00000000:18:00.0"] }),
      spec({ network: { mode: "user" } }),
      spec({ vnc: { listen: "127.0.0.1", password: "Ab3dEf7h", port: 5901 } }),
      spec({ diskPath: "/elsewhere/disk.qcow2" }),
    ]
  ) {
    assert.notEqual(domainSpecDigest(changed), DIGEST);
  }
});

Deno.test("a consistent VM needs nothing, running or not", () => {
  assert.deepEqual(planVmRepairs(consistent()), []);
  assert.deepEqual(planVmRepairs(consistent({ domainState: "running" })), []);
  assert.deepEqual(planVmRepairs(consistent({ recordDiskBytes: null })), []);
});

Deno.test("a modify cut short after its define: the record's definition again, the .next removed", () => {
  const input = consistent({
    definedXml: libvirtXml({
      digest: domainSpecDigest(spec({ vcpus: 2, memoryMib: 512 })),
      vcpus: 2,
      memoryKib: 512 * 1024,
      loginPort: 30100,
    }),
    files: { ...consistent().files!, nextXml: true },
  });
  assert.deepEqual(planVmRepairs(input), [
    {
      kind: "definition_replaced",
      id: "vm-abcdefghij",
      differences: {
        spec_digest: {
          libvirt: domainSpecDigest(spec({ vcpus: 2, memoryMib: 512 })),
          record: DIGEST,
        },
        cpu_cores: { libvirt: 2, record: 1 },
        memory_kib: { libvirt: 512 * 1024, record: 256 * 1024 },
        login_port: { libvirt: 30100, record: 30022 },
      },
    },
    { kind: "next_xml_removed", id: "vm-abcdefghij" },
  ]);
  // A running guest's definition is replaced as well: that only changes its next start.
  assert.equal(planVmRepairs({ ...input, domainState: "running" })[0]?.kind, "definition_replaced");
});

Deno.test("a definition edited by hand (digest kept) or made before digests is replaced", () => {
  const edited = libvirtXml({ digest: DIGEST, vcpus: 8, memoryKib: 256 * 1024, loginPort: 30022 });
  assert.deepEqual(planVmRepairs(consistent({ definedXml: edited })), [
    {
      kind: "definition_replaced",
      id: "vm-abcdefghij",
      differences: { cpu_cores: { libvirt: 8, record: 1 } },
    },
  ]);
  const older = DEFINED.replace(/ spec-sha256="[0-9a-f]+"/, "");
  assert.deepEqual(planVmRepairs(consistent({ definedXml: older })), [
    {
      kind: "definition_replaced",
      id: "vm-abcdefghij",
      differences: { spec_digest: { libvirt: null, record: DIGEST } },
    },
  ]);
});

Deno.test("a modify cut short after its record: the node's copy of the definition is rewritten", () => {
  const stale = buildDomainXml(spec({ vcpus: 4 }));
  assert.deepEqual(
    planVmRepairs(consistent({ files: { ...consistent().files!, xmlCopy: stale, nextXml: true } })),
    [{ kind: "xml_copy_rewritten", id: "vm-abcdefghij" }, {
      kind: "next_xml_removed",
      id: "vm-abcdefghij",
    }],
  );
  assert.deepEqual(
    planVmRepairs(consistent({ files: { ...consistent().files!, xmlCopy: undefined } })),
    [{ kind: "xml_copy_rewritten", id: "vm-abcdefghij" }],
  );
});

Deno.test("snapshots: one taken but never recorded is deleted, a record without one is dropped", () => {
  const input = consistent({
    files: {
      ...consistent().files!,
      disk: { virtualSizeBytes: 2 * GIB, snapshots: ["clean", "orphan", "orphan"] },
    },
    snapshotRecords: ["clean", "deleted-from-disk"],
  });
  assert.deepEqual(planVmRepairs(input), [
    { kind: "snapshot_record_dropped", id: "vm-abcdefghij", name: "deleted-from-disk" },
    { kind: "snapshot_orphan_deleted", id: "vm-abcdefghij", name: "orphan" },
    { kind: "snapshot_orphan_deleted", id: "vm-abcdefghij", name: "orphan" },
  ]);
  // A running guest's disk is QEMU's: only the record is dropped, the orphan waits.
  for (const domainState of ["running", "paused"] as const) {
    assert.deepEqual(planVmRepairs({ ...input, domainState }), [
      { kind: "snapshot_record_dropped", id: "vm-abcdefghij", name: "deleted-from-disk" },
    ]);
  }
});

Deno.test("a restore cut short before the disk grew again: the disk is grown to the record's size", () => {
  const shrunk = consistent({
    files: { ...consistent().files!, disk: { virtualSizeBytes: GIB, snapshots: ["clean"] } },
  });
  assert.deepEqual(planVmRepairs(shrunk), [
    { kind: "disk_regrown", id: "vm-abcdefghij", from_bytes: GIB, to_bytes: 2 * GIB },
  ]);
  assert.deepEqual(planVmRepairs({ ...shrunk, domainState: "running" }), []);
  // Larger than the record (a modify that grew the disk, then failed) is left: disks never shrink.
  assert.deepEqual(planVmRepairs({ ...shrunk, recordDiskBytes: GIB / 2 }), []);
});

Deno.test("what cannot be read is left alone", () => {
  // Disk missing or unreadable (a volume not mounted yet?): snapshot records are kept.
  assert.deepEqual(
    planVmRepairs(
      consistent({ files: { ...consistent().files!, disk: undefined }, snapshotRecords: ["a"] }),
    ),
    [],
  );
  // No directory: nothing to rewrite or remove; no domain: nothing to compare.
  assert.deepEqual(planVmRepairs(consistent({ files: undefined })), []);
  assert.deepEqual(
    planVmRepairs(consistent({ domainState: undefined, definedXml: undefined })),
    [],
  );
  // No definition can be made from the record (an image is gone): libvirt's is not touched.
  const ahead = libvirtXml({ digest: DIGEST, vcpus: 2, memoryKib: 256 * 1024, loginPort: 30022 });
  assert.deepEqual(
    planVmRepairs(consistent({ wantedXml: undefined, definedXml: ahead })),
    [],
  );
});

Deno.test("directories named like a VM that no record owns are named; others are not the node's", () => {
  assert.deepEqual(
    unownedDirectories(
      ["vm-b", "vm-a", "vm-stray", "vm-deleted", "lost+found"],
      new Set(["vm-a", "vm-b", "vm-deleted"]),
    ),
    ["vm-stray"],
  );
});
