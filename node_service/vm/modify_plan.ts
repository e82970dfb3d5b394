/**
 * What may be done to a VM's definition and disk only while it is off, and
 * what a modify request makes of a VM's record (pure: the VM service reads
 * the disk and the ports in use, and applies the plan).
 *
 * Why only while off: QEMU fixes CPUs and memory at start, a running guest's
 * disk is open (and qemu-img cannot touch it), and a snapshot of a disk a
 * guest is writing to would catch its file systems half-way.
 */
import { type InstanceState, RpcError, type VmModifyRequest } from "../../mod/mod.ts";
import { type PortKey, portKey } from "../host/mod.ts";
import { startRefusal } from "../instances.ts";
import type { VmSpec } from "./store.ts";

const GIB = 2 ** 30;

/** Why an operation that needs a stopped VM is refused in `state`; `undefined` when it may go on. */
export function stoppedOnlyRefusal(state: InstanceState): string | undefined {
  switch (state) {
    case "stopped":
      return undefined;
    case "running":
      return "it is running; stop it first (modify and snapshots need a stopped VM)";
    default:
      return startRefusal(state);
  }
}

/** Why a modify request cannot be applied; `invalid` is the request's fault, `conflict` the VM's state or a taken port. */
export class ModifyRefused extends Error {
  constructor(readonly kind: "invalid" | "conflict", message: string) {
    super(message);
    this.name = "ModifyRefused";
  }
}

export type ModifyCurrent = {
  state: InstanceState;
  spec: VmSpec;
  loginPort: number | null;
  /** The VNC display's host port when the renter named one; null: libvirt picks one. */
  vncPort?: number | null;
  /** The disk's size now, as qemu-img reads it (it may not be a whole number of GiB). */
  diskBytes: number;
};

export type ModifyPorts = {
  /** Login ports held by other VMs that are not deleted. */
  otherVms: ReadonlySet<number>;
  /** Ports something on this host listens on now. */
  host: ReadonlySet<PortKey>;
};

export type ModifyPlan = {
  spec: VmSpec;
  loginPort: number | null;
  vncPort: number | null;
  /** Grow the disk to this many bytes; `undefined` leaves it as it is. */
  growDiskTo: number | undefined;
  /** What changes, `from` and `to`, for the event log and the caller; empty when nothing does. */
  changes: Record<string, { from: unknown; to: unknown }>;
};

/**
 * The record a modify request makes of `current`, or the reason it is
 * refused. A value equal to today's is no change; a smaller disk is refused
 * (shrinking would cut off whatever the guest keeps at its end).
 */
export function planModify(
  current: ModifyCurrent,
  request: Omit<VmModifyRequest, "actor" | "id">,
  ports: ModifyPorts,
): ModifyPlan {
  const refusal = stoppedOnlyRefusal(current.state);
  if (refusal) throw new ModifyRefused("conflict", `cannot modify the VM: ${refusal}`);
  const spec: VmSpec = { ...current.spec };
  const changes: ModifyPlan["changes"] = {};
  if (request.cpu_cores !== undefined && request.cpu_cores !== spec.cpu_cores) {
    changes.cpu_cores = { from: spec.cpu_cores, to: request.cpu_cores };
    spec.cpu_cores = request.cpu_cores;
  }
  if (request.memory_mib !== undefined && request.memory_mib !== spec.memory_mib) {
    changes.memory_mib = { from: spec.memory_mib, to: request.memory_mib };
    spec.memory_mib = request.memory_mib;
  }
  let growDiskTo: number | undefined;
  if (request.disk_gib !== undefined) {
    const bytes = request.disk_gib * GIB;
    if (bytes < current.diskBytes) {
      throw new ModifyRefused(
        "invalid",
        `the disk cannot shrink: it is ${formatGib(current.diskBytes)} GiB, ` +
          `disk_gib ${request.disk_gib} is smaller`,
      );
    }
    if (bytes > current.diskBytes) {
      growDiskTo = bytes;
      changes.disk_gib = { from: current.spec.disk_gib, to: request.disk_gib };
      spec.disk_gib = request.disk_gib;
    }
  }
  let loginPort = current.loginPort;
  if (request.login_port !== undefined && request.login_port !== current.loginPort) {
    if (current.loginPort === null) {
      throw new ModifyRefused(
        "invalid",
        `the VM has no forwarded login port (its network is ${current.spec.network.mode}, ` +
          "where the guest has its own address)",
      );
    }
    if (ports.otherVms.has(request.login_port)) {
      throw new ModifyRefused(
        "conflict",
        `login port ${request.login_port} is taken by another VM`,
      );
    }
    if (ports.host.has(portKey("tcp", request.login_port))) {
      throw new ModifyRefused(
        "conflict",
        `login port ${request.login_port} is in use on this host`,
      );
    }
    changes.login_port = { from: current.loginPort, to: request.login_port };
    loginPort = request.login_port;
  }
  const vncPort = planVncPort(current, request.vnc_port, ports, changes);
  planCustomPorts(current, spec, request.custom_ports, ports, changes);
  // The VM's own host ports after the change: one number each, whatever the protocol.
  const own = [
    ...(loginPort === null ? [] : [loginPort]),
    ...(vncPort === null ? [] : [vncPort]),
    ...(spec.custom_ports ?? []).map((forward) => forward.host_port),
  ];
  const twice = own.find((port, index) => own.indexOf(port) !== index);
  if (twice !== undefined) {
    throw new ModifyRefused("invalid", `host port ${twice} would be the VM's twice`);
  }
  return { spec, loginPort, vncPort, growDiskTo, changes };
}

/** A new VNC port, checked as at create: free of other VMs' ports and of the host's listeners. */
function planVncPort(
  current: ModifyCurrent,
  asked: number | undefined,
  ports: ModifyPorts,
  changes: ModifyPlan["changes"],
): number | null {
  const now = current.vncPort ?? null;
  if (asked === undefined || asked === now) return now;
  requireFree("VNC", "tcp", asked, ports);
  changes.vnc_port = { from: now, to: asked };
  return asked;
}

/**
 * New custom forwards (all of them, replacing the VM's), checked as at create: user-mode
 * networking only, and each new host port free of other VMs' ports and the host's listeners.
 */
function planCustomPorts(
  current: ModifyCurrent,
  spec: VmSpec,
  asked: VmModifyRequest["custom_ports"],
  ports: ModifyPorts,
  changes: ModifyPlan["changes"],
): void {
  if (asked === undefined) return;
  const now = current.spec.custom_ports ?? [];
  const key = (list: typeof now) =>
    JSON.stringify(list.map((f) => [f.protocol, f.host_port, f.guest_port]));
  if (key(asked) === key(now)) return;
  if (asked.length > 0 && current.spec.network.mode !== "user") {
    throw new ModifyRefused(
      "invalid",
      "custom ports are forwarded by QEMU's user-mode network only; this VM's network is " +
        `${current.spec.network.mode} (the guest has an address of its own)`,
    );
  }
  const held = new Set(now.map((forward) => forward.host_port));
  for (const forward of asked) {
    if (!held.has(forward.host_port)) {
      requireFree(`custom ${forward.protocol}`, forward.protocol, forward.host_port, ports);
    }
  }
  changes.custom_ports = { from: now, to: asked };
  if (asked.length > 0) spec.custom_ports = asked;
  else delete spec.custom_ports;
}

function requireFree(what: string, protocol: "tcp" | "udp", port: number, ports: ModifyPorts) {
  if (ports.otherVms.has(port)) {
    throw new ModifyRefused("conflict", `${what} port ${port} is taken by another VM`);
  }
  if (ports.host.has(portKey(protocol, port))) {
    throw new ModifyRefused("conflict", `${what} port ${port} is in use on this host`);
  }
}

function formatGib(bytes: number): string {
  return String(Math.round((bytes / GIB) * 100) / 100);
}

/** A login port a renter names must lie in the operator's range (`vm_port_range`). */
export function requireLoginPortInRange(
  port: number | undefined,
  range: { first: number; last: number },
  /** Which of the VM's host ports it is: its login forward, or its VNC display. */
  what: string = "login",
): void {
  if (port === undefined || (port >= range.first && port <= range.last)) return;
  throw new RpcError(
    "invalid_params",
    `${what} port ${port} is outside this node's VM ports ${range.first}-${range.last}`,
  );
}
