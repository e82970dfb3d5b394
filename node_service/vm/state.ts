/**
 * What a VM's record becomes when libvirt reports something else than the
 * record says (pure). Requested transitions (start, stop, expire, ...) follow
 * the one state machine shared with containers, `nextInstanceState` in
 * instances.ts; this adds only what a hypervisor can do on its own: a guest
 * powering itself off, a host reboot, a domain undefined behind the node's back.
 */
import type { InstanceState } from "../../mod/mod.ts";
import { type DomainState, isActive } from "./libvirt/mod.ts";

/** The record's state given libvirt's; `domain` is `undefined` when the domain is gone. */
export function observedVmState(
  state: InstanceState,
  domain: DomainState | undefined,
): InstanceState {
  // A VM being created or already deleted is not judged by what libvirt says.
  if (state === "creating" || state === "deleted") return state;
  if (domain === undefined) return "failed";
  if (state === "failed" || state === "expired") return state;
  return isActive(domain) ? "running" : "stopped";
}
