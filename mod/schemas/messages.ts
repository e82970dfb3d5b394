/**
 * Every message that crosses a worker boundary, declared once. Each request
 * method names the party that answers it, the schema of its parameters and
 * the schema of its result; TypeScript types are inferred from the schemas,
 * and the same schemas check every message at run time, so a worker never
 * acts on an untyped message.
 *
 * The main thread is the hub: workers post to it and it forwards by `to`.
 */
import { z } from "zod";
import { CONFIG_FIELDS, type ConfigKey, type NodeConfig } from "../config.ts";
import type { NodePaths } from "../paths.ts";
import {
  ContainerCreateParamsSchema,
  ContainerDeleteParamsSchema,
  ContainerDetailSchema,
  ContainerEngineStatusSchema,
  ContainerGetParamsSchema,
  ContainerImageListSchema,
  ContainerImageSchema,
  ContainerListParamsSchema,
  ContainerListSchema,
  ContainerLogsParamsSchema,
  ContainerLogsSchema,
  ContainerSchema,
  ContainerTargetSchema,
  ImageDeletedSchema,
  ImageDeleteParamsSchema,
  ImageImportParamsSchema,
  ImagePullParamsSchema,
  ImagePullStatusParamsSchema,
  ImagePullStatusSchema,
} from "./container.ts";
import { EventListParamsSchema, EventListSchema } from "./event.ts";
import { InstanceRecordedParamsSchema, InstanceRecordedSchema } from "./instance.ts";
import { InstanceUsageParamsSchema, InstanceUsageSchema } from "./usage.ts";
import {
  MonitorListParamsSchema,
  MonitorServersSchema,
  MonitorSetParamsSchema,
} from "./monitor.ts";
import {
  LanCreateParamsSchema,
  LanDeleteParamsSchema,
  LanListParamsSchema,
  LanListSchema,
  LanPeersParamsSchema,
  LanSchema,
} from "./lan.ts";
import { HostCheckParamsSchema, HostCheckReportSchema } from "./host.ts";
import {
  SessionCreatedSchema,
  SessionCreateParamsSchema,
  SessionListParamsSchema,
  SessionListSchema,
  SessionResolvedSchema,
  SessionResolveParamsSchema,
  SessionRevokeParamsSchema,
  SessionSchema,
} from "./session.ts";
import {
  GpuAllocationListSchema,
  VmCreateParamsSchema,
  VmDetailSchema,
  VmGetParamsSchema,
  VmImageAddParamsSchema,
  VmImageDeletedSchema,
  VmImageDeleteParamsSchema,
  VmImageListParamsSchema,
  VmImageListSchema,
  VmImageSchema,
  VmListParamsSchema,
  VmListSchema,
  VmLogsParamsSchema,
  VmLogsSchema,
  VmModifyParamsSchema,
  VmPasswdParamsSchema,
  VmSchema,
  VmSnapshotCreateParamsSchema,
  VmSnapshotDeletedSchema,
  VmSnapshotGetParamsSchema,
  VmSnapshotListParamsSchema,
  VmSnapshotListSchema,
  VmSnapshotSchema,
  VmSnapshotTargetSchema,
  VmStopParamsSchema,
  VmTargetSchema,
} from "./vm.ts";
import {
  VmDiskAddParamsSchema,
  VmDiskDeleteParamsSchema,
  VmDiskListParamsSchema,
  VmDiskListSchema,
  VmDiskResizeParamsSchema,
} from "./vm_ops.ts";
import {
  ActivePeerListSchema,
  GlobalPeerListSchema,
  HttpRemoteRequestParamsSchema,
  HttpRemoteResponseSchema,
  NetworkBroadcastParamsSchema,
  NetworkBroadcastResultSchema,
  NetworkReceiveParamsSchema,
  NetworkReceiveResultSchema,
  NetworkReplyParamsSchema,
  NetworkReplyResultSchema,
  NetworkSendParamsSchema,
  NetworkSendResultSchema,
  NetworkSubscribeParamsSchema,
  NetworkSubscriptionSchema,
  NetworkUnsubscribeParamsSchema,
} from "./network.ts";
import {
  AccountBalanceSchema,
  AccountSchema,
  HeartbeatResultSchema,
  LeaseStatusSchema,
  LedgerBalanceParams,
  LedgerFundParams,
  LedgerHeartbeatParams,
  LedgerLeaseStatusParams,
  LedgerMachineGetParams,
  LedgerMachineListParams,
  LedgerMachineListSchema,
  LedgerMachineRegisterParams,
  LedgerMultisigGetParams,
  LedgerMultisigRegisterParams,
  LedgerOrderGrabParams,
  LedgerOrderReportParams,
  LedgerRenewParams,
  LedgerRentalGetParams,
  LedgerRentParams,
  MachineConfigSchema,
  MachineRegistrationSchema,
  MachineSchema,
  MultisigAccountSchema,
  RentalSchema,
  RentPricesSchema,
} from "./ledger.ts";
import {
  MarketNodeListSchema,
  MarketNodeParamsSchema,
  MarketNodeSchema,
  MarketNodesParamsSchema,
} from "./market.ts";
import { LeaseCheckParamsSchema, LeaseCheckResultSchema } from "./ledger_rpc.ts";
import {
  CheckCreateParamsSchema,
  CheckListParamsSchema,
  CheckListSchema,
  CheckTargetParamsSchema,
  CheckVmDetailSchema,
  CheckVmSchema,
} from "./check_vm.ts";
import { NodeStatementSchema } from "./node_statement.ts";
import { MetricsSnapshotSchema } from "./metrics.ts";
import {
  ImageDownloadParamsSchema,
  ImageServerFilesParamsSchema,
  ImageServerFilesSchema,
  ImageServerListSchema,
  ImageTransferListParamsSchema,
  ImageTransferListSchema,
  ImageTransferSchema,
  ImageTransferTargetSchema,
  ImageUploadParamsSchema,
} from "./image_server.ts";

export const WORKER_NAMES = ["network", "node_service", "http"] as const;
export type WorkerName = typeof WORKER_NAMES[number];
export const PARTIES = ["main", ...WORKER_NAMES] as const;
export type Party = typeof PARTIES[number];

// ---------------------------------------------------------------------------
// Shapes shared by several methods

/** What the supervisor knows about one worker; `state` decides which fields exist. */
export const WorkerStatusSchema = z.discriminatedUnion("state", [
  z.object({ state: z.literal("starting"), since: z.number(), restarts: z.number().int() }),
  z.object({ state: z.literal("running"), since: z.number(), restarts: z.number().int() }),
  z.object({
    state: z.literal("restarting"),
    since: z.number(),
    restarts: z.number().int(),
    last_error: z.string(),
    retry_at: z.number(),
  }),
  z.object({ state: z.literal("stopping"), since: z.number(), restarts: z.number().int() }),
  z.object({ state: z.literal("stopped"), since: z.number(), restarts: z.number().int() }),
]);
export type WorkerStatus = z.infer<typeof WorkerStatusSchema>;

export const NodeStatusSchema = z.object({
  node_id: z.string(),
  role: z.enum(["gpu", "seed", "client"]),
  version: z.string(),
  network_id: z.string(),
  started_at: z.number(),
  uptime_s: z.number(),
  workers: z.object({
    network: WorkerStatusSchema,
    node_service: WorkerStatusSchema,
    http: WorkerStatusSchema,
  }),
});
export type NodeStatus = z.infer<typeof NodeStatusSchema>;

export const GpuSchema = z.object({
  index: z.number().int().min(0),
  uuid: z.string(),
  name: z.string(),
  /** PCI address as nvidia-smi prints it, e.g. `00000000:18:00.0`. */
  pci_bus_id: z.string(),
  memory_total_mib: z.number().nullable(),
  memory_used_mib: z.number().nullable(),
  utilization_percent: z.number().nullable(),
  temperature_c: z.number().nullable(),
  driver_version: z.string().nullable(),
});
export type Gpu = z.infer<typeof GpuSchema>;

/** The GPU inventory, with the reason spelled out when there is nothing to list. */
export const GpuReportSchema = z.discriminatedUnion("state", [
  z.object({
    state: z.literal("present"),
    gpus: z.array(GpuSchema).min(1),
    queried_at: z.number(),
  }),
  z.object({
    state: z.literal("none"),
    gpus: z.array(GpuSchema).max(0),
    reason: z.string(),
    queried_at: z.number(),
  }),
  z.object({
    state: z.literal("error"),
    gpus: z.array(GpuSchema).max(0),
    reason: z.string(),
    queried_at: z.number(),
  }),
]);
export type GpuReport = z.infer<typeof GpuReportSchema>;

export const NetworkStatusSchema = z.object({
  listening: z.array(z.string()),
  connected_peers: z.number().int().min(0),
  // The fields below are filled in by the peer-to-peer network worker.
  node_id: z.string().optional(),
  /** Grows with every start; a node wrongly reported gone raises it to refute the report. */
  incarnation: z.number().optional(),
  outbound: z.number().int().min(0).optional(),
  inbound: z.number().int().min(0).optional(),
  target_outbound: z.number().int().min(0).optional(),
  max_inbound: z.number().int().min(0).optional(),
  /** Entries in the address book, and nodes known to have left. */
  known_peers: z.number().int().min(0).optional(),
  departed_peers: z.number().int().min(0).optional(),
  nonce_cache: z.object({
    size: z.number().int(),
    max: z.number().int(),
    evicted_early: z.number().int(),
  }).optional(),
  /** Message and link counters since the worker started (see network/counters.ts). */
  counters: z.record(z.string(), z.number()).optional(),
});
export type NetworkStatus = z.infer<typeof NetworkStatusSchema>;

// ---------------------------------------------------------------------------
// The request catalogue: method -> who answers, parameters, result

type MethodSpec = { to: Party; params: z.ZodType; result: z.ZodType };

const EmptyParams = z.object({}).strict();

export const METHODS = {
  "node.status": { to: "main", params: EmptyParams, result: NodeStatusSchema },
  "gpu.inventory": {
    to: "node_service",
    params: z.object({ max_age_ms: z.number().int().min(0).optional() }).strict(),
    result: GpuReportSchema,
  },
  "network.status": { to: "network", params: EmptyParams, result: NetworkStatusSchema },
  /** What the node needs of its host (QEMU's user, /dev/kvm, the VM directories, the engine). */
  "host.checks": {
    to: "node_service",
    params: HostCheckParamsSchema,
    result: HostCheckReportSchema,
  },
  "container.engine_status": {
    to: "node_service",
    params: EmptyParams,
    result: ContainerEngineStatusSchema,
  },
  "container.create": {
    to: "node_service",
    params: ContainerCreateParamsSchema,
    result: ContainerSchema,
  },
  /** Answers once the create of `id` has written its record, or ended without one. */
  "container.recorded": {
    to: "node_service",
    params: InstanceRecordedParamsSchema,
    result: InstanceRecordedSchema,
  },
  "container.list": {
    to: "node_service",
    params: ContainerListParamsSchema,
    result: ContainerListSchema,
  },
  "container.get": {
    to: "node_service",
    params: ContainerGetParamsSchema,
    result: ContainerDetailSchema,
  },
  "container.start": { to: "node_service", params: ContainerTargetSchema, result: ContainerSchema },
  "container.stop": { to: "node_service", params: ContainerTargetSchema, result: ContainerSchema },
  "container.restart": {
    to: "node_service",
    params: ContainerTargetSchema,
    result: ContainerSchema,
  },
  "container.delete": {
    to: "node_service",
    params: ContainerDeleteParamsSchema,
    result: ContainerSchema,
  },
  "container.logs": {
    to: "node_service",
    params: ContainerLogsParamsSchema,
    result: ContainerLogsSchema,
  },
  /** CPU, memory, network and disk counters of a running container, now. */
  "container.usage": {
    to: "node_service",
    params: InstanceUsageParamsSchema,
    result: InstanceUsageSchema,
  },
  "container_image.list": {
    to: "node_service",
    params: EmptyParams,
    result: ContainerImageListSchema,
  },
  "container_image.pull": {
    to: "node_service",
    params: ImagePullParamsSchema,
    result: ImagePullStatusSchema,
  },
  "container_image.pull_status": {
    to: "node_service",
    params: ImagePullStatusParamsSchema,
    result: ImagePullStatusSchema,
  },
  "container_image.import": {
    to: "node_service",
    params: ImageImportParamsSchema,
    result: ContainerImageSchema,
  },
  "container_image.delete": {
    to: "node_service",
    params: ImageDeleteParamsSchema,
    result: ImageDeletedSchema,
  },
  "vm.create": { to: "node_service", params: VmCreateParamsSchema, result: VmSchema },
  /** Answers once the create of `id` has written its record, or ended without one. */
  "vm.recorded": {
    to: "node_service",
    params: InstanceRecordedParamsSchema,
    result: InstanceRecordedSchema,
  },
  "vm.list": { to: "node_service", params: VmListParamsSchema, result: VmListSchema },
  "vm.get": { to: "node_service", params: VmGetParamsSchema, result: VmDetailSchema },
  "vm.start": { to: "node_service", params: VmTargetSchema, result: VmSchema },
  "vm.stop": { to: "node_service", params: VmStopParamsSchema, result: VmSchema },
  "vm.restart": { to: "node_service", params: VmTargetSchema, result: VmSchema },
  "vm.reset": { to: "node_service", params: VmTargetSchema, result: VmSchema },
  "vm.delete": { to: "node_service", params: VmTargetSchema, result: VmSchema },
  "vm.logs": { to: "node_service", params: VmLogsParamsSchema, result: VmLogsSchema },
  /** CPU, memory, network and disk counters of a running VM, now. */
  "vm.usage": {
    to: "node_service",
    params: InstanceUsageParamsSchema,
    result: InstanceUsageSchema,
  },
  /** New CPU, memory, disk (grow only) or login port of a stopped VM. */
  "vm.modify": { to: "node_service", params: VmModifyParamsSchema, result: VmSchema },
  // Snapshots of a VM's disk: taken, restored and deleted while the VM is stopped.
  "vm.snapshot_create": {
    to: "node_service",
    params: VmSnapshotCreateParamsSchema,
    result: VmSnapshotSchema,
  },
  "vm.snapshot_list": {
    to: "node_service",
    params: VmSnapshotListParamsSchema,
    result: VmSnapshotListSchema,
  },
  "vm.snapshot_get": {
    to: "node_service",
    params: VmSnapshotGetParamsSchema,
    result: VmSnapshotSchema,
  },
  "vm.snapshot_delete": {
    to: "node_service",
    params: VmSnapshotTargetSchema,
    result: VmSnapshotDeletedSchema,
  },
  /** Puts the disk back as the snapshot saw it; the VM keeps its resources of now. */
  "vm.snapshot_revert": { to: "node_service", params: VmSnapshotTargetSchema, result: VmSchema },
  // Data disks (extra qcow2 disks): listed in any state, added, grown and deleted while stopped.
  "vm.disk_list": { to: "node_service", params: VmDiskListParamsSchema, result: VmDiskListSchema },
  "vm.disk_add": { to: "node_service", params: VmDiskAddParamsSchema, result: VmDiskListSchema },
  "vm.disk_resize": {
    to: "node_service",
    params: VmDiskResizeParamsSchema,
    result: VmDiskListSchema,
  },
  "vm.disk_delete": {
    to: "node_service",
    params: VmDiskDeleteParamsSchema,
    result: VmDiskListSchema,
  },
  /** A running Linux guest's login password, changed through its guest agent. */
  "vm.passwd": { to: "node_service", params: VmPasswdParamsSchema, result: VmSchema },
  "vm_image.list": {
    to: "node_service",
    params: VmImageListParamsSchema,
    result: VmImageListSchema,
  },
  "vm_image.add": { to: "node_service", params: VmImageAddParamsSchema, result: VmImageSchema },
  "vm_image.delete": {
    to: "node_service",
    params: VmImageDeleteParamsSchema,
    result: VmImageDeletedSchema,
  },
  // Delegated access to this machine (see mod/schemas/session.ts).
  "session.create": {
    to: "node_service",
    params: SessionCreateParamsSchema,
    result: SessionCreatedSchema,
  },
  /**
   * Records the nonces of one signed request as used (all or none), kept on disk until
   * `expires_at`; `conflict` when one was used before. For signatures that bind no time.
   */
  "nonce.claim": {
    to: "node_service",
    params: z.object({
      claims: z.array(
        z.object({ account: z.string().min(1).max(64), nonce: z.string().min(1).max(128) }),
      )
        .min(1).max(16),
      expires_at: z.number().int(),
    }).strict(),
    result: z.object({ claimed: z.number().int() }),
  },
  "session.resolve": {
    to: "node_service",
    params: SessionResolveParamsSchema,
    result: SessionResolvedSchema,
  },
  "session.list": {
    to: "node_service",
    params: SessionListParamsSchema,
    result: SessionListSchema,
  },
  "session.revoke": {
    to: "node_service",
    params: SessionRevokeParamsSchema,
    result: SessionSchema,
  },
  /** The node service's event log, newest first, filtered and paged. */
  "events.list": { to: "node_service", params: EventListParamsSchema, result: EventListSchema },
  "gpu.allocations": { to: "node_service", params: EmptyParams, result: GpuAllocationListSchema },
  "network.peers.active": { to: "network", params: EmptyParams, result: ActivePeerListSchema },
  "network.peers.global": { to: "network", params: EmptyParams, result: GlobalPeerListSchema },
  /** A sealed request to a node by id; resolves with its reply. */
  "network.send": {
    to: "network",
    params: NetworkSendParamsSchema,
    result: NetworkSendResultSchema,
  },
  "network.broadcast": {
    to: "network",
    params: NetworkBroadcastParamsSchema,
    result: NetworkBroadcastResultSchema,
  },
  /** Requests and broadcasts of these topics are queued for the caller from now on. */
  "network.subscribe": {
    to: "network",
    params: NetworkSubscribeParamsSchema,
    result: NetworkSubscriptionSchema,
  },
  /** Long poll: the queued messages, waiting up to `wait_ms` for a first one. */
  "network.receive": {
    to: "network",
    params: NetworkReceiveParamsSchema,
    result: NetworkReceiveResultSchema,
  },
  /** Answers a request received through `network.receive`. */
  "network.reply": {
    to: "network",
    params: NetworkReplyParamsSchema,
    result: NetworkReplyResultSchema,
  },
  "network.unsubscribe": {
    to: "network",
    params: NetworkUnsubscribeParamsSchema,
    result: z.object({}),
  },
  /**
   * An API request another node sent this one (topic `api.http`), run through this node's own
   * app: the network worker calls it for each one, so the reply is this call's result.
   */
  "http.remote_request": {
    to: "http",
    params: HttpRemoteRequestParamsSchema,
    result: HttpRemoteResponseSchema,
  },
  /**
   * The node key's signature (base64) of a statement about this node itself
   * (`mod/node_statement.ts`); the network worker, which holds the key, signs
   * nothing else for other workers.
   */
  "network.sign_statement": {
    to: "network",
    params: z.object({ statement: NodeStatementSchema }).strict(),
    result: z.object({ signature: z.string() }),
  },
  // The embedded ledger (answered by the node service of a seed; see node_service/ledger/).
  "ledger.machine_register": {
    to: "node_service",
    params: LedgerMachineRegisterParams,
    result: MachineSchema,
  },
  "ledger.machine_list": {
    to: "node_service",
    params: LedgerMachineListParams,
    result: LedgerMachineListSchema,
  },
  "ledger.machine_get": {
    to: "node_service",
    params: LedgerMachineGetParams,
    result: MachineSchema,
  },
  "ledger.order_grab": { to: "node_service", params: LedgerOrderGrabParams, result: MachineSchema },
  "ledger.order_report": {
    to: "node_service",
    params: LedgerOrderReportParams,
    result: MachineSchema,
  },
  "ledger.rent": { to: "node_service", params: LedgerRentParams, result: RentalSchema },
  "ledger.renew": { to: "node_service", params: LedgerRenewParams, result: RentalSchema },
  "ledger.rental_get": { to: "node_service", params: LedgerRentalGetParams, result: RentalSchema },
  "ledger.lease_status": {
    to: "node_service",
    params: LedgerLeaseStatusParams,
    result: LeaseStatusSchema,
  },
  "ledger.multisig_register": {
    to: "node_service",
    params: LedgerMultisigRegisterParams,
    result: MultisigAccountSchema,
  },
  "ledger.multisig_get": {
    to: "node_service",
    params: LedgerMultisigGetParams,
    result: MultisigAccountSchema,
  },
  /**
   * This GPU node's registration for its owner (`owner_wallet`) to sign and
   * send to the ledger: what it declares, with its node key's proof.
   */
  "machine.registration": {
    to: "node_service",
    params: z.object({
      prices: RentPricesSchema.optional(),
      config: MachineConfigSchema.partial().optional(),
    }).strict(),
    result: z.object({ owner: AccountSchema, registration: MachineRegistrationSchema }),
  },
  /** A GPU node's signed "I am alive" (over the network, to the ledger authority). */
  "ledger.machine_heartbeat": {
    to: "node_service",
    params: LedgerHeartbeatParams,
    result: HeartbeatResultSchema,
  },
  /** A ledger admin credits an account. */
  "ledger.fund": { to: "node_service", params: LedgerFundParams, result: AccountBalanceSchema },
  "ledger.balance": {
    to: "node_service",
    params: LedgerBalanceParams,
    result: AccountBalanceSchema,
  },
  // The market of GPU nodes, from their `service.summary` announcements (node_service/market/table.ts).
  "market.nodes": {
    to: "node_service",
    params: MarketNodesParamsSchema,
    result: MarketNodeListSchema,
  },
  "market.node": { to: "node_service", params: MarketNodeParamsSchema, result: MarketNodeSchema },
  // Renters' monitoring servers on this GPU node (node_service/monitor/, mod/schemas/monitor.ts).
  "monitor.list": {
    to: "node_service",
    params: MonitorListParamsSchema,
    result: MonitorServersSchema,
  },
  /** Replaces the account's servers; refuses a bad or private address and changes nothing. */
  "monitor.set": {
    to: "node_service",
    params: MonitorSetParamsSchema,
    result: MonitorServersSchema,
  },
  // Image servers and transfers to and from them (node_service/image_servers/, mod/schemas/image_server.ts).
  "image_server.list": { to: "node_service", params: EmptyParams, result: ImageServerListSchema },
  "image_server.files": {
    to: "node_service",
    params: ImageServerFilesParamsSchema,
    result: ImageServerFilesSchema,
  },
  /** Checked and started at once (refusals are immediate); the bytes move in the background. */
  "image_server.download": {
    to: "node_service",
    params: ImageDownloadParamsSchema,
    result: ImageTransferSchema,
  },
  "image_server.upload": {
    to: "node_service",
    params: ImageUploadParamsSchema,
    result: ImageTransferSchema,
  },
  "image_server.transfers": {
    to: "node_service",
    params: ImageTransferListParamsSchema,
    result: ImageTransferListSchema,
  },
  "image_server.transfer": {
    to: "node_service",
    params: ImageTransferTargetSchema.omit({ actor: true }),
    result: ImageTransferSchema,
  },
  /** Stops a running transfer; what it wrote so far is removed. */
  "image_server.stop": {
    to: "node_service",
    params: ImageTransferTargetSchema,
    result: ImageTransferSchema,
  },
  // Renters' private networks on this GPU node (node_service/lan/, mod/schemas/lan.ts).
  "lan.list": { to: "node_service", params: LanListParamsSchema, result: LanListSchema },
  /** Refuses a bad name or range, or one overlapping another, and then changes nothing. */
  "lan.create": { to: "node_service", params: LanCreateParamsSchema, result: LanSchema },
  /** Refused while VMs are attached. */
  "lan.delete": { to: "node_service", params: LanDeleteParamsSchema, result: LanSchema },
  "lan.peers": { to: "node_service", params: LanPeersParamsSchema, result: LanSchema },
  /** Whether an account rents a machine now, from the verification service this node uses. */
  "lease.check": {
    to: "node_service",
    params: LeaseCheckParamsSchema,
    result: LeaseCheckResultSchema,
  },
  // Validators' check VMs on this GPU node (node_service/validation/, mod/schemas/check_vm.ts).
  /** Decides and records at once (refusals are immediate); the VM is made in the background. */
  "validation.check_create": {
    to: "node_service",
    params: CheckCreateParamsSchema,
    result: CheckVmSchema,
  },
  /** Resolves once the check VM runs; rejects with why it could not be made. */
  "validation.check_wait": {
    to: "node_service",
    params: CheckTargetParamsSchema,
    result: CheckVmSchema,
  },
  "validation.check_get": {
    to: "node_service",
    params: CheckTargetParamsSchema,
    result: CheckVmDetailSchema,
  },
  "validation.check_list": {
    to: "node_service",
    params: CheckListParamsSchema,
    result: CheckListSchema,
  },
  "validation.check_delete": {
    to: "node_service",
    params: CheckTargetParamsSchema,
    result: CheckVmSchema,
  },
  // Prometheus metrics: each worker's registry, merged by the HTTP worker for GET /metrics.
  "metrics.network": { to: "network", params: EmptyParams, result: MetricsSnapshotSchema },
  "metrics.node_service": {
    to: "node_service",
    params: EmptyParams,
    result: MetricsSnapshotSchema,
  },
} as const satisfies Record<string, MethodSpec>;

export type Method = keyof typeof METHODS;
export const METHOD_NAMES = Object.keys(METHODS) as [Method, ...Method[]];
export type ParamsOf<M extends Method> = z.input<(typeof METHODS)[M]["params"]>;
export type ResultOf<M extends Method> = z.infer<(typeof METHODS)[M]["result"]>;
/** The methods that party `P` must answer. */
export type MethodsOf<P extends Party> = {
  [M in Method]: (typeof METHODS)[M]["to"] extends P ? M : never;
}[Method];

// ---------------------------------------------------------------------------
// Errors that cross boundaries

export const RPC_ERROR_CODES = [
  /** No answer within the time-out. */
  "timeout",
  /** The party that answers is not running (crashed, restarting, stopped). */
  "unavailable",
  /** The node is shutting down; pending requests are abandoned. */
  "shutting_down",
  /** The message did not match its schema. */
  "bad_message",
  "invalid_params",
  "not_found",
  "conflict",
  "forbidden",
  /** The handler failed for a reason that is not the caller's fault. */
  "internal",
] as const;
export type RpcErrorCode = typeof RPC_ERROR_CODES[number];

export const RpcErrorDataSchema = z.object({ code: z.enum(RPC_ERROR_CODES), message: z.string() });
export type RpcErrorData = z.infer<typeof RpcErrorDataSchema>;

/** A typed failure of a request; `code` says what kind, so callers can branch on it. */
export class RpcError extends Error {
  constructor(readonly code: RpcErrorCode, message: string) {
    super(message);
    this.name = "RpcError";
  }

  toData(): RpcErrorData {
    return { code: this.code, message: this.message };
  }

  static fromData(data: RpcErrorData): RpcError {
    return new RpcError(data.code, data.message);
  }
}

// ---------------------------------------------------------------------------
// Envelopes

const PartySchema = z.enum(PARTIES);
const MessageId = z.string().min(1).max(64);

export const RpcRequestSchema = z.object({
  kind: z.literal("request"),
  id: MessageId,
  from: PartySchema,
  to: PartySchema,
  method: z.enum(METHOD_NAMES),
  params: z.unknown(),
  timeout_ms: z.number().int().positive(),
});
export type RpcRequest = z.infer<typeof RpcRequestSchema>;

export const RpcResponseSchema = z.object({
  kind: z.literal("response"),
  id: MessageId,
  from: PartySchema,
  to: PartySchema,
  outcome: z.discriminatedUnion("ok", [
    z.object({ ok: z.literal(true), result: z.unknown() }),
    z.object({ ok: z.literal(false), error: RpcErrorDataSchema }),
  ]),
});
export type RpcResponse = z.infer<typeof RpcResponseSchema>;

export type RpcMessage = RpcRequest | RpcResponse;

export const ConfigSchema = z.object(
  Object.fromEntries(Object.entries(CONFIG_FIELDS).map(([key, spec]) => [key, spec.schema])) as {
    [K in ConfigKey]: (typeof CONFIG_FIELDS)[K]["schema"];
  },
);

const Bytes = z.custom<Uint8Array>((value) => value instanceof Uint8Array, {
  message: "expected bytes",
});

/** What a worker is told when it starts. Secrets go only to the worker that needs them. */
export const WorkerInitSchema = z.object({
  worker: z.enum(WORKER_NAMES),
  config: ConfigSchema,
  node_id: z.string(),
  public_key: Bytes,
  /** Only the network worker gets the node's private key (it signs and opens sealed messages). */
  private_key: Bytes.optional(),
  /** Only the HTTP worker gets the operator token (it guards the operator endpoints). */
  operator_token: z.string().optional(),
  started_at: z.number(),
  /** Where things live in the data directory; each worker may touch only its own part. */
  paths: z.object({
    dataDir: z.string(),
    keyFile: z.string(),
    lockFile: z.string(),
    operatorTokenFile: z.string(),
    networkDir: z.string(),
    networkDb: z.string(),
    serviceDir: z.string(),
    serviceDb: z.string(),
  }) satisfies z.ZodType<NodePaths>,
});
export type WorkerInit = Omit<z.infer<typeof WorkerInitSchema>, "config"> & { config: NodeConfig };

/** A request or a response, as it travels on a direct port between two workers. */
export const RpcMessageSchema = z.discriminatedUnion("kind", [RpcRequestSchema, RpcResponseSchema]);

const Port = z.custom<MessagePort>((value) => value instanceof MessagePort, {
  message: "expected a MessagePort",
});

export const MainToWorkerSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("init"), init: WorkerInitSchema }),
  z.object({ kind: z.literal("shutdown"), reason: z.string() }),
  // A direct port to another running worker (mod/worker_links.ts), and word that it is gone.
  z.object({ kind: z.literal("link"), peer: z.enum(WORKER_NAMES), port: Port }),
  z.object({ kind: z.literal("unlink"), peer: z.enum(WORKER_NAMES), reason: z.string() }),
  RpcRequestSchema,
  RpcResponseSchema,
]);
export type MainToWorker =
  | { kind: "init"; init: WorkerInit }
  | { kind: "shutdown"; reason: string }
  | { kind: "link"; peer: WorkerName; port: MessagePort }
  | { kind: "unlink"; peer: WorkerName; reason: string }
  | RpcMessage;

export const WorkerToMainSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("ready") }),
  z.object({ kind: z.literal("init_failed"), message: z.string() }),
  z.object({ kind: z.literal("stopped") }),
  RpcRequestSchema,
  RpcResponseSchema,
]);
export type WorkerToMain = z.infer<typeof WorkerToMainSchema>;

/** Parses an incoming message; `undefined` when it is not one of ours. */
export function decodeMessage<S extends z.ZodType>(
  schema: S,
  data: unknown,
): z.infer<S> | undefined {
  const parsed = schema.safeParse(data);
  return parsed.success ? parsed.data : undefined;
}
