/**
 * The pure rules of modify and snapshots: what a modify request makes of a
 * VM's record, what is refused and with which kind of error, which states
 * allow disk work, how snapshot names and modify requests are checked, and
 * how qemu-img's failures are classified.
 */
import assert from "node:assert/strict";
import {
  VmModifyParamsSchema,
  VmSnapshotCreateParamsSchema,
  VmSnapshotNameSchema,
} from "../../../mod/mod.ts";
import { qemuImgErrorCode } from "../../../node_service/vm/disk.ts";
import {
  type ModifyCurrent,
  planModify,
  stoppedOnlyRefusal,
} from "../../../node_service/vm/modify_plan.ts";
import { GIB, NO_PORTS, refused, SPEC } from "./modify_fixture.ts";

const spec = SPEC;
const current: ModifyCurrent = { state: "stopped", spec, loginPort: 30001, diskBytes: 10 * GIB };

Deno.test("a modify changes what it names and leaves the rest; changes say from and to", () => {
  const plan = planModify(current, { cpu_cores: 4, disk_gib: 20, login_port: 30002 }, NO_PORTS);
  assert.deepEqual(plan.spec, { ...spec, cpu_cores: 4, disk_gib: 20 });
  assert.equal(plan.loginPort, 30002);
  assert.equal(plan.growDiskTo, 20 * GIB);
  assert.deepEqual(plan.changes, {
    cpu_cores: { from: 2, to: 4 },
    disk_gib: { from: 10, to: 20 },
    login_port: { from: 30001, to: 30002 },
  });
  assert.equal(spec.cpu_cores, 2, "the current spec is not touched");
});

Deno.test("values equal to today's are no change", () => {
  const plan = planModify(current, {
    cpu_cores: 2,
    memory_mib: 2048,
    disk_gib: 10,
    login_port: 30001,
  }, { otherVms: new Set(), host: new Set(["tcp:30001"]) });
  assert.deepEqual(plan.changes, {});
  assert.equal(plan.growDiskTo, undefined);
  assert.deepEqual(plan.spec, spec);
});

Deno.test("the disk never shrinks, measured against its real size", () => {
  assert.throws(
    () => planModify(current, { disk_gib: 9 }, NO_PORTS),
    refused("invalid", /cannot shrink: it is 10 GiB, disk_gib 9 is smaller/),
  );
  // An image of 2.5 GiB with no disk_gib asked at creation: 2 GiB would cut it.
  const fromImage = { ...current, spec: { ...spec, disk_gib: null }, diskBytes: 2.5 * GIB };
  assert.throws(() => planModify(fromImage, { disk_gib: 2 }, NO_PORTS), refused("invalid", /2\.5/));
  const grown = planModify(fromImage, { disk_gib: 3 }, NO_PORTS);
  assert.deepEqual(grown.changes.disk_gib, { from: null, to: 3 });
});

Deno.test("only a stopped VM is modified; the refusal says why", () => {
  for (
    const [state, why] of [
      ["running", /running; stop it first/],
      ["expired", /lease has expired/],
      ["failed", /creation failed/],
      ["creating", /still being created/],
      ["deleted", /deleted/],
    ] as const
  ) {
    assert.throws(
      () => planModify({ ...current, state }, { cpu_cores: 4 }, NO_PORTS),
      refused("conflict", why),
    );
    assert.match(stoppedOnlyRefusal(state)!, why);
  }
  assert.equal(stoppedOnlyRefusal("stopped"), undefined);
});

Deno.test("a new login port must be free, and exists only with user-mode networking", () => {
  assert.throws(
    () =>
      planModify(current, { login_port: 30002 }, { otherVms: new Set([30002]), host: new Set() }),
    refused("conflict", /login port 30002 is taken by another VM/),
  );
  assert.throws(
    () =>
      planModify(current, { login_port: 30002 }, {
        otherVms: new Set(),
        host: new Set(["tcp:30002"]),
      }),
    refused("conflict", /login port 30002 is in use on this host/),
  );
  const bridged = {
    ...current,
    loginPort: null,
    spec: { ...spec, network: { mode: "bridge" as const, source: "br0" } },
  };
  assert.throws(
    () => planModify(bridged, { login_port: 30002 }, NO_PORTS),
    refused("invalid", /no forwarded login port \(its network is bridge/),
  );
  // A UDP listener on the port does not stop a TCP forward.
  const udp = planModify(current, { login_port: 30002 }, {
    otherVms: new Set(),
    host: new Set(["udp:30002"]),
  });
  assert.equal(udp.loginPort, 30002);
});

Deno.test("modify requests name at least one change, within the limits", () => {
  const target = { actor: "alice", id: "vm-abc" };
  assert.equal(VmModifyParamsSchema.safeParse(target).success, false);
  assert.equal(VmModifyParamsSchema.safeParse({ ...target, cpu_cores: 0 }).success, false);
  assert.equal(VmModifyParamsSchema.safeParse({ ...target, memory_mib: 64 }).success, false);
  assert.equal(VmModifyParamsSchema.safeParse({ ...target, disk_gib: 1.5 }).success, false);
  assert.equal(VmModifyParamsSchema.safeParse({ ...target, login_port: 70000 }).success, false);
  assert.equal(VmModifyParamsSchema.safeParse({ ...target, shrink: true }).success, false);
  assert.equal(VmModifyParamsSchema.safeParse({ ...target, disk_gib: 20 }).success, true);
});

Deno.test("snapshot names start with a letter and carry nothing a command line would read", () => {
  for (const name of ["clean", "before-upgrade", "v1.2_final", "A".repeat(64)]) {
    assert.equal(VmSnapshotNameSchema.safeParse(name).success, true, name);
  }
  // Digits alone would name a snapshot's numeric id to qemu-img.
  for (const name of ["", "1", "42abc", "-c", "a b", "a/b", "a;b", "é", "A".repeat(65)]) {
    assert.equal(VmSnapshotNameSchema.safeParse(name).success, false, name);
  }
  const params = { actor: "alice", id: "vm-abc", name: "clean" };
  assert.equal(VmSnapshotCreateParamsSchema.parse(params).description, "");
  assert.equal(
    VmSnapshotCreateParamsSchema.safeParse({ ...params, description: "two\nlines" }).success,
    false,
  );
  assert.equal(
    VmSnapshotCreateParamsSchema.safeParse({ ...params, description: "x".repeat(257) }).success,
    false,
  );
});

Deno.test("qemu-img's failures: a locked disk is a conflict, a missing snapshot not found", () => {
  assert.equal(
    qemuImgErrorCode(
      `Could not open 'disk.qcow2': Failed to get "write" lock\nIs another process using the image [disk.qcow2]?`,
    ),
    "conflict",
  );
  assert.equal(
    qemuImgErrorCode(
      "Could not apply snapshot 'x': Failed to load snapshot: No such file or directory",
    ),
    "not_found",
  );
  assert.equal(qemuImgErrorCode("Could not delete snapshot 'x': snapshot not found"), "not_found");
  assert.equal(qemuImgErrorCode("Could not open 'disk.qcow2': Permission denied"), "internal");
});
