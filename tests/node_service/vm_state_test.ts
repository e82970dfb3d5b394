/** The VM state machine and start-up reconciliation, pure: no libvirt, no files. */
import assert from "node:assert/strict";
import { reconcile } from "../../node_service/reconcile.ts";
import { nextVmState, operationRefusal } from "../../node_service/vm_state.ts";

Deno.test("creation ends running, stopped (define only) or failed", () => {
  assert.equal(nextVmState("creating", { type: "created", started: true }), "running");
  assert.equal(nextVmState("creating", { type: "created", started: false }), "stopped");
  assert.equal(nextVmState("creating", { type: "creation_failed" }), "failed");
});

Deno.test("what libvirt reports moves running and stopped, and a vanished domain fails the VM", () => {
  assert.equal(nextVmState("running", { type: "observed", domain: "shut off" }), "stopped");
  assert.equal(nextVmState("stopped", { type: "observed", domain: "running" }), "running");
  assert.equal(nextVmState("running", { type: "observed", domain: "paused" }), "running");
  assert.equal(nextVmState("running", { type: "observed", domain: undefined }), "failed");
  assert.equal(nextVmState("expired", { type: "observed", domain: "shut off" }), "expired");
  assert.equal(nextVmState("creating", { type: "observed", domain: undefined }), "creating");
  assert.equal(nextVmState("deleted", { type: "observed", domain: "running" }), "deleted");
  assert.equal(nextVmState("expired", { type: "stopped" }), "expired");
});

Deno.test("operations are refused in states where they make no sense, with the reason", () => {
  assert.equal(operationRefusal("stopped", "start"), undefined);
  assert.equal(operationRefusal("running", "stop"), undefined);
  assert.equal(operationRefusal("running", "reset"), undefined);
  assert.equal(operationRefusal("failed", "delete"), undefined);
  assert.match(operationRefusal("running", "start")!, /already running/);
  assert.match(operationRefusal("stopped", "restart")!, /not running/);
  assert.match(operationRefusal("expired", "start")!, /lease has expired/);
  assert.match(operationRefusal("failed", "start")!, /can only be deleted/);
  assert.match(operationRefusal("deleted", "delete")!, /deleted/);
  assert.match(operationRefusal("creating", "stop")!, /being created/);
});

Deno.test("reconciliation: vanished, appeared, changed and interrupted are each reported once", () => {
  const findings = reconcile(
    [
      { id: "vm-gone", domain: "dbc-vm-gone", state: "running" },
      { id: "vm-off", domain: "dbc-vm-off", state: "running" },
      { id: "vm-same", domain: "dbc-vm-same", state: "stopped" },
      { id: "vm-half", domain: "dbc-vm-half", state: "creating" },
      { id: "vm-old", domain: "dbc-vm-old", state: "deleted" },
      { id: "vm-failed", domain: "dbc-vm-failed", state: "failed" },
    ],
    [
      { name: "dbc-vm-off", state: "shut off" },
      { name: "dbc-vm-same", state: "shut off" },
      { name: "dbc-vm-stray", state: "running" },
      { name: "dbc-vm-old", state: "shut off" },
      { name: "someone-elses", state: "running" },
    ],
    "dbc-",
  );
  assert.deepEqual(findings, [
    { kind: "vanished", id: "vm-gone", domain: "dbc-vm-gone", from: "running", to: "failed" },
    {
      kind: "state_changed",
      id: "vm-off",
      domain: "dbc-vm-off",
      from: "running",
      to: "stopped",
      observed: "shut off",
    },
    { kind: "interrupted", id: "vm-half", domain: "dbc-vm-half", observed: null },
    { kind: "appeared", domain: "dbc-vm-stray", observed: "running" },
    // A deleted record owns nothing: its name showing up again is news.
    { kind: "appeared", domain: "dbc-vm-old", observed: "shut off" },
  ]);
});
