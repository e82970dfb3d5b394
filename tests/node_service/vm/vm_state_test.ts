/** What libvirt observations do to VM records, and start-up reconciliation: pure, no libvirt, no files. */
import assert from "node:assert/strict";
import { reconcile } from "../../../node_service/vm/reconcile.ts";
import { observedVmState } from "../../../node_service/vm/state.ts";

Deno.test("what libvirt reports moves running and stopped, and a vanished domain fails the VM", () => {
  assert.equal(observedVmState("running", "shut off"), "stopped");
  assert.equal(observedVmState("running", "crashed"), "stopped");
  assert.equal(observedVmState("stopped", "running"), "running");
  assert.equal(observedVmState("running", "paused"), "running");
  assert.equal(observedVmState("running", undefined), "failed");
  assert.equal(observedVmState("stopped", undefined), "failed");
  // Lease and failure states are the node's decisions, not libvirt's.
  assert.equal(observedVmState("expired", "shut off"), "expired");
  assert.equal(observedVmState("failed", "running"), "failed");
  assert.equal(observedVmState("creating", undefined), "creating");
  assert.equal(observedVmState("deleted", "running"), "deleted");
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
