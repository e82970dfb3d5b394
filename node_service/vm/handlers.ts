/**
 * The node service's answers to the `vm.*`, `vm_image.*` and
 * `gpu.allocations` methods: builds the libvirt hypervisor, the image store
 * and the VM service over the node's database, reconciles records with
 * libvirt at start, and maps each method to them.
 */
import {
  chainRpcHosts,
  type Clock,
  type DatabaseSync,
  type GpuReport,
  type Handlers,
  type Logger,
  type Method,
  type NodeConfig,
  type NodePaths,
  VmCreateParamsSchema,
  VmModifyParamsSchema,
} from "../../mod/mod.ts";
import type { EventLog } from "../event_log.ts";
import { DiskGuard, listeningPorts } from "../host/mod.ts";
import { GpuAllocator } from "../gpu/mod.ts";
import { ImageStore } from "./images/mod.ts";
import { LibvirtHypervisor } from "./libvirt/mod.ts";
import { vmSettings } from "./config.ts";
import { VmStore } from "./store.ts";
import { toRpcError, VmService, type VmServiceOptions } from "./service.ts";

type VmMethod = Extract<Method, `vm.${string}` | `vm_image.${string}` | "gpu.allocations">;
export type VmHandlers = Pick<Handlers<"node_service">, VmMethod>;

export type VmHandlerDeps = {
  config: NodeConfig;
  paths: NodePaths;
  db: DatabaseSync;
  events: EventLog;
  gpuReport: () => Promise<GpuReport>;
  /** Why this host cannot run VMs now (host/facts.ts), asked before every create. */
  hostRefusal?: () => Promise<string | undefined>;
  /** The renter's private network a create names (node_service/lan/). */
  lanAttachment?: VmServiceOptions["lanAttachment"];
  clock: Clock;
  log: Logger;
};

export type StartedVms = {
  handlers: VmHandlers;
  service: VmService;
  images: ImageStore;
  /** Settles once start-up reconciliation is over (it never rejects; failures are logged). */
  reconciled: Promise<void>;
  stop(): Promise<void>;
};

export function startVms(deps: VmHandlerDeps): StartedVms {
  const now = () => deps.clock.now();
  const settings = vmSettings(deps.config, deps.paths);
  const gpus = new GpuAllocator(deps.db, now);
  const hypervisor = new LibvirtHypervisor({ uri: settings.libvirtUri });
  // The image store asks the VM records which VMs use an image.
  const records = new VmStore(deps.db, now);
  const diskGuard = new DiskGuard(deps.config.vm_min_free_disk_gib * 2 ** 30);
  const images = new ImageStore({
    diskGuard,
    db: deps.db,
    imageDir: settings.imageDir,
    now,
    usersOf: (name) => records.usersOfImage(name),
    downloads: {
      hosts: deps.config.image_download_hosts,
      privateAddresses: deps.config.image_download_private ? "allow" : "deny",
      // A renter's image URL never reaches the chain's RPC endpoint, whatever the list says.
      deniedHosts: chainRpcHosts(deps.config),
    },
    onAddDone: (image) =>
      deps.events.record({
        actor: "node",
        action: "vm_image.added",
        target: image.name,
        result: image.state === "ready" ? "ok" : "error",
        detail: { sha256: image.sha256, size_bytes: image.size_bytes, error: image.error },
      }),
  });
  const vms = new VmService({
    db: deps.db,
    events: deps.events,
    hypervisor,
    images,
    gpus,
    gpuReport: deps.gpuReport,
    vmDir: settings.vmDir,
    domainType: settings.domainType,
    network: settings.network,
    listenAddress: settings.listenAddress,
    loginPorts: settings.loginPorts,
    loginUser: settings.loginUser,
    listeningPorts,
    domainPrefix: settings.domainPrefix,
    diskGuard,
    hostRefusal: deps.hostRefusal,
    lanAttachment: deps.lanAttachment,
    now,
    log: deps.log.child("vms"),
  });
  for (const name of images.recoverInterrupted()) {
    deps.events.record({
      actor: "node",
      action: "vm_image.recover",
      target: name,
      result: "error",
      detail: { reason: "an add was interrupted by a node restart" },
    });
  }
  // Not awaited: a slow or absent libvirt must not hold up the rest of the node service.
  const reconciled = vms.reconcile().then(
    () => {},
    (error) => {
      deps.log.error("cannot reconcile VMs with libvirt", { error: (error as Error).message });
      deps.events.record({
        actor: "node",
        action: "vm.reconcile",
        result: "error",
        detail: { error: (error as Error).message },
      });
    },
  );

  /** Runs an image operation, logs it either way, and types its failure for the caller. */
  const imageOperation = <T>(
    actor: string,
    action: string,
    target: string,
    work: () => { result: T; detail?: Record<string, unknown> },
  ): T => {
    let outcome;
    try {
      outcome = work();
    } catch (error) {
      const typed = toRpcError(error);
      deps.events.record({
        actor,
        action,
        target,
        result: "error",
        detail: { error: typed.message },
      });
      throw typed;
    }
    deps.events.record({ actor, action, target, result: "ok", detail: outcome.detail });
    return outcome.result;
  };

  const handlers: VmHandlers = {
    // Parsed again for the defaults' sake: handlers are typed with the schema's input.
    "vm.create": (params) => vms.create(VmCreateParamsSchema.parse(params)),
    "vm.recorded": async (params) => ({ recorded: await vms.whenRecorded(params.id) }),
    "vm.list": async (params) => ({
      vms: await vms.list({ includeDeleted: params.include_deleted ?? false }),
    }),
    "vm.get": (params) => vms.get(params.id),
    "vm.start": (params) => vms.start(params.actor, params.id),
    "vm.stop": (params) =>
      params.acpi_only ? vms.shutdown(params.actor, params.id, params.timeout_ms) : vms.stop(
        params.actor,
        params.id,
        { force: params.force ?? false, timeoutMs: params.timeout_ms },
      ),
    "vm.restart": (params) => vms.restart(params.actor, params.id),
    "vm.reset": (params) => vms.reset(params.actor, params.id),
    "vm.delete": (params) => vms.delete(params.actor, params.id),
    "vm.logs": (params) => vms.logs(params.id, params.from ?? "tail", params.lines ?? 100),
    "vm.usage": (params) => vms.usage(params.id),
    "vm.modify": (params) => vms.modify(VmModifyParamsSchema.parse(params)),
    "vm.snapshot_create": (params) =>
      vms.snapshotCreate(params.actor, params.id, params.name, params.description ?? ""),
    "vm.snapshot_list": (params) => ({ snapshots: vms.snapshotList(params.id) }),
    "vm.snapshot_get": (params) => vms.snapshotGet(params.id, params.name),
    "vm.snapshot_delete": (params) => vms.snapshotDelete(params.actor, params.id, params.name),
    "vm.snapshot_revert": (params) => vms.snapshotRevert(params.actor, params.id, params.name),
    "vm.disk_list": (params) => vms.diskList(params.id),
    "vm.disk_add": (params) => vms.diskAdd(params.actor, params.id, params.size_gib),
    "vm.disk_resize": (params) =>
      vms.diskResize(params.actor, params.id, params.disk, params.size_gib),
    "vm.disk_delete": (params) => vms.diskDelete(params.actor, params.id, params.disk),
    "vm.passwd": (params) => vms.passwd(params.actor, params.id, params.user, params.password),
    "vm_image.list": (params) => ({
      images: params.owner === undefined ? images.list() : images.listFor(params.owner),
    }),
    "vm_image.add": (params) =>
      imageOperation(params.actor, "vm_image.add", params.name, () => {
        const { image } = images.add(
          params.name,
          params.source,
          params.sha256,
          params.added_by,
          params.max_per_owner,
        );
        return { result: image, detail: { source: image.source } };
      }),
    "vm_image.delete": (params) =>
      imageOperation(params.actor, "vm_image.delete", params.name, () => {
        if (params.owner === undefined) images.delete(params.name);
        else images.deleteFor(params.owner, params.name);
        return { result: { name: params.name, deleted: true as const } };
      }),
    "gpu.allocations": () => ({ allocations: gpus.list() }),
  };

  return {
    handlers,
    service: vms,
    images,
    reconciled,
    async stop() {
      await reconciled;
      await vms.close();
      await images.close();
    },
  };
}
