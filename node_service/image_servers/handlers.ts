/**
 * Starts the image-server part of the node service: the configured servers,
 * the transfer service over the node's images and VMs, and the typed
 * handlers (`image_server.*`) the HTTP worker calls.
 */
import {
  chainRpcHosts,
  type DatabaseSync,
  type Handlers,
  type Logger,
  type NodeConfig,
  RpcError,
  type RpcErrorCode,
} from "../../mod/mod.ts";
import type { EventLog } from "../event_log.ts";
import { DiskGuard } from "../host/mod.ts";
import { type ImageStore, renterImageKey, VM_FILES, type VmService } from "../vm/mod.ts";
import { ImageServerClient } from "./client.ts";
import { processRequester, type Requester, TransferError } from "./requester.ts";
import { serversFromConfig, shownUrl, transferPolicy } from "./servers.ts";
import { TransferStore } from "./store.ts";
import { type DiskExporter, qemuImgExporter, TransferService } from "./transfers.ts";

export type ImageServerDeps = {
  config: NodeConfig;
  /** The node's database: the transfers' records live there. */
  db: DatabaseSync;
  images: ImageStore;
  /** The VMs: their records (owner, state) and snapshots. */
  vms: Pick<VmService, "summaries" | "snapshotList">;
  vmDir: string;
  events: Pick<EventLog, "record">;
  now: () => number;
  log: Logger;
  /** How requests reach the servers; the request process under the outbound policy by default. */
  requester?: Requester;
  exportDisk?: DiskExporter;
};

export type StartedImageServers = {
  transfers: TransferService;
  handlers: Pick<
    Handlers<"node_service">,
    | "image_server.list"
    | "image_server.files"
    | "image_server.download"
    | "image_server.upload"
    | "image_server.transfers"
    | "image_server.transfer"
    | "image_server.stop"
  >;
  stop(): Promise<void>;
};

const GIB = 2 ** 30;

const ERROR_CODES: Record<TransferError["kind"], RpcErrorCode> = {
  invalid: "invalid_params",
  not_found: "not_found",
  conflict: "conflict",
  not_allowed: "forbidden",
  // The server did not answer as it should: the caller may try later.
  failed: "unavailable",
  stopped: "conflict",
};

function typed<T>(work: () => Promise<T> | T): Promise<T> {
  return Promise.resolve().then(work).catch((error) => {
    if (error instanceof TransferError) throw new RpcError(ERROR_CODES[error.kind], error.message);
    throw error;
  });
}

export function startImageServers(deps: ImageServerDeps): StartedImageServers {
  const servers = serversFromConfig(deps.config);
  const requester = deps.requester ??
    processRequester(transferPolicy(servers, deps.config, chainRpcHosts(deps.config)));
  const client = new ImageServerClient(requester);
  const { images, vms } = deps;
  const guard = new DiskGuard(deps.config.vm_min_free_disk_gib * GIB);
  const transfers = new TransferService({
    servers,
    client,
    imageDir: images.imageDir,
    store: new TransferStore(deps.db),
    images: {
      get: (key) => images.get(key),
      keyFor: (owner, name) => owner === undefined ? name : renterImageKey(owner, name),
      countOf: (owner) => images.listFor(owner).filter((image) => image.added_by === owner).length,
      pathOf: (key) => images.pathOf(key),
      async addInPlace(name, owner, sha256, maxPerOwner) {
        const key = owner === undefined ? name : renterImageKey(owner, name);
        const { done } = images.add(
          name,
          { kind: "path", path: images.pathOf(key) },
          sha256,
          owner,
          maxPerOwner,
        );
        return await done;
      },
    },
    vms: {
      find: (id) => vms.summaries().find((vm) => vm.id === id),
      snapshots: (id) => vms.snapshotList(id).map((snapshot) => snapshot.name),
      diskPath: (id) => `${deps.vmDir}/${id}/${VM_FILES.disk}`,
    },
    exportDisk: deps.exportDisk ?? qemuImgExporter,
    room: (bytes, what) => guard.require(images.imageDir, bytes, what),
    record: (event) => deps.events.record(event),
    now: deps.now,
    log: deps.log,
  });
  const recovered = transfers.recover();
  if (recovered.interrupted.length > 0 || recovered.files > 0) {
    deps.log.info("image transfers were interrupted by a stop; what they left is removed", {
      transfers: recovered.interrupted,
      files: recovered.files,
    });
  }
  return {
    transfers,
    handlers: {
      "image_server.list": () => ({
        servers: servers.map((server) => ({ id: server.id, url: shownUrl(server.url) })),
      }),
      "image_server.files": (params) =>
        typed(async () => {
          const server = servers.find((candidate) => candidate.id === params.server);
          if (!server) {
            throw new TransferError("not_found", `image_server not exist: ${params.server}`);
          }
          const files = await client.list(server);
          return {
            server: server.id,
            files: files.map((file) => ({
              name: file.name,
              size_bytes: file.sizeBytes,
              modified_at: file.modifiedAt,
              has_sha256: file.hasSha256,
            })),
          };
        }),
      "image_server.download": (params) => typed(() => transfers.download(params)),
      "image_server.upload": (params) => typed(() => transfers.upload(params)),
      "image_server.transfers": (params) => ({ transfers: transfers.list(params.owner) }),
      "image_server.transfer": (params) =>
        typed(() => transfers.get(params.transfer_id, params.owner)),
      "image_server.stop": (params) =>
        typed(() => transfers.stop(params.actor, params.transfer_id, params.owner)),
    },
    stop: () => transfers.close(),
  };
}
