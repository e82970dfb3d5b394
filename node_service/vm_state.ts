/**
 * The VM state machine, pure: `(state, event) -> state`. The VM service
 * asks {@link operationRefusal} before acting and {@link nextVmState} after;
 * reconciliation feeds what libvirt reports as an `observed` event.
 */
import type { InstanceState } from "../mod/mod.ts";
import { type DomainState, isActive } from "./hypervisor.ts";

export type VmOperation = "start" | "stop" | "restart" | "reset" | "delete";

export type VmEvent =
  | { type: "created"; started: boolean }
  | { type: "creation_failed" }
  | { type: "started" }
  | { type: "stopped" }
  | { type: "deleted" }
  /** What libvirt reports now; `undefined` when the domain is gone. */
  | { type: "observed"; domain: DomainState | undefined };

export function nextVmState(state: InstanceState, event: VmEvent): InstanceState {
  switch (event.type) {
    case "created":
      return state === "creating" ? (event.started ? "running" : "stopped") : state;
    case "creation_failed":
      return "failed";
    case "started":
      return "running";
    case "stopped":
      return state === "expired" ? "expired" : "stopped";
    case "deleted":
      return "deleted";
    case "observed":
      return observed(state, event.domain);
  }
}

function observed(state: InstanceState, domain: DomainState | undefined): InstanceState {
  // A VM being created or already gone is not judged by what libvirt says.
  if (state === "creating" || state === "deleted") return state;
  if (domain === undefined) return "failed";
  if (isActive(domain)) return state === "failed" ? "failed" : "running";
  return state === "running" ? "stopped" : state;
}

/** Why `operation` cannot run in `state`, or `undefined` when it can. */
export function operationRefusal(state: InstanceState, operation: VmOperation): string | undefined {
  if (state === "deleted") return "the VM is deleted";
  if (state === "creating") return "the VM is still being created";
  switch (operation) {
    case "delete":
      return undefined;
    case "start":
      if (state === "stopped") return undefined;
      if (state === "running") return "the VM is already running";
      if (state === "expired") return "the VM's lease has expired";
      return "the VM has failed; it can only be deleted";
    case "stop":
    case "restart":
    case "reset":
      if (state === "running") return undefined;
      if (state === "failed") return "the VM has failed; it can only be deleted";
      return "the VM is not running";
  }
}
