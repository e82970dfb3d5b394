/**
 * The VM service's shared machinery, folder-internal: the options, the
 * per-VM operation queue, and the helpers that several of its parts use
 * (create.ts, lifecycle.ts, snapshots.ts, modify.ts, repair.ts). The rest
 * of the node goes through the façade, VmService (service.ts).
 *
 * Operations on one VM run one at a time (a per-VM queue), so a stop and a
 * delete of the same VM never interleave. Every operation, whatever its
 * outcome, goes to the event log (a password never does).
 */
import {
  type DatabaseSync,
  type GpuReport,
  type Logger,
  RpcError,
  silentLogger,
  type Vm,
} from "../../mod/mod.ts";
import {
  buildDomainXml,
  type DomainState,
  type DomainType,
  type Hypervisor,
  LOGIN_GUEST_PORT,
} from "./libvirt/mod.ts";
import type { EventLog } from "../event_log.ts";
import { RecordWaiters } from "../record_waiters.ts";
import type { DiskGuard, PortKey, PortRange } from "../host/mod.ts";
import type { GpuAllocator } from "../gpu/mod.ts";
import type { ImageStore, ReadyImage } from "./images/mod.ts";
import { domainNetwork, type VmNetworkSetting } from "./config.ts";
import { chmodIfOwned, DEFAULT_SHUTDOWN_TIMEOUT_MS, VM_DIR_MODE, VM_FILES } from "./constants.ts";
import { stoppedOnlyRefusal } from "./modify_plan.ts";
import { VmSnapshotStore } from "./snapshot_store.ts";
import { type InstanceEvent, nextInstanceState } from "../instances.ts";
import { observedVmState } from "./state.ts";
import { type VmRecord, type VmSpec, VmStore } from "./store.ts";
import { errorText, toRpcError } from "./vm_helpers.ts";

export type VmServiceOptions = {
  db: DatabaseSync;
  events: EventLog;
  hypervisor: Hypervisor;
  images: ImageStore;
  gpus: GpuAllocator;
  /** The GPU inventory now (nvidia-smi), asked only when a request wants GPUs. */
  gpuReport: () => Promise<GpuReport>;
  vmDir: string;
  domainType: DomainType;
  network: VmNetworkSetting;
  /** Host address that forwarded login ports and VNC listen on. */
  listenAddress: string;
  loginPorts: PortRange;
  /** Host ports in use now (the kernel's socket tables), so a taken one is never handed out. */
  listeningPorts: () => Promise<ReadonlySet<PortKey>>;
  /** The user a renter logs in to a Linux guest as (cloud-init makes it, with sudo). */
  loginUser: string;
  /** Prefix of every domain name this service makes; reconciliation looks only at these. */
  domainPrefix: string;
  /** Refuses what would eat into the VM volume's reserve of free space (none: no check). */
  diskGuard?: DiskGuard;
  /**
   * Why this host cannot run VMs now (a VM or image directory QEMU cannot
   * reach, KVM unusable for kvm domains: host/facts.ts), asked before a
   * create writes anything; none: no check.
   */
  hostRefusal?: () => Promise<string | undefined>;
  /**
   * The renter's private network named at create (node_service/lan/): its id and libvirt network;
   * throws (not found) for a name the owner has not made. None: no VM may ask for one.
   */
  lanAttachment?: (
    owner: string,
    name: string,
  ) => { id: string; name: string; network: string; mtu: number };
  now: () => number;
  log?: Logger;
};

export type StopOptions = { force: boolean; timeoutMs?: number };

/** The operations requested of a VM, as the event log names them (`vm.<operation>`). */
type VmOperation = "start" | "stop" | "restart" | "reset" | "delete" | "expire" | "renew";

export class VmCore {
  readonly options: VmServiceOptions;
  readonly log: Logger;
  readonly store: VmStore;
  readonly snapshots: VmSnapshotStore;
  #queues = new Map<string, Promise<unknown>>();
  /** Work that outlives the operation that started it (a shutdown's watch), stopped by close. */
  #watches = new Set<Promise<void>>();
  #closing = new AbortController();
  /** VMs this service is creating now; a record in `creating` not among them was cut short. */
  readonly creating = new Set<string>();
  /** Who waits for a create's record (the HTTP API, before it answers 202). */
  readonly recordWaiters = new RecordWaiters((id) => this.store.get(id) !== undefined);

  constructor(options: VmServiceOptions) {
    this.options = options;
    this.log = options.log ?? silentLogger;
    this.store = new VmStore(options.db, options.now);
    this.snapshots = new VmSnapshotStore(options.db);
    Deno.mkdirSync(options.vmDir, { recursive: true, mode: VM_DIR_MODE });
    chmodIfOwned(options.vmDir, VM_DIR_MODE);
  }

  /** Whether an operation on this VM is queued or running now. */
  hasQueued(id: string): boolean {
    return this.#queues.has(id);
  }

  /** The directory holding one VM's disk, console log and domain XML. */
  vmPath(id: string): string {
    return `${this.options.vmDir}/${id}`;
  }

  diskPath(id: string): string {
    return `${this.vmPath(id)}/${VM_FILES.disk}`;
  }

  record(id: string): VmRecord {
    const record = this.store.get(id);
    if (!record) throw new RpcError("not_found", `no VM ${id} on this node`);
    return record;
  }

  /** The record, after what libvirt says now (the guest may have powered itself off). */
  async freshRecord(id: string): Promise<VmRecord> {
    const record = this.record(id);
    if (record.state !== "running" && record.state !== "stopped") return record;
    const observed = await this.options.hypervisor.state(record.domain).catch(() => undefined);
    if (observed === undefined) return record;
    this.observe(record, observed);
    return this.record(id);
  }

  /** The domain XML of a VM as its record describes it now; create and modify both define it. */
  domainXml(record: VmRecord): string {
    const dir = this.vmPath(record.id);
    const { spec } = record;
    const boot = spec.direct_boot;
    return buildDomainXml({
      name: record.domain,
      uuid: spec.uuid,
      domainType: this.options.domainType,
      os: record.os,
      firmware: spec.firmware,
      vcpus: spec.cpu_cores,
      memoryMib: spec.memory_mib,
      diskPath: `${dir}/${VM_FILES.disk}`,
      seedDiskPath: spec.guest_login || spec.guest_script !== undefined
        ? `${dir}/${VM_FILES.seed}`
        : undefined,
      // Absent (not empty) without disks, so a VM made before data disks keeps its spec digest.
      dataDisks: spec.data_disks?.length
        ? spec.data_disks.map((disk) => ({ path: `${dir}/${disk.file}`, target: disk.name }))
        : undefined,
      directBoot: boot
        ? {
          kernelPath: this.readyImage(boot.kernel_image).path,
          initrdPath: boot.initrd_image === null
            ? undefined
            : this.readyImage(boot.initrd_image).path,
          cmdline: boot.cmdline,
        }
        : undefined,
      gpuBusIds: this.options.gpus.heldBy(record.id, "vm").map((gpu) => gpu.pci_bus_id),
      // The record's network, not the configuration's: an operator's change applies to new VMs.
      network: domainNetwork(
        networkSetting(spec.network),
        record.loginPort === null ? undefined : {
          hostAddress: spec.listen_address,
          hostPort: record.loginPort,
          guestPort: LOGIN_GUEST_PORT[record.os],
        },
        (spec.custom_ports ?? []).map((port) => ({
          protocol: port.protocol,
          hostAddress: spec.listen_address,
          hostPort: port.host_port,
          guestPort: port.guest_port,
        })),
      ),
      macAddress: spec.mac_address,
      lanNic: spec.lan
        ? { network: spec.lan.network, macAddress: spec.lan.mac_address, mtu: spec.lan.mtu }
        : undefined,
      vnc: {
        listen: spec.listen_address,
        password: record.vncPassword,
        port: record.vncPort ?? undefined,
      },
      consoleLogPath: `${dir}/${VM_FILES.console}`,
      metadata: { instanceId: record.id, owner: record.owner },
    });
  }

  readyImage(name: string): ReadyImage {
    return this.options.images.ready(name);
  }

  /** Undoes a create that failed after its record was written; the record stays, `failed`. */
  async undoCreate(id: string, domain: string, defined: boolean, cause: unknown): Promise<void> {
    if (defined) {
      await this.options.hypervisor.undefine(domain).catch((error) =>
        this.log.error("cannot undefine a half-created VM", { domain, error: String(error) })
      );
    }
    await Deno.remove(this.vmPath(id), { recursive: true }).catch(() => {});
    this.options.gpus.releaseGpus(id, "vm");
    this.store.setState(id, "failed", errorText(cause));
  }

  /** Updates the record when libvirt's state implies another one. */
  observe(record: VmRecord, observed: DomainState): void {
    const next = observedVmState(record.state, observed);
    if (next === record.state) return;
    this.store.setState(record.id, next);
    this.options.events.record({
      actor: "node",
      action: "vm.observe",
      target: record.id,
      result: "ok",
      detail: { from: record.state, to: next, libvirt: observed },
    });
  }

  /** Runs one operation on one VM: queued behind others on it, checked, logged. */
  async operate(
    actor: string,
    id: string,
    operation: VmOperation,
    event: InstanceEvent,
    act: (record: VmRecord, detail: Record<string, unknown>) => Promise<void>,
  ): Promise<Vm> {
    return await this.queued(
      id,
      () =>
        this.logged(actor, `vm.${operation}`, id, async (detail) => {
          const record = await this.freshRecord(id);
          const transition = nextInstanceState(record.state, event);
          if (!transition.ok) {
            throw new RpcError("conflict", `cannot ${operation} VM ${id}: ${transition.reason}`);
          }
          await act(record, detail);
          return this.view(this.store.setState(id, transition.state, null));
        }),
    );
  }

  /**
   * Runs an operation that needs the VM stopped: queued behind others on it,
   * refused (conflict) in any other state as libvirt reports it now, logged.
   */
  async whileStopped<T>(
    actor: string,
    action: string,
    id: string,
    /** What is refused, for the message: `cannot <what> VM <id>: ...`. */
    what: string,
    work: (record: VmRecord, detail: Record<string, unknown>) => Promise<T>,
    requestDetail: Record<string, unknown>,
  ): Promise<T> {
    return await this.queued(
      id,
      () =>
        this.logged(actor, action, id, async (detail) => {
          const record = await this.freshRecord(id);
          const refusal = stoppedOnlyRefusal(record.state);
          if (refusal) throw new RpcError("conflict", `cannot ${what} VM ${id}: ${refusal}`);
          return await work(record, detail);
        }, requestDetail),
    );
  }

  /** Powers the guest off unless it is off already; says how it went. */
  async powerOff(record: VmRecord, options: StopOptions): Promise<string> {
    if (record.state !== "running") return "already_off";
    const timeoutMs = options.force ? 0 : (options.timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
    return await this.options.hypervisor.shutdown(record.domain, timeoutMs);
  }

  /**
   * Runs `work` after the operation that starts it has answered; `signal` aborts it when the
   * service closes. Its failure is logged: nobody waits for it.
   */
  watch(what: string, work: (signal: AbortSignal) => Promise<void>): void {
    const run = work(this.#closing.signal).catch((error) =>
      this.log.error(`${what} failed`, { error: errorText(error) })
    ).finally(() => this.#watches.delete(run));
    this.#watches.add(run);
  }

  /** Stops the watches under way and waits for them (before the database closes). */
  async close(): Promise<void> {
    this.#closing.abort();
    await Promise.all([...this.#watches]);
  }

  async queued<T>(id: string, work: () => Promise<T>): Promise<T> {
    const before = this.#queues.get(id) ?? Promise.resolve();
    const run = before.catch(() => {}).then(work);
    this.#queues.set(id, run);
    try {
      return await run;
    } finally {
      if (this.#queues.get(id) === run) this.#queues.delete(id);
    }
  }

  /** Runs `work`, records its outcome in the event log, and turns failures into RpcErrors. */
  async logged<T>(
    actor: string,
    action: string,
    target: string,
    work: (detail: Record<string, unknown>) => Promise<T>,
    requestDetail: Record<string, unknown> = {},
  ): Promise<T> {
    const detail: Record<string, unknown> = { ...requestDetail };
    const startedAt = this.options.now();
    try {
      const result = await work(detail);
      this.options.events.record({ actor, action, target, result: "ok", detail, startedAt });
      return result;
    } catch (error) {
      const rpcError = toRpcError(error);
      this.options.events.record({
        actor,
        action,
        target,
        result: "error",
        detail: { ...detail, code: rpcError.code, error: rpcError.message },
        startedAt,
      });
      throw rpcError;
    }
  }

  view(record: VmRecord): Vm {
    const devices = record.state === "deleted" ? [] : this.options.gpus.heldBy(record.id, "vm");
    return {
      id: record.id,
      kind: "vm",
      owner: record.owner,
      state: record.state,
      gpus: devices.map((gpu) => gpu.gpu_uuid),
      created_at: record.createdAt,
      updated_at: record.updatedAt,
      last_error: record.lastError,
      domain: record.domain,
      os: record.os,
      image: record.image,
      cpu_cores: record.spec.cpu_cores,
      memory_mib: record.spec.memory_mib,
      disk_gib: record.spec.disk_gib,
      firmware: record.spec.firmware,
      gpu_devices: devices.map((gpu) => ({
        index: gpu.gpu_index,
        uuid: gpu.gpu_uuid,
        pci_bus_id: gpu.pci_bus_id,
      })),
      network: record.spec.network,
      login: record.loginPort === null ? null : {
        protocol: record.os === "windows" ? "rdp" : "ssh",
        host: record.spec.listen_address,
        port: record.loginPort,
      },
      vnc: {
        listen: record.spec.listen_address,
        port: record.vncPort,
        password: record.vncPassword,
      },
      desc: record.spec.desc ?? "",
      custom_ports: record.spec.custom_ports ?? [],
      data_disks: (record.spec.data_disks ?? []).map(({ name, size_gib }) => ({ name, size_gib })),
      ...(record.spec.lan
        ? {
          lan: { network_name: record.spec.lan.name, mac_address: record.spec.lan.mac_address },
        }
        : {}),
    };
  }
}

/** The network setting a VM was created with, from its record. */
function networkSetting(view: VmSpec["network"]): VmNetworkSetting {
  switch (view.mode) {
    case "user":
      return { mode: "user" };
    case "bridge":
      return { mode: "bridge", bridge: view.source ?? "" };
    case "network":
      return { mode: "network", network: view.source ?? "" };
  }
}
