/**
 * A VM's life after its create: start, stop, restart, reset, the lease's
 * expire and renew, delete; and what is read of VMs (summaries, detail,
 * list, console log).
 */
import {
  type InstanceUsage,
  RpcError,
  type Vm,
  type VmCredentials,
  type VmDetail,
  type VmHypervisorView,
} from "../../mod/mod.ts";
import { type DomainUsage, HypervisorError, isActive } from "./libvirt/mod.ts";
import { toRpcError } from "./vm_helpers.ts";
import { nextInstanceState } from "../instances.ts";
import {
  MAX_CONSOLE_READ_BYTES,
  SHUTDOWN_WATCH_MS,
  SHUTDOWN_WATCH_POLL_MS,
  VM_FILES,
} from "./constants.ts";
import type { VmRecord } from "./store.ts";
import type { StopOptions, VmCore } from "./vm_core.ts";

/** Starts a stopped VM; a running one is left as it is. */
export async function start(core: VmCore, actor: string, id: string): Promise<Vm> {
  return await core.operate(actor, id, "start", { type: "start" }, async (record) => {
    if (record.state !== "running") await core.options.hypervisor.start(record.domain);
  });
}

/** ACPI power-off, forced when the guest has not gone off after the time-out (or at once with `force`). */
export async function stop(
  core: VmCore,
  actor: string,
  id: string,
  options: StopOptions,
): Promise<Vm> {
  return await core.operate(actor, id, "stop", { type: "stop" }, async (record, detail) => {
    detail.outcome = await core.powerOff(record, options);
  });
}

/**
 * Asks the guest to power off (ACPI) and answers at once, as the original's shutdown does: the
 * answer's state is still `running` (the guest goes off by itself, or not), and the event log's
 * `vm.shutdown` says `asked`. The node then watches the domain for up to `watchMs` and records
 * the outcome as `vm.shutdown_outcome`: `acpi` when it went off (the record is then `stopped`),
 * `ignored` when it still runs. Never forced: the original's poweroff is {@link stop} with `force`.
 */
export async function shutdown(
  core: VmCore,
  actor: string,
  id: string,
  watchMs: number | undefined,
): Promise<Vm> {
  return await core.queued(id, () =>
    core.logged(actor, "vm.shutdown", id, async (detail) => {
      const record = await core.freshRecord(id);
      const transition = nextInstanceState(record.state, { type: "stop" });
      if (!transition.ok) {
        throw new RpcError("conflict", `cannot shut down VM ${id}: ${transition.reason}`);
      }
      const outcome = record.state === "running"
        ? await core.options.hypervisor.askShutdown(record.domain)
        : "already_off";
      detail.outcome = outcome;
      if (outcome === "already_off") {
        return core.view(core.store.setState(id, transition.state, null));
      }
      const limitMs = watchMs ?? SHUTDOWN_WATCH_MS;
      core.watch(
        `watching VM ${id} shut down`,
        (signal) => watchShutdown(core, actor, record, limitMs, signal),
      );
      return core.view(record);
    }));
}

/** Waits up to `limitMs` for a guest asked to shut down to go off; records how it went. */
async function watchShutdown(
  core: VmCore,
  actor: string,
  record: VmRecord,
  limitMs: number,
  signal: AbortSignal,
): Promise<void> {
  const startedAt = core.options.now();
  let off = false;
  while (!signal.aborted && core.options.now() - startedAt < limitMs) {
    const state = await core.options.hypervisor.state(record.domain).catch(() => undefined);
    if (state === undefined || !isActive(state)) {
      off = true;
      break;
    }
    await abortableSleep(SHUTDOWN_WATCH_POLL_MS, signal);
  }
  if (signal.aborted) return;
  // In the VM's queue, so the record's new state does not cross another operation on it.
  await core.queued(record.id, async () => {
    if (off) await core.freshRecord(record.id);
    core.options.events.record({
      actor,
      action: "vm.shutdown_outcome",
      target: record.id,
      result: "ok",
      detail: { outcome: off ? "acpi" : "ignored", watched_ms: core.options.now() - startedAt },
      startedAt,
    });
  });
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** Reboots a running guest (ACPI); starts a stopped one. */
export async function restart(core: VmCore, actor: string, id: string): Promise<Vm> {
  return await core.operate(actor, id, "restart", { type: "restart" }, async (record) => {
    if (record.state === "running") await core.options.hypervisor.reboot(record.domain);
    else await core.options.hypervisor.start(record.domain);
  });
}

/** Hard reset of a running guest; starts a stopped one. */
export async function reset(core: VmCore, actor: string, id: string): Promise<Vm> {
  return await core.operate(actor, id, "reset", { type: "restart" }, async (record) => {
    if (record.state === "running") await core.options.hypervisor.reset(record.domain);
    else await core.options.hypervisor.start(record.domain);
  });
}

/** Lease over: powered off (ACPI, then forced) and kept, disk and GPUs included. */
export async function expire(core: VmCore, actor: string, id: string): Promise<Vm> {
  return await core.operate(actor, id, "expire", { type: "expire" }, async (record, detail) => {
    detail.outcome = await core.powerOff(record, { force: false });
  });
}

/** Lease renewed within the retention period: started again. */
export async function renew(core: VmCore, actor: string, id: string): Promise<Vm> {
  return await core.operate(actor, id, "renew", { type: "renew" }, async (record) => {
    await core.options.hypervisor.start(record.domain);
  });
}

/**
 * Powers off, undefines, removes the VM's disk and files (unless
 * `keepData`, which keeps its directory), releases its GPUs; keeps the
 * record as `deleted`.
 */
export async function deleteVm(
  core: VmCore,
  actor: string,
  id: string,
  options: { keepData: boolean },
): Promise<Vm> {
  return await core.operate(actor, id, "delete", { type: "delete" }, async (record, detail) => {
    try {
      await core.options.hypervisor.undefine(record.domain);
    } catch (error) {
      if (!(error instanceof HypervisorError && error.kind === "not_found")) throw error;
      detail.domain = "already gone";
    }
    if (options.keepData) {
      detail.kept = core.vmPath(record.id);
      // The disk is kept for its data; the seed is of no use without the domain, and holds the
      // password in clear.
      await Deno.remove(`${core.vmPath(record.id)}/${VM_FILES.seed}`).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    } else {
      await Deno.remove(core.vmPath(record.id), { recursive: true }).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
      // They lived inside the disk just removed.
      detail.snapshots_removed = core.snapshots.deleteAll(record.id);
    }
    detail.gpus_released = core.options.gpus.releaseGpus(record.id, "vm");
  });
}

/** {@link InstanceDriver}: every VM that is not deleted, as its record says. */
export function summaries(core: VmCore): Vm[] {
  return core.store.list({ includeDeleted: false }).map((record) => core.view(record));
}

/** The record with what libvirt says about the domain now. */
export async function get(core: VmCore, id: string): Promise<VmDetail> {
  const record = core.record(id);
  let hypervisor: VmHypervisorView;
  if (record.state === "deleted") {
    hypervisor = { state: "missing" };
  } else {
    try {
      const details = await core.options.hypervisor.details(record.domain);
      hypervisor = details
        ? {
          state: "present",
          status: details.state,
          vcpus: details.vcpus,
          memory_kib: details.memoryKib,
          disks: details.disks,
          vnc_port: details.vncPort,
          addresses: details.addresses,
        }
        : { state: "missing" };
      if (details) core.observe(record, details.state);
    } catch (error) {
      hypervisor = { state: "unavailable", reason: (error as Error).message };
    }
  }
  const fresh = core.record(id);
  return { ...core.view(fresh), credentials: credentials(fresh), hypervisor };
}

/** Every VM; records are brought up to date with one `virsh list` first (when libvirt answers). */
export async function list(core: VmCore, options: { includeDeleted: boolean }): Promise<Vm[]> {
  try {
    const domains = new Map(
      (await core.options.hypervisor.list()).map((domain) => [domain.name, domain.state]),
    );
    for (const record of core.store.list({ includeDeleted: false })) {
      if (record.state === "creating" || core.hasQueued(record.id)) continue;
      const observed = domains.get(record.domain);
      // A vanished domain is for reconciliation to judge; here only running/stopped flips.
      if (observed !== undefined) core.observe(record, observed);
    }
  } catch (error) {
    core.log.warn("cannot refresh VM states from libvirt", { error: (error as Error).message });
  }
  return core.store.list(options).map((record) => core.view(record));
}

/** The guest's console output (its serial port), head or tail. */
/** A running VM's counters now (409 when it is not running, 404 when libvirt has no domain). */
export async function usage(core: VmCore, id: string): Promise<InstanceUsage> {
  const record = core.record(id);
  if (record.state !== "running") {
    throw new RpcError("conflict", `VM ${id} is ${record.state}, not running`);
  }
  let reading: DomainUsage | undefined;
  try {
    reading = await core.options.hypervisor.usage(record.domain);
  } catch (error) {
    throw toRpcError(error);
  }
  if (!reading) throw new RpcError("not_found", `VM ${id} has no domain ${record.domain}`);
  return {
    id,
    kind: "vm",
    at: core.options.now(),
    cpu_time_ns: reading.cpuTimeNs,
    cpus: reading.vcpus,
    memory_used_bytes: reading.memoryUsedBytes,
    memory_limit_bytes: reading.memoryLimitBytes,
    net_rx_bytes: reading.netRxBytes,
    net_tx_bytes: reading.netTxBytes,
    disk_read_bytes: reading.diskReadBytes,
    disk_write_bytes: reading.diskWriteBytes,
  };
}

export async function logs(
  core: VmCore,
  id: string,
  from: "head" | "tail",
  lines: number,
): Promise<{ lines: string[]; truncated: boolean }> {
  const record = core.record(id);
  const path = `${core.vmPath(record.id)}/${VM_FILES.console}`;
  let text: string;
  let cut = false;
  try {
    using file = await Deno.open(path, { read: true });
    const size = (await file.stat()).size;
    const length = Math.min(size, MAX_CONSOLE_READ_BYTES);
    if (from === "tail" && size > length) {
      await file.seek(size - length, Deno.SeekMode.Start);
      cut = true;
    } else if (from === "head" && size > length) {
      cut = true;
    }
    const buffer = new Uint8Array(length);
    let read = 0;
    while (read < length) {
      const n = await file.read(buffer.subarray(read));
      if (n === null) break;
      read += n;
    }
    text = new TextDecoder().decode(buffer.subarray(0, read));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { lines: [], truncated: false };
    throw error;
  }
  let all = text.split("\n").map(cleanConsoleLine);
  if (all.at(-1) === "") all = all.slice(0, -1);
  // A cut through the middle of the file leaves a partial first (tail) or last (head) line.
  if (cut) all = from === "tail" ? all.slice(1) : all.slice(0, -1);
  const picked = from === "tail" ? all.slice(-lines) : all.slice(0, lines);
  return { lines: picked, truncated: cut || picked.length < all.length };
}

/** The login details of a VM's detail view; null where the node set none up. */
function credentials(record: VmRecord): VmCredentials | null {
  const login = record.spec.guest_login;
  if (!login) return null;
  return {
    user: login.user,
    password: login.password,
    password_ssh: login.password_ssh,
    ssh_keys: login.ssh_keys,
  };
}

/** Strips carriage returns and terminal escape sequences a guest console is full of. */
function cleanConsoleLine(line: string): string {
  // deno-lint-ignore no-control-regex
  return line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
}
