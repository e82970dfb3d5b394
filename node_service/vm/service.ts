/**
 * The VM service: turns typed requests into VMs and back. Create runs
 * validate request -> check images -> allocate GPUs -> seed disk (Linux:
 * the login user, keys and password for cloud-init) -> qcow2 overlay ->
 * domain XML -> define (libvirt validates the XML against its schema) ->
 * start; a failure at any step undoes the steps before it. Every operation,
 * whatever its outcome, goes to the event log (a password never does).
 *
 * Operations on one VM run one at a time (a per-VM queue), so a stop and a
 * delete of the same VM never interleave.
 *
 * Modify and snapshots (take, restore, delete) need the VM stopped
 * (vm_modify.ts says why) and work on its disk with qemu-img (vm_disk.ts);
 * listing snapshots works in any state. A modify is checked in full first,
 * then applied in the order that can be undone: the new definition (the old
 * one is put back when a later step fails), the disk grown (never shrunk),
 * and the record last, so a failure half-way leaves the VM as it was (but
 * for a disk already grown, which stays so). A crash half-way through any
 * of these (or a create) is set right at the next start: `reconcile` makes
 * libvirt, the VM's files and its disk agree with the record (vm_repair.ts).
 */
import {
  type DatabaseSync,
  type GpuReport,
  type Logger,
  RpcError,
  silentLogger,
  transaction,
  type Vm,
  VM_LIMITS,
  type VmCreateRequest,
  type VmCredentials,
  type VmDetail,
  type VmHypervisorView,
  type VmModifyRequest,
  type VmSnapshot,
} from "../../mod/mod.ts";
import {
  buildDomainXml,
  DomainSpecError,
  type DomainState,
  type DomainType,
  type Hypervisor,
  HypervisorError,
  LOGIN_GUEST_PORT,
} from "./libvirt/mod.ts";
import type { EventLog } from "../event_log.ts";
import type { DiskGuard } from "../host/mod.ts";
import { GpuAllocationError, type GpuAllocator, type GpuWant } from "../gpu/mod.ts";
import { ImageError, type ImageStore, type ReadyImage } from "./images/mod.ts";
import { buildSeedImage } from "./cloud_init/mod.ts";
import { reconcile, type ReconcileFinding } from "./reconcile.ts";
import { pickFreePort, type PortKey, portKey, type PortRange } from "../host/mod.ts";
import { domainNetwork, type VmNetworkSetting } from "./config.ts";
import {
  chmodIfOwned,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  GENERATED_PASSWORD_LENGTH,
  MAX_CONSOLE_READ_BYTES,
  VM_DIR_MODE,
  VM_FILES,
} from "./constants.ts";
import {
  applyDiskSnapshot,
  createDiskSnapshot,
  createOverlay,
  deleteDiskSnapshot,
  type DiskInfo,
  diskInfo,
  growDisk,
} from "./disk.ts";
import { ModifyRefused, planModify, stoppedOnlyRefusal } from "./modify_plan.ts";
import {
  planVmRepairs,
  unownedDirectories,
  type VmReconcileNote,
  type VmRepair,
  type VmRepairInput,
} from "./repair_plan.ts";
import { VmSnapshotStore } from "./snapshot_store.ts";
import { type InstanceDriver, type InstanceEvent, nextInstanceState } from "../instances.ts";
import { observedVmState } from "./state.ts";
import { type VmRecord, type VmSpec, VmStore } from "./store.ts";

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
   * reach, KVM unusable for kvm domains: host_facts.ts), asked before a
   * create writes anything; none: no check.
   */
  hostRefusal?: () => Promise<string | undefined>;
  now: () => number;
  log?: Logger;
};

export type StopOptions = { force: boolean; timeoutMs?: number };

/** What start-up reconciliation found, repaired, or could not check. */
export type ReconcileReport = ReconcileFinding | VmRepair | VmReconcileNote;

const GIB = 2 ** 30;

const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

/** The operations requested of a VM, as the event log names them (`vm.<operation>`). */
type VmOperation = "start" | "stop" | "restart" | "reset" | "delete" | "expire" | "renew";

export class VmService implements InstanceDriver {
  readonly kind = "vm" as const;
  readonly store: VmStore;
  readonly snapshots: VmSnapshotStore;
  #options: VmServiceOptions;
  #log: Logger;
  #queues = new Map<string, Promise<unknown>>();
  /** VMs this service is creating now; a record in `creating` not among them was cut short. */
  #creating = new Set<string>();

  constructor(options: VmServiceOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
    this.store = new VmStore(options.db, options.now);
    this.snapshots = new VmSnapshotStore(options.db);
    Deno.mkdirSync(options.vmDir, { recursive: true, mode: VM_DIR_MODE });
    chmodIfOwned(options.vmDir, VM_DIR_MODE);
  }

  /** Creates (and by default starts) a VM; resolves once libvirt reports it running. */
  async create(request: VmCreateRequest): Promise<Vm> {
    const id = request.id ?? newVmId();
    if (this.store.get(id)) throw new RpcError("conflict", `a VM with id ${id} already exists`);
    const domain = `${this.#options.domainPrefix}${id}`;
    return await this.#logged(request.actor, "vm.create", id, async (detail) => {
      // Before anything is written: libvirt would otherwise fail half-way through.
      const refusal = await this.#options.hostRefusal?.();
      if (refusal !== undefined) throw new RpcError("unavailable", refusal);
      const owner = request.owner ?? request.actor;
      const guestLogin = this.#guestLogin(request);
      // What was asked for, never the password itself.
      if (guestLogin) {
        detail.login = {
          user: guestLogin.user,
          ssh_keys: guestLogin.ssh_keys.length,
          password: request.password === undefined ? "generated" : "given",
          password_ssh: guestLogin.password_ssh,
        };
      }
      const base = this.#readyImage(request.image);
      // Checked now, before anything is written; the domain XML reads them again.
      if (request.direct_boot) this.#readyImage(request.direct_boot.kernel_image);
      if (request.direct_boot?.initrd_image) this.#readyImage(request.direct_boot.initrd_image);
      const diskBytes = request.disk_gib === undefined ? undefined : request.disk_gib * GIB;
      if (diskBytes !== undefined && diskBytes < base.virtualSizeBytes) {
        throw new RpcError(
          "invalid_params",
          `disk_gib ${request.disk_gib} is smaller than image ${base.name} (${base.virtualSizeBytes} bytes)`,
        );
      }
      const want = gpuWant(request.gpus);
      const inventory = wantsGpus(want) ? await this.#gpuInventory() : [];
      await this.#options.diskGuard?.require(this.#options.vmDir, 0, `a new VM (${id})`);
      const userNetwork = this.#options.network.mode === "user";
      const hostPorts = userNetwork ? await this.#options.listeningPorts() : new Set<PortKey>();

      // From here to the allocation nothing awaits, so two creates cannot pick the same port.
      const loginPort = userNetwork ? this.#loginPort(request.login_port, hostPorts) : null;
      const spec: VmSpec = {
        uuid: crypto.randomUUID(),
        cpu_cores: request.cpu_cores,
        memory_mib: request.memory_mib,
        disk_gib: request.disk_gib ?? null,
        firmware: request.firmware,
        mac_address: randomMac(),
        network: networkView(this.#options.network),
        listen_address: this.#options.listenAddress,
        direct_boot: request.direct_boot
          ? {
            kernel_image: request.direct_boot.kernel_image,
            initrd_image: request.direct_boot.initrd_image ?? null,
            cmdline: request.direct_boot.cmdline,
          }
          : null,
        ...(guestLogin ? { guest_login: guestLogin } : {}),
      };
      // The record and its GPUs land together, or neither does.
      transaction(this.#options.db, () => {
        this.store.insert({
          id,
          domain,
          owner,
          state: "creating",
          os: request.os,
          image: request.image,
          loginPort,
          vncPort: request.vnc_port ?? null,
          vncPassword: randomVncPassword(),
          spec,
          lastError: null,
        });
        return this.#options.gpus.allocateGpus(id, "vm", want, inventory);
      });

      const dir = this.#vmPath(id);
      let defined = false;
      // Reconciliation running meanwhile must not take this create for one a restart cut short.
      this.#creating.add(id);
      try {
        await Deno.mkdir(dir, { mode: VM_DIR_MODE });
        await Deno.chmod(dir, VM_DIR_MODE);
        if (guestLogin) {
          const seed = buildSeedImage({
            instanceId: id,
            hostname: id,
            login: {
              user: guestLogin.user,
              password: guestLogin.password,
              sshKeys: guestLogin.ssh_keys,
              passwordSsh: guestLogin.password_ssh,
            },
          });
          // Only the node's user reads it; libvirt hands it to QEMU's user when the guest starts.
          await Deno.writeFile(`${dir}/${VM_FILES.seed}`, seed, { mode: 0o600 });
        }
        await createOverlay(base, `${dir}/${VM_FILES.disk}`, diskBytes);
        const xml = this.#domainXml(this.store.get(id)!);
        await Deno.writeTextFile(`${dir}/${VM_FILES.domainXml}`, xml, { mode: 0o600 });
        await this.#options.hypervisor.define(`${dir}/${VM_FILES.domainXml}`);
        defined = true;
        if (request.start) await this.#options.hypervisor.start(domain);
      } catch (error) {
        await this.#undoCreate(id, domain, defined, error);
        throw error;
      } finally {
        // Nothing awaits between here and the record's new state.
        this.#creating.delete(id);
      }
      const state = request.start ? "running" : "stopped";
      return this.#view(this.store.setState(id, state));
    }, { image: request.image, cpu_cores: request.cpu_cores, memory_mib: request.memory_mib });
  }

  /** Starts a stopped VM; a running one is left as it is. */
  async start(actor: string, id: string): Promise<Vm> {
    return await this.#operate(actor, id, "start", { type: "start" }, async (record) => {
      if (record.state !== "running") await this.#options.hypervisor.start(record.domain);
    });
  }

  /** ACPI power-off, forced when the guest has not gone off after the time-out (or at once with `force`). */
  async stop(actor: string, id: string, options: StopOptions = { force: false }): Promise<Vm> {
    return await this.#operate(actor, id, "stop", { type: "stop" }, async (record, detail) => {
      detail.outcome = await this.#powerOff(record, options);
    });
  }

  /** Reboots a running guest (ACPI); starts a stopped one. */
  async restart(actor: string, id: string): Promise<Vm> {
    return await this.#operate(actor, id, "restart", { type: "restart" }, async (record) => {
      if (record.state === "running") await this.#options.hypervisor.reboot(record.domain);
      else await this.#options.hypervisor.start(record.domain);
    });
  }

  /** Hard reset of a running guest; starts a stopped one. */
  async reset(actor: string, id: string): Promise<Vm> {
    return await this.#operate(actor, id, "reset", { type: "restart" }, async (record) => {
      if (record.state === "running") await this.#options.hypervisor.reset(record.domain);
      else await this.#options.hypervisor.start(record.domain);
    });
  }

  /** Lease over: powered off (ACPI, then forced) and kept, disk and GPUs included. */
  async expire(actor: string, id: string): Promise<Vm> {
    return await this.#operate(actor, id, "expire", { type: "expire" }, async (record, detail) => {
      detail.outcome = await this.#powerOff(record, { force: false });
    });
  }

  /** Lease renewed within the retention period: started again. */
  async renew(actor: string, id: string): Promise<Vm> {
    return await this.#operate(actor, id, "renew", { type: "renew" }, async (record) => {
      await this.#options.hypervisor.start(record.domain);
    });
  }

  /**
   * Powers off, undefines, removes the VM's disk and files (unless
   * `keepData`, which keeps its directory), releases its GPUs; keeps the
   * record as `deleted`.
   */
  async delete(actor: string, id: string, options = { keepData: false }): Promise<Vm> {
    return await this.#operate(actor, id, "delete", { type: "delete" }, async (record, detail) => {
      try {
        await this.#options.hypervisor.undefine(record.domain);
      } catch (error) {
        if (!(error instanceof HypervisorError && error.kind === "not_found")) throw error;
        detail.domain = "already gone";
      }
      if (options.keepData) {
        detail.kept = this.#vmPath(record.id);
        // The disk is kept for its data; the seed is of no use without the domain, and holds the
        // password in clear.
        await Deno.remove(`${this.#vmPath(record.id)}/${VM_FILES.seed}`).catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
      } else {
        await Deno.remove(this.#vmPath(record.id), { recursive: true }).catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
        // They lived inside the disk just removed.
        detail.snapshots_removed = this.snapshots.deleteAll(record.id);
      }
      detail.gpus_released = this.#options.gpus.releaseGpus(record.id, "vm");
    });
  }

  /** {@link InstanceDriver}: deletion by another name. */
  remove(actor: string, id: string, options: { keepData: boolean }): Promise<Vm> {
    return this.delete(actor, id, options);
  }

  /** {@link InstanceDriver}: every VM that is not deleted, as its record says. */
  summaries(): Vm[] {
    return this.store.list({ includeDeleted: false }).map((record) => this.#view(record));
  }

  /** The record with what libvirt says about the domain now. */
  async get(id: string): Promise<VmDetail> {
    const record = this.#record(id);
    let hypervisor: VmHypervisorView;
    if (record.state === "deleted") {
      hypervisor = { state: "missing" };
    } else {
      try {
        const details = await this.#options.hypervisor.details(record.domain);
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
        if (details) this.#observe(record, details.state);
      } catch (error) {
        hypervisor = { state: "unavailable", reason: (error as Error).message };
      }
    }
    const fresh = this.#record(id);
    return { ...this.#view(fresh), credentials: credentials(fresh), hypervisor };
  }

  /** Every VM; records are brought up to date with one `virsh list` first (when libvirt answers). */
  async list(options: { includeDeleted: boolean }): Promise<Vm[]> {
    try {
      const domains = new Map(
        (await this.#options.hypervisor.list()).map((domain) => [domain.name, domain.state]),
      );
      for (const record of this.store.list({ includeDeleted: false })) {
        if (record.state === "creating" || this.#queues.has(record.id)) continue;
        const observed = domains.get(record.domain);
        // A vanished domain is for reconciliation to judge; here only running/stopped flips.
        if (observed !== undefined) this.#observe(record, observed);
      }
    } catch (error) {
      this.#log.warn("cannot refresh VM states from libvirt", { error: (error as Error).message });
    }
    return this.store.list(options).map((record) => this.#view(record));
  }

  /** The guest's console output (its serial port), head or tail. */
  async logs(
    id: string,
    from: "head" | "tail",
    lines: number,
  ): Promise<{ lines: string[]; truncated: boolean }> {
    const record = this.#record(id);
    const path = `${this.#vmPath(record.id)}/${VM_FILES.console}`;
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

  /**
   * New CPU cores, memory, disk size (grow only) or login port of a stopped
   * VM. Checked in full before anything changes; then the new definition,
   * the disk, and the record, each step undone when a later one fails.
   */
  async modify(request: VmModifyRequest): Promise<Vm> {
    const { actor, id, ...wanted } = request;
    return await this.#whileStopped(actor, "vm.modify", id, "modify", async (record, detail) => {
      const disk = this.#diskPath(id);
      const { virtualSizeBytes } = await diskInfo(disk);
      const portChanges = wanted.login_port !== undefined && wanted.login_port !== record.loginPort;
      const hostPorts = portChanges && record.loginPort !== null
        ? await this.#options.listeningPorts()
        : new Set<PortKey>();
      const otherVms = this.store.loginPortsInUse();
      if (record.loginPort !== null) otherVms.delete(record.loginPort);
      const plan = planModify(
        {
          state: record.state,
          spec: record.spec,
          loginPort: record.loginPort,
          diskBytes: virtualSizeBytes,
        },
        wanted,
        { otherVms, host: hostPorts },
      );
      detail.changes = plan.changes;
      if (Object.keys(plan.changes).length === 0) return this.#view(record);
      if (plan.growDiskTo !== undefined) {
        await this.#options.diskGuard?.require(this.#options.vmDir, 0, `growing VM ${id}'s disk`);
      }

      const xmlPath = `${this.#vmPath(id)}/${VM_FILES.domainXml}`;
      const nextXmlPath = `${xmlPath}.next`;
      const xml = this.#domainXml({ ...record, spec: plan.spec, loginPort: plan.loginPort });
      await Deno.writeTextFile(nextXmlPath, xml, { mode: 0o600 });
      try {
        await this.#options.hypervisor.define(nextXmlPath);
      } catch (error) {
        await Deno.remove(nextXmlPath).catch(() => {});
        throw error;
      }
      let updated: VmRecord;
      try {
        if (plan.growDiskTo !== undefined) await growDisk(disk, plan.growDiskTo);
        // The unique index refuses a login port that a create took meanwhile.
        updated = this.store.modify(id, plan.spec, plan.loginPort);
      } catch (error) {
        // domain.xml still holds the definition from before: put it back. A disk already grown
        // stays so (harmless: the guest sees more room, and the next modify measures the disk).
        await this.#options.hypervisor.define(xmlPath).catch((undo) => {
          detail.undo_error = errorText(undo);
          this.#log.error("cannot restore a VM's definition after a failed modify", {
            id,
            error: errorText(undo),
          });
        });
        await Deno.remove(nextXmlPath).catch(() => {});
        throw error;
      }
      // Only a copy of what libvirt now holds; a failure here must not fail a modify that is done.
      await Deno.rename(nextXmlPath, xmlPath).catch((error) =>
        this.#log.warn("cannot keep the VM's new domain XML", { id, error: errorText(error) })
      );
      return this.#view(updated);
    }, { ...wanted });
  }

  /** Takes an internal snapshot of a stopped VM's disk. */
  async snapshotCreate(
    actor: string,
    id: string,
    name: string,
    description: string,
  ): Promise<VmSnapshot> {
    return await this.#whileStopped(
      actor,
      "vm.snapshot_create",
      id,
      "take a snapshot of",
      async (_record, detail) => {
        if (this.snapshots.get(id, name)) {
          throw new RpcError("conflict", `VM ${id} has a snapshot named ${name} already`);
        }
        const count = this.snapshots.count(id);
        if (count >= VM_LIMITS.maxSnapshotsPerVm) {
          throw new RpcError(
            "conflict",
            `VM ${id} has ${count} snapshots, the most it may have; delete one first`,
          );
        }
        await this.#options.diskGuard?.require(this.#options.vmDir, 0, `a snapshot of VM ${id}`);
        const disk = this.#diskPath(id);
        const info = await diskInfo(disk);
        // Left by a take that was interrupted before its record was written; qemu-img would
        // otherwise keep two snapshots of one name, and restore the older.
        if (info.snapshots.includes(name)) {
          await deleteDiskSnapshot(disk, name);
          detail.replaced_unrecorded = true;
        }
        await createDiskSnapshot(disk, name);
        try {
          return this.snapshots.insert({
            vm_id: id,
            name,
            description,
            disk_bytes: info.virtualSizeBytes,
            created_at: this.#options.now(),
            created_by: actor,
          });
        } catch (error) {
          await deleteDiskSnapshot(disk, name).catch(() => {});
          throw error;
        }
      },
      { name },
    );
  }

  /** A VM's snapshots, oldest first; in any state. */
  snapshotList(id: string): VmSnapshot[] {
    this.#record(id);
    return this.snapshots.list(id);
  }

  snapshotGet(id: string, name: string): VmSnapshot {
    this.#record(id);
    return this.#snapshot(id, name);
  }

  /**
   * Puts a stopped VM's disk back as the snapshot saw it. The VM keeps its
   * resources of now: CPU cores and memory are in its definition, which a
   * disk snapshot does not hold, and a disk grown since is grown again.
   */
  async snapshotRevert(actor: string, id: string, name: string): Promise<Vm> {
    return await this.#whileStopped(
      actor,
      "vm.snapshot_revert",
      id,
      "restore a snapshot of",
      async (record, detail) => {
        this.#snapshot(id, name);
        const disk = this.#diskPath(id);
        const before = await diskInfo(disk);
        if (!before.snapshots.includes(name)) {
          throw new RpcError(
            "not_found",
            `snapshot ${name} is recorded but no longer in VM ${id}'s disk; delete it`,
          );
        }
        await applyDiskSnapshot(disk, name);
        // qcow2 puts back the snapshot's disk size as well.
        const after = await diskInfo(disk);
        if (after.virtualSizeBytes < before.virtualSizeBytes) {
          await growDisk(disk, before.virtualSizeBytes);
          detail.regrown_to_bytes = before.virtualSizeBytes;
        }
        return this.#view(record);
      },
      { name },
    );
  }

  /** Deletes a stopped VM's snapshot (from its disk, then its record). */
  async snapshotDelete(
    actor: string,
    id: string,
    name: string,
  ): Promise<{ vm_id: string; name: string; deleted: true }> {
    return await this.#whileStopped(
      actor,
      "vm.snapshot_delete",
      id,
      "delete a snapshot of",
      async (_record, detail) => {
        this.#snapshot(id, name);
        try {
          await deleteDiskSnapshot(this.#diskPath(id), name);
        } catch (error) {
          if (!(error instanceof RpcError && error.code === "not_found")) throw error;
          detail.disk = "already gone";
        }
        this.snapshots.delete(id, name);
        return { vm_id: id, name, deleted: true as const };
      },
      { name },
    );
  }

  /**
   * Start-up reconciliation: brings the records' states up to date with
   * libvirt (reconcile.ts), undoes the creates a restart cut short, then makes
   * each VM's definition, files and disk agree with its record (vm_repair.ts).
   * Every finding and repair goes to the event log (`vm.reconcile`, actor
   * `node`). Each VM is repaired in its own queue, so a request for it that
   * arrives meanwhile waits. Throws when libvirt does not answer at all.
   */
  async reconcile(): Promise<ReconcileReport[]> {
    const domains = await this.#options.hypervisor.list();
    const findings = reconcile(
      this.store.list({ includeDeleted: false }).filter((record) => !this.#creating.has(record.id)),
      domains,
      this.#options.domainPrefix,
    );
    for (const finding of findings) {
      switch (finding.kind) {
        case "vanished":
          this.store.setState(
            finding.id,
            finding.to,
            `domain ${finding.domain} vanished from libvirt (found at start-up); delete the VM to free its resources`,
          );
          break;
        case "state_changed":
          this.store.setState(finding.id, finding.to);
          break;
        case "interrupted":
          // The renter never heard of this VM: it goes as a failed create goes, GPUs released.
          await this.#queued(
            finding.id,
            () =>
              this.#undoCreate(
                finding.id,
                finding.domain,
                finding.observed !== null,
                new Error(
                  "creation was interrupted by a node restart; what it had made is removed",
                ),
              ),
          );
          break;
        case "appeared":
          break;
      }
      this.#options.events.record({
        actor: "node",
        action: "vm.reconcile",
        target: "id" in finding ? finding.id : finding.domain,
        result: finding.kind === "vanished" || finding.kind === "interrupted" ? "error" : "ok",
        detail: { ...finding },
      });
    }
    const report: ReconcileReport[] = [...findings];
    for (const record of this.store.list({ includeDeleted: false })) {
      if (record.state === "creating") continue;
      report.push(...await this.#queued(record.id, () => this.#repairVm(record.id)));
    }
    for (const name of await this.#unownedDirectories()) {
      const note: VmReconcileNote = { kind: "unowned_directory", path: this.#vmPath(name) };
      report.push(note);
      this.#reconcileEvent(note.path, "ok", note);
    }
    this.#log.info("reconciled VMs with libvirt", {
      records: this.store.list({ includeDeleted: false }).length,
      domains: domains.length,
      findings: findings.length,
      repairs_and_notes: report.length - findings.length,
    });
    return report;
  }

  /** Makes one VM's definition, files and disk agree with its record; returns what it did. */
  async #repairVm(id: string): Promise<ReconcileReport[]> {
    const record = this.store.get(id);
    if (!record || record.state === "deleted" || record.state === "creating") return [];
    const report: ReconcileReport[] = [];
    const unchecked = (what: "domain" | "definition" | "disk", error: unknown) => {
      const note: VmReconcileNote = { kind: "unchecked", id, what, error: errorText(error) };
      report.push(note);
      this.#reconcileEvent(id, "error", note);
      this.#log.warn("cannot check a VM against its record", { id, what, error: note.error });
    };
    let domainState: DomainState | undefined;
    let definedXml: string | undefined;
    try {
      domainState = await this.#options.hypervisor.state(record.domain);
      if (domainState !== undefined) {
        definedXml = await this.#options.hypervisor.definition(record.domain);
      }
    } catch (error) {
      // Without the domain's state, not even the disk is known to be safe to write.
      unchecked("domain", error);
      return report;
    }
    let wantedXml: string | undefined;
    try {
      wantedXml = this.#domainXml(record);
    } catch (error) {
      unchecked("definition", error);
    }
    const repairs = planVmRepairs({
      id,
      domainState,
      wantedXml,
      definedXml,
      files: await this.#vmFiles(id, (error) => unchecked("disk", error)),
      recordDiskBytes: record.spec.disk_gib === null ? null : record.spec.disk_gib * GIB,
      snapshotRecords: this.snapshots.list(id).map((snapshot) => snapshot.name),
    });
    for (const repair of repairs) {
      try {
        await this.#applyRepair(repair, wantedXml);
        report.push(repair);
        this.#reconcileEvent(id, "ok", repair);
        this.#log.info("repaired a VM after a restart", { ...repair });
      } catch (error) {
        const note: VmReconcileNote = {
          kind: "repair_failed",
          id,
          repair,
          error: errorText(error),
        };
        report.push(note);
        this.#reconcileEvent(id, "error", { ...repair, error: note.error });
        this.#log.error("cannot repair a VM after a restart", { ...repair, error: note.error });
      }
    }
    return report;
  }

  /** What is in a VM's directory; `undefined` when the directory is gone. */
  async #vmFiles(
    id: string,
    diskUnreadable: (error: unknown) => void,
  ): Promise<VmRepairInput["files"]> {
    const xmlPath = `${this.#vmPath(id)}/${VM_FILES.domainXml}`;
    if (!await pathExists(this.#vmPath(id))) return undefined;
    const xmlCopy = await Deno.readTextFile(xmlPath).catch((error) => {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    });
    let disk: DiskInfo | undefined;
    if (await pathExists(this.#diskPath(id))) {
      try {
        disk = await diskInfo(this.#diskPath(id));
      } catch (error) {
        diskUnreadable(error);
      }
    } else {
      diskUnreadable(new Error(`${this.#diskPath(id)} is missing`));
    }
    return { xmlCopy, nextXml: await pathExists(`${xmlPath}.next`), disk };
  }

  async #applyRepair(repair: VmRepair, wantedXml: string | undefined): Promise<void> {
    const xmlPath = `${this.#vmPath(repair.id)}/${VM_FILES.domainXml}`;
    const wanted = () => {
      if (wantedXml === undefined) throw new Error("no definition made from the record");
      return wantedXml;
    };
    switch (repair.kind) {
      case "definition_replaced":
        // The copy first: a crash before the define leaves a copy that is right, and a
        // definition that the next start still finds wrong.
        await Deno.writeTextFile(xmlPath, wanted(), { mode: 0o600 });
        await this.#options.hypervisor.define(xmlPath);
        return;
      case "xml_copy_rewritten":
        await Deno.writeTextFile(xmlPath, wanted(), { mode: 0o600 });
        return;
      case "next_xml_removed":
        await Deno.remove(`${xmlPath}.next`).catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
        return;
      case "disk_regrown":
        await growDisk(this.#diskPath(repair.id), repair.to_bytes);
        return;
      case "snapshot_record_dropped":
        this.snapshots.delete(repair.id, repair.name);
        return;
      case "snapshot_orphan_deleted":
        await deleteDiskSnapshot(this.#diskPath(repair.id), repair.name);
        return;
    }
  }

  /** Directories in the VM directory that no record owns. */
  async #unownedDirectories(): Promise<string[]> {
    const names: string[] = [];
    for await (const entry of Deno.readDir(this.#options.vmDir)) {
      if (entry.isDirectory) names.push(entry.name);
    }
    const ids = new Set(this.store.list({ includeDeleted: true }).map((record) => record.id));
    return unownedDirectories(names, ids);
  }

  #reconcileEvent(target: string, result: "ok" | "error", detail: Record<string, unknown>): void {
    this.#options.events.record({ actor: "node", action: "vm.reconcile", target, result, detail });
  }

  /** The directory holding one VM's disk, console log and domain XML. */
  #vmPath(id: string): string {
    return `${this.#options.vmDir}/${id}`;
  }

  #diskPath(id: string): string {
    return `${this.#vmPath(id)}/${VM_FILES.disk}`;
  }

  #record(id: string): VmRecord {
    const record = this.store.get(id);
    if (!record) throw new RpcError("not_found", `no VM ${id} on this node`);
    return record;
  }

  /** The record, after what libvirt says now (the guest may have powered itself off). */
  async #freshRecord(id: string): Promise<VmRecord> {
    const record = this.#record(id);
    if (record.state !== "running" && record.state !== "stopped") return record;
    const observed = await this.#options.hypervisor.state(record.domain).catch(() => undefined);
    if (observed === undefined) return record;
    this.#observe(record, observed);
    return this.#record(id);
  }

  #snapshot(id: string, name: string): VmSnapshot {
    const snapshot = this.snapshots.get(id, name);
    if (!snapshot) throw new RpcError("not_found", `no snapshot ${name} of VM ${id}`);
    return snapshot;
  }

  /** The domain XML of a VM as its record describes it now; create and modify both define it. */
  #domainXml(record: VmRecord): string {
    const dir = this.#vmPath(record.id);
    const { spec } = record;
    const boot = spec.direct_boot;
    return buildDomainXml({
      name: record.domain,
      uuid: spec.uuid,
      domainType: this.#options.domainType,
      os: record.os,
      firmware: spec.firmware,
      vcpus: spec.cpu_cores,
      memoryMib: spec.memory_mib,
      diskPath: `${dir}/${VM_FILES.disk}`,
      seedDiskPath: spec.guest_login ? `${dir}/${VM_FILES.seed}` : undefined,
      directBoot: boot
        ? {
          kernelPath: this.#readyImage(boot.kernel_image).path,
          initrdPath: boot.initrd_image === null
            ? undefined
            : this.#readyImage(boot.initrd_image).path,
          cmdline: boot.cmdline,
        }
        : undefined,
      gpuBusIds: this.#options.gpus.heldBy(record.id, "vm").map((gpu) => gpu.pci_bus_id),
      // The record's network, not the configuration's: an operator's change applies to new VMs.
      network: domainNetwork(
        networkSetting(spec.network),
        record.loginPort === null ? undefined : {
          hostAddress: spec.listen_address,
          hostPort: record.loginPort,
          guestPort: LOGIN_GUEST_PORT[record.os],
        },
      ),
      macAddress: spec.mac_address,
      vnc: {
        listen: spec.listen_address,
        password: record.vncPassword,
        port: record.vncPort ?? undefined,
      },
      consoleLogPath: `${dir}/${VM_FILES.console}`,
      metadata: { instanceId: record.id, owner: record.owner },
    });
  }

  /** The login a Linux guest gets from its seed disk; Windows gets none (and may ask for none). */
  #guestLogin(request: VmCreateRequest): VmSpec["guest_login"] {
    if (request.os !== "linux") {
      if (request.ssh_keys.length > 0 || request.password !== undefined) {
        throw new RpcError(
          "invalid_params",
          "ssh_keys and password are for Linux VMs (cloud-init); a Windows image brings its own login",
        );
      }
      return undefined;
    }
    return {
      user: this.#options.loginUser,
      password: request.password ?? randomPassword(),
      // A renter who gave keys and no password logs in with the keys alone; the generated
      // password then serves the console (VNC).
      password_ssh: request.password !== undefined || request.ssh_keys.length === 0,
      ssh_keys: [...request.ssh_keys],
    };
  }

  #readyImage(name: string): ReadyImage {
    return this.#options.images.ready(name);
  }

  async #gpuInventory() {
    const report = await this.#options.gpuReport();
    if (report.state !== "present") {
      throw new RpcError(
        "not_found",
        `GPUs asked for, but this node has none usable: ${report.reason}`,
      );
    }
    return report.gpus;
  }

  #loginPort(asked: number | undefined, hostPorts: ReadonlySet<PortKey>): number {
    const byVms = this.store.loginPortsInUse();
    if (asked !== undefined) {
      if (byVms.has(asked)) {
        throw new RpcError("conflict", `login port ${asked} is taken by another VM`);
      }
      if (hostPorts.has(portKey("tcp", asked))) {
        throw new RpcError("conflict", `login port ${asked} is in use on this host`);
      }
      return asked;
    }
    const taken = new Set([...hostPorts, ...[...byVms].map((port) => portKey("tcp", port))]);
    const port = pickFreePort(this.#options.loginPorts, "tcp", taken);
    if (port === undefined) {
      const { first, last } = this.#options.loginPorts;
      throw new RpcError("conflict", `no free login port in ${first}-${last}`);
    }
    return port;
  }

  /** Undoes a create that failed after its record was written; the record stays, `failed`. */
  async #undoCreate(id: string, domain: string, defined: boolean, cause: unknown): Promise<void> {
    if (defined) {
      await this.#options.hypervisor.undefine(domain).catch((error) =>
        this.#log.error("cannot undefine a half-created VM", { domain, error: String(error) })
      );
    }
    await Deno.remove(this.#vmPath(id), { recursive: true }).catch(() => {});
    this.#options.gpus.releaseGpus(id, "vm");
    this.store.setState(id, "failed", errorText(cause));
  }

  /** Updates the record when libvirt's state implies another one. */
  #observe(record: VmRecord, observed: DomainState): void {
    const next = observedVmState(record.state, observed);
    if (next === record.state) return;
    this.store.setState(record.id, next);
    this.#options.events.record({
      actor: "node",
      action: "vm.observe",
      target: record.id,
      result: "ok",
      detail: { from: record.state, to: next, libvirt: observed },
    });
  }

  /** Runs one operation on one VM: queued behind others on it, checked, logged. */
  async #operate(
    actor: string,
    id: string,
    operation: VmOperation,
    event: InstanceEvent,
    act: (record: VmRecord, detail: Record<string, unknown>) => Promise<void>,
  ): Promise<Vm> {
    return await this.#queued(
      id,
      () =>
        this.#logged(actor, `vm.${operation}`, id, async (detail) => {
          const record = await this.#freshRecord(id);
          const transition = nextInstanceState(record.state, event);
          if (!transition.ok) {
            throw new RpcError("conflict", `cannot ${operation} VM ${id}: ${transition.reason}`);
          }
          await act(record, detail);
          return this.#view(this.store.setState(id, transition.state, null));
        }),
    );
  }

  /**
   * Runs an operation that needs the VM stopped: queued behind others on it,
   * refused (conflict) in any other state as libvirt reports it now, logged.
   */
  async #whileStopped<T>(
    actor: string,
    action: string,
    id: string,
    /** What is refused, for the message: `cannot <what> VM <id>: ...`. */
    what: string,
    work: (record: VmRecord, detail: Record<string, unknown>) => Promise<T>,
    requestDetail: Record<string, unknown>,
  ): Promise<T> {
    return await this.#queued(
      id,
      () =>
        this.#logged(actor, action, id, async (detail) => {
          const record = await this.#freshRecord(id);
          const refusal = stoppedOnlyRefusal(record.state);
          if (refusal) throw new RpcError("conflict", `cannot ${what} VM ${id}: ${refusal}`);
          return await work(record, detail);
        }, requestDetail),
    );
  }

  /** Powers the guest off unless it is off already; says how it went. */
  async #powerOff(record: VmRecord, options: StopOptions): Promise<string> {
    if (record.state !== "running") return "already_off";
    const timeoutMs = options.force ? 0 : (options.timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
    return await this.#options.hypervisor.shutdown(record.domain, timeoutMs);
  }

  async #queued<T>(id: string, work: () => Promise<T>): Promise<T> {
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
  async #logged<T>(
    actor: string,
    action: string,
    target: string,
    work: (detail: Record<string, unknown>) => Promise<T>,
    requestDetail: Record<string, unknown> = {},
  ): Promise<T> {
    const detail: Record<string, unknown> = { ...requestDetail };
    try {
      const result = await work(detail);
      this.#options.events.record({ actor, action, target, result: "ok", detail });
      return result;
    } catch (error) {
      const rpcError = toRpcError(error);
      this.#options.events.record({
        actor,
        action,
        target,
        result: "error",
        detail: { ...detail, code: rpcError.code, error: rpcError.message },
      });
      throw rpcError;
    }
  }

  #view(record: VmRecord): Vm {
    const devices = record.state === "deleted" ? [] : this.#options.gpus.heldBy(record.id, "vm");
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
    };
  }
}

function gpuWant(request: VmCreateRequest["gpus"]): GpuWant {
  if ("count" in request) return { count: request.count };
  if ("indexes" in request) return { indexes: request.indexes };
  return { uuids: request.uuids };
}

function wantsGpus(want: GpuWant): boolean {
  if ("count" in want) return want.count > 0;
  return ("indexes" in want ? want.indexes : want.uuids).length > 0;
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

function networkView(setting: VmNetworkSetting): VmSpec["network"] {
  switch (setting.mode) {
    case "user":
      return { mode: "user", source: null };
    case "bridge":
      return { mode: "bridge", source: setting.bridge };
    case "network":
      return { mode: "network", source: setting.network };
  }
}

/** `vm-` and 10 random base-32 characters. */
export function newVmId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return `vm-${[...bytes].map((byte) => ID_ALPHABET[byte % 32]).join("")}`;
}

function randomMac(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(3));
  return `52:54:00:${[...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join(":")}`;
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

/** A login password from an alphabet without look-alikes, each character unbiased. */
function randomPassword(): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
  // Bytes at or above the largest multiple of the alphabet's size would favour its first letters.
  const limit = 256 - (256 % alphabet.length);
  let password = "";
  while (password.length < GENERATED_PASSWORD_LENGTH) {
    for (const byte of crypto.getRandomValues(new Uint8Array(GENERATED_PASSWORD_LENGTH))) {
      if (byte < limit && password.length < GENERATED_PASSWORD_LENGTH) {
        password += alphabet[byte % alphabet.length];
      }
    }
  }
  return password;
}

function randomVncPassword(): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return [...bytes].map((byte) => alphabet[byte % alphabet.length]).join("");
}

/** Strips carriage returns and terminal escape sequences a guest console is full of. */
function cleanConsoleLine(line: string): string {
  // deno-lint-ignore no-control-regex
  return line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function errorText(error: unknown): string {
  return (error as Error)?.message ?? String(error);
}

/** The typed error a caller on the other side of a worker boundary gets. */
export function toRpcError(error: unknown): RpcError {
  if (error instanceof RpcError) return error;
  if (error instanceof HypervisorError) {
    const code = ({
      unavailable: "unavailable",
      not_found: "not_found",
      conflict: "conflict",
      invalid: "invalid_params",
      timeout: "timeout",
      failed: "internal",
    } as const)[error.kind];
    return new RpcError(code, error.message);
  }
  if (error instanceof ImageError || error instanceof GpuAllocationError) {
    const code = ({
      not_found: "not_found",
      conflict: "conflict",
      invalid: "invalid_params",
      failed: "internal",
    } as const)[error.kind];
    return new RpcError(code, error.message);
  }
  if (error instanceof DomainSpecError) return new RpcError("invalid_params", error.message);
  if (error instanceof ModifyRefused) {
    return new RpcError(error.kind === "invalid" ? "invalid_params" : "conflict", error.message);
  }
  if (error instanceof Error && /UNIQUE constraint failed: vms\.login_port/.test(error.message)) {
    return new RpcError("conflict", "the login port is taken by another VM");
  }
  return new RpcError("internal", errorText(error));
}
