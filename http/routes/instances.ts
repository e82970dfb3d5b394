/**
 * The renter's VMs (`/api/v1/tasks`, the original's paths) and containers
 * (`/api/v1/containers`), answered by the GPU node that runs them; a
 * client-end forwards these requests there (`dispatch.ts`). Every request is
 * wallet-signed; the signer — a wallet or a multisig account — owns what it
 * creates and sees and touches only that: another renter's instance answers
 * 404, as if it did not exist. Creation answers at once (202) with the
 * instance id and an operation to follow.
 *
 * A VM's snapshots (`/api/v1/snapshot/:task_id`, the original's path) and
 * its modify are answered at once; both need the VM stopped (409 otherwise),
 * except listing and reading snapshots.
 */
import { z } from "zod";
import {
  ContainerDetailSchema,
  ContainerLogsSchema,
  ContainerSchema,
  DirectBootSchema,
  InstanceIdSchema,
  LanNameSchema,
  type LeaseStatus,
  MAX_SSH_KEYS,
  PortRequestSchema,
  type RpcErrorCode,
  SshPublicKeySchema,
  SshPublicKeysSchema,
  VM_OPS_LIMITS,
  VmDescSchema,
  VmDetailSchema,
  VmLogsSchema,
  VmPasswordSchema,
  VmPortForwardSchema,
  VmSchema,
  VmSnapshotDeletedSchema,
  VmSnapshotDescriptionSchema,
  VmSnapshotListSchema,
  VmSnapshotNameSchema,
  VmSnapshotSchema,
  VmSshKeySchema,
} from "../../mod/mod.ts";
import type { ApiRoutes } from "../api_route.ts";
import type { AppDeps } from "../app_deps.ts";
import type { WalletAuthenticator } from "../auth.ts";
import { ApiError, apiErrorKindFor } from "../errors.ts";
import type { Operations } from "../operations.ts";
import { NodeQuery, TargetBody, TargetFields as Target } from "./common.ts";
import { type OwnedRouteAdder, ownedRoutes, signersContainer, signersVm } from "./owned.ts";
import { rentalRoutes, signedRoutes } from "./renter.ts";

const SIGNED =
  "Wallet-signed (see /api/v1/ledger routes for the headers and the signed message), or a " +
  "delegated session of the renter (`X-DBC-Session`). " +
  "The target GPU node is `node_id` in the query or the original's `peer_nodes_list: [node_id]` in the body.";

/** A hung guest ignores the shutdown request: the renter may power it off at once. */
const StopBody = TargetBody.extend({ force: z.boolean().default(false) });
/** `force_reboot: true`: a hard reset instead of asking the guest (the original's query flag). */
const RestartBody = TargetBody.extend({ force_reboot: z.boolean().default(false) });
const LogQuery = NodeQuery.extend({
  flag: z.enum(["head", "tail"]).default("tail"),
  line_num: z.coerce.number().int().min(1).max(100).default(100),
});
/** GiB, as in the original; fractions allowed (0.25 = 256 MiB). */
const MemSizeSchema = z.number().min(0.125).max(4096);
const DiskSizeSchema = z.number().int().min(1).max(65_536);
const SshPortSchema = z.number().int().min(1).max(65_535);
const gibToMib = (gib: number) => Math.round(gib * 1024);
/** A create pulls its image and writes its disk first. */
const CREATE_TIMEOUT_MS = 15 * 60_000;
/** Snapshot and modify requests may take a while on a large disk. */
const DISK_OPERATION_TIMEOUT_MS = 5 * 60_000;
const CreatedSchema = z.object({
  task_id: InstanceIdSchema,
  operation_id: z.string(),
  state: z.literal("creating"),
});

export type InstanceRouteDeps = AppDeps & { operations: Operations };

/**
 * The GPUs a create gets: `count` free ones, or, where the rental holds some GPUs only (a chain
 * GPU-share order's `gpu_index`), the first `count` of those; more than it holds is refused.
 */
export function rentalGpus(
  count: number,
  lease: LeaseStatus | undefined,
): { count: number } | { indexes: number[] } {
  if (lease?.state !== "active" || lease.gpu_index === undefined) return { count };
  if (count > lease.gpu_index.length) {
    throw new ApiError(
      "forbidden",
      `the rental holds ${lease.gpu_index.length} GPU(s) (index ${
        lease.gpu_index.join(",") || "none"
      }); ${count} asked for`,
    );
  }
  return { indexes: lease.gpu_index.slice(0, count) };
}

const newId = (prefix: string) =>
  `${prefix}-${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
/** The id prefix of each kind of instance. */
const ID_PREFIX = { vm: "vm", container: "ct" } as const;

/**
 * Starts a create as an operation under a new id, waits until its record is written (see
 * {@link recorded}) and answers what a 202 says: the id and the operation to follow.
 */
async function startCreate(
  deps: InstanceRouteDeps,
  kind: "vm" | "container",
  create: (id: string) => Promise<unknown>,
): Promise<z.infer<typeof CreatedSchema>> {
  const id = newId(ID_PREFIX[kind]);
  const operation = deps.operations.start(`${kind}.create`, id, () => create(id));
  await recorded(deps, `${kind}.recorded`, id, operation.operation_id);
  return { task_id: id, operation_id: operation.operation_id, state: "creating" };
}

/**
 * Waits until the create has written the instance's record, so that a 202
 * names an instance a node restart keeps (and repairs), never one only this
 * worker's memory knew. A create refused before it wrote anything (no such
 * image, GPUs or a port taken) is answered with the refusal instead.
 */
async function recorded(
  deps: InstanceRouteDeps,
  method: "vm.recorded" | "container.recorded",
  id: string,
  operationId: string,
): Promise<void> {
  let stopWatching: () => void = () => {};
  const ended = new Promise<void>((resolve) => {
    stopWatching = deps.operations.watch(operationId, () => resolve());
    if (deps.operations.get(operationId)?.state !== "running") resolve();
  });
  try {
    // No answer (a time-out) only answers sooner; the operation reports the create itself.
    const answer = await Promise.race([
      deps.call(method, { id }).then(({ recorded }) => recorded, () => undefined),
      ended.then(() => undefined),
    ]);
    if (answer === true) return;
    // Ended without a record: its refusal is on its way to the operation.
    if (answer === false) await ended;
    const operation = deps.operations.get(operationId);
    if (operation?.state === "failed" && operation.error) {
      throw new ApiError(
        apiErrorKindFor(operation.error.code as RpcErrorCode),
        operation.error.message,
      );
    }
  } finally {
    stopWatching();
  }
}

export function vmRoutes(
  routes: ApiRoutes,
  deps: InstanceRouteDeps,
  auth: WalletAuthenticator,
): void {
  const IdParams = z.object({ task_id: InstanceIdSchema });
  const ownVm = signersVm(deps);
  const addVmRoute = ownedRoutes(routes, auth, "task_id", ownVm);
  const addSignedRoute = signedRoutes(routes, auth, SIGNED);
  const addRentalRoute = rentalRoutes(routes, deps, auth, SIGNED);

  addRentalRoute({
    method: "post",
    path: "/api/v1/tasks/start",
    summary: "Create and start a VM (answers at once; follow the operation)",
    description: `${SIGNED} A Linux guest's login user gets \`ssh_key\` and \`password\` through ` +
      "cloud-init (a seed disk); without a password the node makes one. The VM's detail shows " +
      "them to its owner.",
    tags: ["vms"],
    body: z.object({
      ...Target,
      image_name: z.string().min(1).max(128),
      os: z.enum(["linux", "windows"]).default("linux"),
      gpu_count: z.number().int().min(0).max(16).default(0),
      cpu_cores: z.number().int().min(1).max(256),
      mem_size: MemSizeSchema,
      disk_size: DiskSizeSchema.optional(),
      ssh_port: SshPortSchema.optional(),
      /** A Windows guest's login forward (the original's name); `ssh_port` does as well. */
      rdp_port: SshPortSchema.optional(),
      vnc_port: z.number().int().min(5900).max(65_535).optional(),
      /** `uefi` boots with OVMF; `bios` (legacy) with SeaBIOS. */
      firmware: z.enum(["bios", "uefi"]).default("bios"),
      desc: VmDescSchema.default(""),
      /** Host ports of the node's VM range forwarded to guest ports (user-mode networking). */
      custom_ports: z.array(VmPortForwardSchema).max(VM_OPS_LIMITS.maxCustomPorts).default([]),
      direct_boot: DirectBootSchema.optional(),
      /** OpenSSH public key(s) of the login user (Linux); one, or a list. */
      ssh_key: z.union([VmSshKeySchema, z.array(VmSshKeySchema).max(MAX_SSH_KEYS)]).optional(),
      /** The login user's password (Linux); the node makes one when absent. */
      password: VmPasswordSchema.optional(),
      /** The signer's private network (`/api/v1/lan`) the VM gets a second NIC on. */
      network_name: LanNameSchema.optional(),
    }),
    response: CreatedSchema,
    successStatus: 202,
  }, async (who, { body }) => {
    return await startCreate(deps, "vm", (id) =>
      deps.call("vm.create", {
        actor: who.actor,
        owner: who.account,
        id,
        os: body.os,
        image: body.image_name,
        cpu_cores: body.cpu_cores,
        memory_mib: gibToMib(body.mem_size),
        disk_gib: body.disk_size,
        gpus: rentalGpus(body.gpu_count, who.lease),
        login_port: body.ssh_port ?? body.rdp_port,
        vnc_port: body.vnc_port,
        firmware: body.firmware,
        desc: body.desc,
        custom_ports: body.custom_ports,
        direct_boot: body.direct_boot,
        ssh_keys: typeof body.ssh_key === "string" ? [body.ssh_key] : body.ssh_key,
        password: body.password,
        network_name: body.network_name,
      }, { timeoutMs: CREATE_TIMEOUT_MS }));
  });

  addSignedRoute({
    method: "get",
    path: "/api/v1/tasks",
    summary: "The signer's VMs on this node",
    tags: ["vms"],
    query: NodeQuery,
    response: z.object({ tasks: z.array(VmSchema) }),
  }, async (who) => {
    const { vms } = await deps.call("vm.list", {});
    return { tasks: vms.filter((vm) => vm.owner === who.account) };
  });

  addSignedRoute({
    method: "get",
    path: "/api/v1/tasks/:task_id",
    summary:
      "One of the signer's VMs: state, login port and credentials (user, password), VNC, hypervisor view",
    tags: ["vms"],
    params: IdParams,
    query: NodeQuery,
    response: VmDetailSchema,
  }, async (who, { params }) => {
    return await ownVm(params.task_id, who.account);
  });

  for (const action of ["start", "stop", "restart", "reset", "delete"] as const) {
    addVmRoute({
      method: "post",
      path: `/api/v1/tasks/:task_id/${action}`,
      summary: `${action[0]!.toUpperCase()}${action.slice(1)} one of the signer's VMs`,
      description: action === "stop"
        ? `${SIGNED} The guest is asked to shut down (ACPI) and powered off when it has not ` +
          "within the node's time-out; `force: true` powers it off at once."
        : SIGNED,
      tags: ["vms"],
      params: IdParams,
      body: action === "stop" ? StopBody : action === "restart" ? RestartBody : TargetBody,
      response: VmSchema,
    }, async ({ actor, id }, { body }) => {
      const target = { actor, id };
      switch (action) {
        case "start":
          return await deps.call("vm.start", target, { timeoutMs: 5 * 60_000 });
        case "stop":
          return await deps.call("vm.stop", {
            ...target,
            force: (body as z.infer<typeof StopBody>).force,
          }, { timeoutMs: 5 * 60_000 });
        case "restart":
          return await deps.call(
            (body as z.infer<typeof RestartBody>).force_reboot ? "vm.reset" : "vm.restart",
            target,
            { timeoutMs: 5 * 60_000 },
          );
        case "reset":
          return await deps.call("vm.reset", target, { timeoutMs: 5 * 60_000 });
        case "delete":
          return await deps.call("vm.delete", target, { timeoutMs: 5 * 60_000 });
      }
    });
  }

  addVmRoute({
    method: "get",
    path: "/api/v1/tasks/:task_id/trace",
    summary: "The VM's console output, head or tail, at most 100 lines a request",
    description: SIGNED,
    tags: ["vms"],
    params: IdParams,
    query: LogQuery,
    response: VmLogsSchema,
  }, async ({ id }, { query }) => {
    return await deps.call("vm.logs", { id, from: query.flag, lines: query.line_num });
  });

  addVmRoute({
    method: "post",
    path: "/api/v1/tasks/:task_id/modify",
    summary:
      "Change a stopped VM's CPU cores, memory, disk size (grow only), SSH/RDP, VNC or custom ports",
    description: `${SIGNED} The VM must be stopped (409 otherwise); a smaller disk is refused ` +
      "(400). What the body leaves out stays as it is. Host ports are checked as at create " +
      "(in the node's VM port range, free on the host and of other VMs); `custom_ports` " +
      "replaces all the VM's forwards (`[]` removes them).",
    tags: ["vms"],
    params: IdParams,
    body: TargetBody.extend({
      cpu_cores: z.number().int().min(1).max(256).optional(),
      mem_size: MemSizeSchema.optional(),
      disk_size: DiskSizeSchema.optional(),
      ssh_port: SshPortSchema.optional(),
      /** A Windows guest's login forward (the original's name); `ssh_port` does as well. */
      rdp_port: SshPortSchema.optional(),
      vnc_port: z.number().int().min(5900).max(65_535).optional(),
      custom_ports: z.array(VmPortForwardSchema).max(VM_OPS_LIMITS.maxCustomPorts).optional(),
    }).refine(
      (body) =>
        body.cpu_cores !== undefined || body.mem_size !== undefined ||
        body.disk_size !== undefined || body.ssh_port !== undefined ||
        body.rdp_port !== undefined || body.vnc_port !== undefined ||
        body.custom_ports !== undefined,
      {
        message: "name at least one of cpu_cores, mem_size, disk_size, ssh_port, rdp_port, " +
          "vnc_port, custom_ports",
      },
    ).refine((body) => body.ssh_port === undefined || body.rdp_port === undefined, {
      message: "ssh_port and rdp_port are the same login forward: name one",
    }),
    response: VmSchema,
  }, async ({ actor, id }, { body }) => {
    return await deps.call("vm.modify", {
      actor,
      id,
      cpu_cores: body.cpu_cores,
      memory_mib: body.mem_size === undefined ? undefined : gibToMib(body.mem_size),
      disk_gib: body.disk_size,
      login_port: body.ssh_port ?? body.rdp_port,
      ...(body.vnc_port === undefined ? {} : { vnc_port: body.vnc_port }),
      ...(body.custom_ports === undefined ? {} : { custom_ports: body.custom_ports }),
    }, { timeoutMs: DISK_OPERATION_TIMEOUT_MS });
  });

  snapshotRoutes(deps, addVmRoute);
}

/** `/api/v1/snapshot/:task_id[/:name][/create|delete|restore]`: snapshots of a VM's disk. */
function snapshotRoutes(
  deps: InstanceRouteDeps,
  addVmRoute: OwnedRouteAdder<"task_id">,
): void {
  const IdParams = z.object({ task_id: InstanceIdSchema });
  const SnapshotParams = IdParams.extend({ name: VmSnapshotNameSchema });
  const STOPPED = " The VM must be stopped (409 otherwise).";

  addVmRoute({
    method: "get",
    path: "/api/v1/snapshot/:task_id",
    summary: "The snapshots of one of the signer's VMs, oldest first",
    description: SIGNED,
    tags: ["snapshots"],
    params: IdParams,
    query: NodeQuery,
    response: VmSnapshotListSchema,
  }, async ({ id }) => {
    return await deps.call("vm.snapshot_list", { id });
  });

  addVmRoute({
    method: "get",
    path: "/api/v1/snapshot/:task_id/:name",
    summary: "One snapshot of one of the signer's VMs",
    description: SIGNED,
    tags: ["snapshots"],
    params: SnapshotParams,
    query: NodeQuery,
    response: VmSnapshotSchema,
  }, async ({ id }, { params }) => {
    return await deps.call("vm.snapshot_get", { id, name: params.name });
  });

  addVmRoute({
    method: "post",
    path: "/api/v1/snapshot/:task_id/create",
    summary: "Take a snapshot of a stopped VM's disk",
    description: `${SIGNED}${STOPPED} Names are unique per VM; a VM holds a limited number.`,
    tags: ["snapshots"],
    params: IdParams,
    body: TargetBody.extend({
      name: VmSnapshotNameSchema,
      description: VmSnapshotDescriptionSchema.default(""),
    }),
    response: VmSnapshotSchema,
  }, async ({ actor, id }, { body }) => {
    return await deps.call("vm.snapshot_create", {
      actor,
      id,
      name: body.name,
      description: body.description,
    }, { timeoutMs: DISK_OPERATION_TIMEOUT_MS });
  });

  addVmRoute({
    method: "post",
    path: "/api/v1/snapshot/:task_id/:name/delete",
    summary: "Delete a snapshot of a stopped VM",
    description: `${SIGNED}${STOPPED}`,
    tags: ["snapshots"],
    params: SnapshotParams,
    body: TargetBody,
    response: VmSnapshotDeletedSchema,
  }, async ({ actor, id }, { params }) => {
    return await deps.call(
      "vm.snapshot_delete",
      { actor, id, name: params.name },
      { timeoutMs: DISK_OPERATION_TIMEOUT_MS },
    );
  });

  addVmRoute({
    method: "post",
    path: "/api/v1/snapshot/:task_id/:name/restore",
    summary: "Put a stopped VM's disk back as the snapshot saw it",
    description: `${SIGNED}${STOPPED} The VM keeps its CPU cores, memory and disk size of now.`,
    tags: ["snapshots"],
    params: SnapshotParams,
    body: TargetBody,
    response: VmSchema,
  }, async ({ actor, id }, { params }) => {
    return await deps.call(
      "vm.snapshot_revert",
      { actor, id, name: params.name },
      { timeoutMs: DISK_OPERATION_TIMEOUT_MS },
    );
  });
}

export function containerRoutes(
  routes: ApiRoutes,
  deps: InstanceRouteDeps,
  auth: WalletAuthenticator,
): void {
  const IdParams = z.object({ container_id: InstanceIdSchema });
  const ownContainer = signersContainer(deps);
  const addContainerRoute = ownedRoutes(routes, auth, "container_id", ownContainer);
  const addSignedRoute = signedRoutes(routes, auth, SIGNED);
  const addRentalRoute = rentalRoutes(routes, deps, auth, SIGNED);

  addRentalRoute({
    method: "post",
    path: "/api/v1/containers/create",
    summary: "Create and start a container (answers at once; follow the operation)",
    tags: ["containers"],
    body: z.object({
      ...Target,
      image: z.string().min(1).max(256),
      command: z.array(z.string().max(4096)).max(64).optional(),
      env: z.record(z.string(), z.string()).optional(),
      gpu_count: z.number().int().min(0).max(16).default(0),
      cpu_cores: z.number().positive().max(256).optional(),
      /** GiB, as for VMs. */
      mem_size: z.number().min(0.0625).max(4096).optional(),
      /** Publish the container's SSH port (22/tcp) on a host port. */
      ssh: z.boolean().default(false),
      /** Public keys (one, or a list) installed as root's before it starts; implies `ssh`. */
      ssh_key: z.union([SshPublicKeySchema.transform((key) => [key]), SshPublicKeysSchema])
        .optional(),
      ports: z.array(PortRequestSchema).max(16).default([]),
      /** Where a persistent volume is mounted, if one is wanted. */
      volume_path: z.string().regex(/^\/[^\0]*$/).max(1024).optional(),
    }),
    response: CreatedSchema,
    successStatus: 202,
  }, async (who, { body }) => {
    return await startCreate(deps, "container", (id) =>
      deps.call("container.create", {
        actor: who.actor,
        owner: who.account,
        id,
        image: body.image,
        command: body.command,
        env: body.env,
        gpus: rentalGpus(body.gpu_count, who.lease),
        cpu_cores: body.cpu_cores,
        memory_mib: body.mem_size === undefined ? undefined : Math.round(body.mem_size * 1024),
        ssh: body.ssh || body.ssh_key ? { authorized_keys: body.ssh_key } : undefined,
        ports: body.ports,
        volume: body.volume_path ? { mount_path: body.volume_path } : undefined,
      }, { timeoutMs: CREATE_TIMEOUT_MS }));
  });

  addSignedRoute({
    method: "get",
    path: "/api/v1/containers",
    summary: "The signer's containers on this node",
    tags: ["containers"],
    query: NodeQuery,
    response: z.object({ containers: z.array(ContainerSchema) }),
  }, async (who) => {
    const containers = await deps.call("container.list", {});
    return { containers: containers.filter((container) => container.owner === who.account) };
  });

  addSignedRoute({
    method: "get",
    path: "/api/v1/containers/:container_id",
    summary: "One of the signer's containers: state, ports, engine view",
    tags: ["containers"],
    params: IdParams,
    query: NodeQuery,
    response: ContainerDetailSchema,
  }, async (who, { params }) => {
    return await ownContainer(params.container_id, who.account);
  });

  for (const action of ["start", "stop", "restart", "delete"] as const) {
    addContainerRoute({
      method: "post",
      path: `/api/v1/containers/:container_id/${action}`,
      summary: `${action[0]!.toUpperCase()}${action.slice(1)} one of the signer's containers`,
      description: SIGNED,
      tags: ["containers"],
      params: IdParams,
      body: action === "delete"
        ? TargetBody.extend({ keep_volume: z.boolean().default(false) })
        : TargetBody,
      response: ContainerSchema,
    }, async ({ actor, id }, { body }) => {
      const target = { actor, id };
      switch (action) {
        case "start":
          return await deps.call("container.start", target, { timeoutMs: 5 * 60_000 });
        case "stop":
          return await deps.call("container.stop", target, { timeoutMs: 5 * 60_000 });
        case "restart":
          return await deps.call("container.restart", target, { timeoutMs: 5 * 60_000 });
        case "delete":
          return await deps.call("container.delete", {
            ...target,
            keep_volume: (body as { keep_volume?: boolean }).keep_volume ?? false,
          }, { timeoutMs: 5 * 60_000 });
      }
    });
  }

  addContainerRoute({
    method: "get",
    path: "/api/v1/containers/:container_id/logs",
    summary: "The container's output, head or tail, at most 100 lines a request",
    description: SIGNED,
    tags: ["containers"],
    params: IdParams,
    query: LogQuery,
    response: ContainerLogsSchema,
  }, async ({ id }, { query }) => {
    return await deps.call("container.logs", { id, from: query.flag, lines: query.line_num });
  });
}
