/**
 * The pure plan of start-up data disk repair (data_disk_repair.ts): what a
 * node killed half-way through a running guest's data disk change leaves,
 * and what is left alone (a stopped guest's devices, files that are not
 * data disks, a disk outside the VM's directory, a recorded disk whose file
 * is gone). Applied on real libvirt in vm_live_disks_test.ts.
 */
import assert from "node:assert/strict";
import { planDataDiskRepairs } from "../../../node_service/vm/data_disk_repair.ts";

const vmDir = "/var/lib/dbc/vms/vm-abc";
const base = {
  id: "vm-abc",
  vmDir,
  recorded: [{ name: "vdc", file: "data-vdc.qcow2" }],
  files: ["disk.qcow2", "seed.img", "domain.xml", "console.log", "data-vdc.qcow2"],
};
const system = { target: "vda", source: `${vmDir}/disk.qcow2` };
const seed = { target: "vdb", source: `${vmDir}/seed.img` };

Deno.test("a running guest's data disks are made to match the record", () => {
  const repairs = planDataDiskRepairs({
    ...base,
    running: true,
    live: [system, seed, { target: "vdd", source: `${vmDir}/data-vdd.qcow2` }],
    files: [...base.files, "data-vdd.qcow2", "data-vde.qcow2"],
  });
  assert.deepEqual(repairs, [
    { kind: "data_disk_unplugged", id: "vm-abc", disk: "vdd" },
    { kind: "data_disk_plugged", id: "vm-abc", disk: "vdc" },
    { kind: "data_file_removed", id: "vm-abc", file: "data-vdd.qcow2" },
    { kind: "data_file_removed", id: "vm-abc", file: "data-vde.qcow2" },
  ]);
});

Deno.test("what agrees, a stopped guest and what is not a data disk are left alone", () => {
  const agreeing = {
    ...base,
    running: true,
    live: [system, seed, { target: "vdc", source: `${vmDir}/data-vdc.qcow2` }],
  };
  assert.deepEqual(planDataDiskRepairs(agreeing), []);
  // Stopped: nothing is plugged in or out; only a file nobody records goes.
  assert.deepEqual(
    planDataDiskRepairs({
      ...base,
      running: false,
      live: [],
      files: [...base.files, "data-sdb.qcow2"],
    }),
    [{ kind: "data_file_removed", id: "vm-abc", file: "data-sdb.qcow2" }],
  );
  // An operator's disk elsewhere, other files, and a recorded disk whose file is gone.
  assert.deepEqual(
    planDataDiskRepairs({
      ...base,
      running: true,
      live: [system, seed, { target: "vdd", source: "/srv/other/data-vdd.qcow2" }],
      files: ["disk.qcow2", "notes.qcow2", "data-vdc.qcow2.bak"],
    }),
    [],
  );
});
