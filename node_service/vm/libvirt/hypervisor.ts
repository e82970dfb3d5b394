/**
 * What the VM service needs from a hypervisor, apart from how it is spoken
 * to. The one real implementation is {@link LibvirtHypervisor} (virsh); the
 * VM service depends only on this interface.
 */
import type { DomainUsage } from "./domain_stats.ts";

/** libvirt's own words for a domain's state, as `virsh domstate` prints them. */
export const DOMAIN_STATES = [
  "running",
  "idle",
  "paused",
  "in shutdown",
  "shut off",
  "crashed",
  "pmsuspended",
  "blocked",
  "no state",
] as const;
export type DomainState = typeof DOMAIN_STATES[number];

export type DomainSummary = { name: string; state: DomainState };

export type DomainDisk = { target: string; source: string };

export type DomainDetails = {
  name: string;
  uuid: string;
  state: DomainState;
  vcpus: number;
  memoryKib: number;
  disks: DomainDisk[];
  /** Null while the domain is not running (the port is given out at start). */
  vncPort: number | null;
  /** Guest addresses libvirt knows (DHCP leases or ARP); empty in user-mode networking. */
  addresses: string[];
};

/**
 * How a shutdown ended: the guest powered off when asked, was forced off at the time-out, or
 * (asked without force) ignored the request and runs on.
 */
export type ShutdownOutcome = "acpi" | "forced" | "already_off" | "ignored";

export type HypervisorErrorKind =
  /** libvirt does not answer (daemon down, socket missing). */
  | "unavailable"
  | "not_found"
  /** Wrong state for the operation (e.g. start a running domain), or the name is taken. */
  | "conflict"
  /** libvirt refused the definition (schema, unsupported device). */
  | "invalid"
  /** A program did not answer in time. */
  | "timeout"
  | "failed";

/** Why a hypervisor operation failed; callers branch on `kind`, people read `message`. */
export class HypervisorError extends Error {
  constructor(readonly kind: HypervisorErrorKind, message: string) {
    super(message);
    this.name = "HypervisorError";
  }
}

export interface Hypervisor {
  /** Checks that the hypervisor answers; throws {@link HypervisorError} `unavailable` if not. */
  ping(): Promise<void>;
  /** Defines (persistently) the domain in the XML file at `xmlPath`, validating it against libvirt's schema. */
  define(xmlPath: string): Promise<void>;
  start(name: string): Promise<void>;
  /**
   * Asks the guest to power off (ACPI); forces it off when it has not after `timeoutMs`, unless
   * `forceAfter` is false (then `ignored`: it runs on).
   */
  shutdown(name: string, timeoutMs: number, forceAfter?: boolean): Promise<ShutdownOutcome>;
  /** Asks the guest to power off (ACPI) and returns at once, without waiting for it. */
  askShutdown(name: string): Promise<"asked" | "already_off">;
  /**
   * Sets a guest user's password through the QEMU guest agent (`virsh set-user-password`);
   * `unavailable` when the guest runs no agent.
   */
  setUserPassword(name: string, user: string, password: string): Promise<void>;
  /**
   * Plugs the device in the XML file at `xmlPath` (a `<disk>`) into the running guest only; the
   * persistent definition is the caller's to define (so it stays the node's own XML).
   */
  attachLive(name: string, xmlPath: string): Promise<void>;
  /** Unplugs the disk at guest device `target` from the running guest only (as attachLive). */
  detachDiskLive(name: string, target: string): Promise<void>;
  /** Grows the disk at guest device `target` of a running guest to `bytes` (QEMU grows the file). */
  resizeBlockLive(name: string, target: string, bytes: number): Promise<void>;
  /** Asks the guest to reboot (ACPI). */
  reboot(name: string): Promise<void>;
  /** Hard reset, like the reset button. */
  reset(name: string): Promise<void>;
  /** Forced power-off, like pulling the plug. */
  destroy(name: string): Promise<void>;
  /**
   * Powers off if needed and removes the definition, with any snapshot metadata libvirt keeps;
   * removing the disks is the caller's.
   */
  undefine(name: string): Promise<void>;
  /** The domain's state, or `undefined` when there is no such domain. */
  state(name: string): Promise<DomainState | undefined>;
  /**
   * The domain's persistent definition (what its next start uses, whatever runs now), as libvirt
   * writes it back, secrets left out; `undefined` when there is no such domain.
   */
  definition(name: string): Promise<string | undefined>;
  /** The domain's details, or `undefined` when there is no such domain. */
  details(name: string): Promise<DomainDetails | undefined>;
  /** Every domain libvirt knows, running or not. */
  list(): Promise<DomainSummary[]>;
  /** A running domain's CPU, memory, network and disk counters; `undefined` when there is no such domain. */
  usage(name: string): Promise<DomainUsage | undefined>;
}

/** True for the states in which the guest occupies its resources. */
export function isActive(state: DomainState): boolean {
  return state !== "shut off" && state !== "crashed";
}
