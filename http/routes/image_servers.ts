/**
 * Image servers on a GPU node (node_service/image_servers/): the WebDAV
 * servers its operator named, their files, and transfers to and from them
 * with progress and stop. A renter (`/api/v1/image_servers`, forwarded by
 * any client-end like the VM paths) downloads a file as its own VM image
 * and uploads its own image, its stopped VM's disk or one of its snapshots;
 * the operator (`/api/v1/operator/image_servers`, local, with the token)
 * does the same for the operator's images and any VM. A transfer answers at
 * once (202) with an operation whose `progress` follows the bytes (SSE at
 * `/api/v1/operations/{id}/events`); stopping it removes what it wrote.
 */
import { z } from "zod";
import {
  ImageServerFilesSchema,
  ImageServerIdSchema,
  ImageServerListSchema,
  type ImageTransfer,
  ImageTransferListSchema,
  ImageTransferSchema,
  RemoteFileNameSchema,
  RpcError,
  Sha256Schema,
  UploadSourceSchema,
  VmImageNameSchema,
} from "../../mod/mod.ts";
import type { ApiRoutes } from "../api_route.ts";
import type { AppDeps } from "../app_deps.ts";
import type { WalletAuthenticator } from "../auth.ts";
import { type OperatorAccess, requireOperator } from "../operator_auth.ts";
import type { Operations } from "../operations.ts";
import { NodeQuery, SIGNED_ROUTE_ERRORS, TargetFields } from "./common.ts";
import { MAX_IMAGES_PER_RENTER } from "./images.ts";
import type { InstanceRouteDeps } from "./instances.ts";
import { requireRental } from "./renter.ts";

/** How often a transfer's operation reads the transfer's progress. */
const TRANSFER_POLL_MS = 500;
/** An operation stops following a transfer after this long (the transfer goes on). */
const TRANSFER_WATCH_LIMIT_MS = 12 * 60 * 60_000;
/**
 * How long the node service may be away (restarting) before the operation gives up: back, it
 * says the transfer was `interrupted`, and so does the operation.
 */
const SERVICE_AWAY_LIMIT_MS = 2 * 60_000;

const SIGNED = "Wallet-signed by the machine's current renter.";
const READ = "Wallet-signed, or a renter's delegated session.";
const OPERATOR = "Operator only: loopback, with `Authorization: Bearer <operator.token>`.";

const ServerParams = z.object({ server: ImageServerIdSchema });
const TransferParams = z.object({ transfer_id: z.string().regex(/^tr-[0-9a-f]{20}$/) });

const DownloadBody = {
  /** The file on the server (the original's `image_filename`). */
  remote_name: RemoteFileNameSchema,
  /** Its name as an image here; the remote name when absent. */
  image_name: VmImageNameSchema.optional(),
  /** Checked against the file; else the server's `<name>.sha256` must be there. */
  sha256: Sha256Schema.optional(),
};
const UploadBody = { source: UploadSourceSchema, remote_name: RemoteFileNameSchema.optional() };

export const TransferStartedSchema = z.object({
  transfer_id: z.string(),
  operation_id: z.string(),
  state: z.literal("running"),
  transfer: ImageTransferSchema,
});

type Who = { actor: string; owner?: string };

/** Starts an operation that follows transfer `transfer` until it ends, reporting its progress. */
function follow(
  deps: Pick<AppDeps, "call">,
  operations: Operations,
  transfer: ImageTransfer,
  owner: string | undefined,
) {
  const operation = operations.start(
    `image_server.${transfer.kind}`,
    `${transfer.server}/${transfer.remote_name}`,
    async (report) => {
      const until = Date.now() + TRANSFER_WATCH_LIMIT_MS;
      let awaySince: number | undefined;
      while (Date.now() < until) {
        let now;
        try {
          now = await deps.call("image_server.transfer", {
            transfer_id: transfer.transfer_id,
            owner,
          });
          awaySince = undefined;
        } catch (error) {
          const away = error instanceof RpcError && error.code === "unavailable";
          awaySince ??= Date.now();
          if (!away || Date.now() - awaySince > SERVICE_AWAY_LIMIT_MS) throw error;
          await new Promise((resolve) => setTimeout(resolve, TRANSFER_POLL_MS));
          continue;
        }
        report({ phase: now.phase, done_bytes: now.done_bytes, total_bytes: now.total_bytes });
        if (now.state === "done") return;
        if (now.state !== "running") throw new Error(now.error ?? `the transfer ${now.state}`);
        await new Promise((resolve) => setTimeout(resolve, TRANSFER_POLL_MS));
      }
      throw new Error(`transfer ${transfer.transfer_id} did not end within the watch limit`);
    },
  );
  return {
    transfer_id: transfer.transfer_id,
    operation_id: operation.operation_id,
    state: "running" as const,
    transfer,
  };
}

/** The routes of one audience: the renter's (under `/api/v1`) or the operator's. */
function transferRoutes(
  routes: ApiRoutes,
  deps: Pick<AppDeps, "call"> & { operations: Operations },
  audience: {
    prefix: string;
    tag: string;
    auth: "renter" | "operator";
    readDescription: string;
    writeDescription: string;
    query: z.ZodType<{ node_id?: string }> | undefined;
    body: typeof TargetFields | Record<string, never>;
    /** Who reads (or stops): a renter's session will do. `rawBody` for a POST's signature. */
    reader: (
      context: Parameters<Parameters<ApiRoutes["add"]>[1]>[0]["context"],
      rawBody: string,
    ) => Promise<Who>;
    writer: (
      context: Parameters<Parameters<ApiRoutes["add"]>[1]>[0]["context"],
      rawBody: string,
    ) => Promise<Who>;
    maxPerOwner?: number;
  },
): void {
  const { prefix } = audience;
  const errors = audience.auth === "renter"
    ? SIGNED_ROUTE_ERRORS
    : (["unauthorized", "forbidden", "not_found", "conflict", "try_later", "timeout"] as const);
  const query = audience.query ?? z.object({});

  routes.add({
    method: "get",
    path: `${prefix}/image_servers`,
    summary: "The image servers this node's operator named",
    auth: audience.auth,
    description: audience.readDescription,
    tags: [audience.tag],
    query,
    response: ImageServerListSchema,
    errors,
  }, async ({ context }) => {
    await audience.reader(context, "");
    return await deps.call("image_server.list", {});
  });

  routes.add({
    method: "get",
    path: `${prefix}/image_servers/:server/files`,
    summary: "The image files on one image server (WebDAV PROPFIND), with their .sha256 sidecars",
    auth: audience.auth,
    description: audience.readDescription,
    tags: [audience.tag],
    params: ServerParams,
    query,
    response: ImageServerFilesSchema,
    errors,
  }, async ({ params, context }) => {
    await audience.reader(context, "");
    return await deps.call("image_server.files", { server: params.server });
  });

  routes.add({
    method: "post",
    path: `${prefix}/image_servers/:server/download`,
    summary: "Download a file of an image server as a VM image here (answers at once; follow the " +
      "operation's progress)",
    auth: audience.auth,
    description: `${audience.writeDescription} The file is checked against \`sha256\` or the ` +
      "server's `<name>.sha256`; without either the download is refused. A broken connection " +
      "goes on where it stopped (HTTP Range); a stopped or failed download leaves nothing.",
    tags: [audience.tag],
    params: ServerParams,
    body: z.object({ ...audience.body, ...DownloadBody }),
    response: TransferStartedSchema,
    successStatus: 202,
    errors: ["invalid_params", ...errors],
  }, async ({ params, body, rawBody, context }) => {
    const who = await audience.writer(context, rawBody);
    const transfer = await deps.call("image_server.download", {
      actor: who.actor,
      owner: who.owner,
      server: params.server,
      remote_name: body.remote_name,
      image_name: body.image_name,
      sha256: body.sha256,
      max_per_owner: audience.maxPerOwner,
    });
    return follow(deps, deps.operations, transfer, who.owner);
  });

  routes.add({
    method: "post",
    path: `${prefix}/image_servers/:server/upload`,
    summary: "Upload an image, a stopped VM's disk or one of its snapshots to an image server " +
      "(answers at once; follow the operation's progress)",
    auth: audience.auth,
    description: `${audience.writeDescription} \`source\`: \`{kind: "image", name}\` or ` +
      '`{kind: "vm", task_id, snapshot?}` (the VM stopped; its disk or snapshot is made one ' +
      "standalone qcow2 first). The server gets `<remote_name>.sha256` beside it; a name it " +
      "already has is refused. A stopped or failed upload leaves nothing there.",
    tags: [audience.tag],
    params: ServerParams,
    body: z.object({ ...audience.body, ...UploadBody }),
    response: TransferStartedSchema,
    successStatus: 202,
    errors: ["invalid_params", ...errors],
  }, async ({ params, body, rawBody, context }) => {
    const who = await audience.writer(context, rawBody);
    const transfer = await deps.call("image_server.upload", {
      actor: who.actor,
      owner: who.owner,
      server: params.server,
      source: body.source,
      remote_name: body.remote_name,
    });
    return follow(deps, deps.operations, transfer, who.owner);
  });

  routes.add({
    method: "get",
    path: `${prefix}/image_transfers`,
    summary: "Transfers with image servers, newest first, running and recently ended",
    auth: audience.auth,
    description: audience.readDescription,
    tags: [audience.tag],
    query,
    response: ImageTransferListSchema,
    errors,
  }, async ({ context }) => {
    const who = await audience.reader(context, "");
    return await deps.call("image_server.transfers", { owner: who.owner });
  });

  routes.add({
    method: "get",
    path: `${prefix}/image_transfers/:transfer_id`,
    summary: "One transfer: its state and how many bytes have moved",
    auth: audience.auth,
    description: audience.readDescription,
    tags: [audience.tag],
    params: TransferParams,
    query,
    response: ImageTransferSchema,
    errors,
  }, async ({ params, context }) => {
    const who = await audience.reader(context, "");
    return await deps.call("image_server.transfer", {
      transfer_id: params.transfer_id,
      owner: who.owner,
    });
  });

  routes.add({
    method: "post",
    path: `${prefix}/image_transfers/:transfer_id/stop`,
    summary: "Stop a running transfer; what it wrote is removed",
    auth: audience.auth,
    description: audience.readDescription,
    tags: [audience.tag],
    params: TransferParams,
    body: z.object(audience.body),
    response: ImageTransferSchema,
    errors,
  }, async ({ params, rawBody, context }) => {
    const who = await audience.reader(context, rawBody);
    return await deps.call("image_server.stop", {
      actor: who.actor,
      transfer_id: params.transfer_id,
      owner: who.owner,
    });
  });
}

/** The renter's image-server routes: its own images, VMs and transfers on the machine it rents. */
export function imageServerRoutes(
  routes: ApiRoutes,
  deps: InstanceRouteDeps,
  auth: WalletAuthenticator,
): void {
  transferRoutes(routes, deps, {
    prefix: "/api/v1",
    tag: "image servers",
    auth: "renter",
    readDescription: READ,
    writeDescription: `${SIGNED} A download becomes the renter's own image (at most ` +
      `${MAX_IMAGES_PER_RENTER} at once); an upload sends the renter's own image or VM.`,
    query: NodeQuery,
    body: TargetFields,
    reader: async (context, rawBody) => {
      const who = await auth.authoriseRenter(context, rawBody);
      return { actor: who.actor, owner: who.account };
    },
    writer: async (context, rawBody) => {
      const who = await auth.authorise(context, rawBody);
      await requireRental(deps, who.account);
      return { actor: who.account, owner: who.account };
    },
    maxPerOwner: MAX_IMAGES_PER_RENTER,
  });
}

/** The operator's: images shared by every renter, any VM, every transfer. */
export function operatorImageServerRoutes(
  routes: ApiRoutes,
  deps: Pick<AppDeps, "call"> & { operations: Operations },
  access: OperatorAccess,
): void {
  const operator = (context: Parameters<typeof requireOperator>[0]): Promise<Who> => {
    requireOperator(context, access);
    return Promise.resolve({ actor: "operator" });
  };
  transferRoutes(routes, deps, {
    prefix: "/api/v1/operator",
    tag: "operator",
    auth: "operator",
    readDescription: OPERATOR,
    writeDescription: `${OPERATOR} A download becomes an image every renter may boot.`,
    query: undefined,
    body: {},
    reader: operator,
    writer: (context) => operator(context),
  });
}
