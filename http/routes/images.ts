/**
 * Images on a GPU node, as its renters see them (`/api/v1/images`, forwarded
 * by any client-end like the VM paths): the VM images and container images
 * they can create from, and VM images they add themselves from a URL. Adding
 * is a long operation (a download) that answers at once with an operation to
 * follow. A renter's image is its own: no other renter sees, boots or deletes
 * it, and its name is the renter's alone (it takes no operator's name). The
 * operator's images are shared; the operator's own endpoints manage them.
 *
 * What a renter sees of an image leaves out where it came from and which VMs
 * use it: those belong to the operator and to the other renters.
 */
import { z } from "zod";
import {
  ContainerImageListSchema,
  Sha256Schema,
  type VmImage,
  VmImageDeletedSchema,
  VmImageNameSchema,
  VmImageSchema,
} from "../../mod/mod.ts";
import type { ApiRoutes } from "../api_route.ts";
import type { WalletAuthenticator } from "../auth.ts";
import { ApiError } from "../errors.ts";
import type { InstanceRouteDeps } from "./instances.ts";
import { requireRental } from "./renter.ts";
import { NodeQuery, TargetFields as Target } from "./common.ts";

/** VM images one renter may keep on a node at once, so one renter cannot fill its disk. */
export const MAX_IMAGES_PER_RENTER = 3;
/** How often an image download's operation looks at the image's state. */
const ADD_POLL_MS = 1_000;
/** A download that has not finished by then is reported failed (the node goes on with it). */
const ADD_WATCH_LIMIT_MS = 6 * 60 * 60_000;

const SIGNED = "Wallet-signed (see the ledger API).";
const ERRORS = ["unauthorized", "forbidden", "not_found", "try_later", "timeout"] as const;

export const RenterVmImageSchema = VmImageSchema.pick({
  name: true,
  state: true,
  format: true,
  size_bytes: true,
  virtual_size_bytes: true,
  sha256: true,
  error: true,
  added_at: true,
  progress: true,
}).extend({
  /** The signer added it (and so may delete it). */
  mine: z.boolean(),
});

function renterView(image: VmImage, account: string): z.infer<typeof RenterVmImageSchema> {
  return {
    name: image.name,
    state: image.state,
    format: image.format,
    size_bytes: image.size_bytes,
    virtual_size_bytes: image.virtual_size_bytes,
    sha256: image.sha256,
    error: image.error,
    added_at: image.added_at,
    progress: image.progress,
    mine: image.added_by === account,
  };
}

export function imageRoutes(
  routes: ApiRoutes,
  deps: InstanceRouteDeps,
  auth: WalletAuthenticator,
): void {
  const vmImage = async (name: string, owner: string): Promise<VmImage> => {
    const { images } = await deps.call("vm_image.list", { owner });
    const image = images.find((candidate) => candidate.name === name);
    if (!image) throw new ApiError("not_found", `no VM image ${name} on this node`);
    return image;
  };

  routes.add({
    method: "get",
    path: "/api/v1/images",
    summary: "The VM images and container images this node offers",
    auth: "renter",
    description: `${SIGNED} A delegated session of a renter may read too.`,
    tags: ["images"],
    query: NodeQuery,
    response: z.object({
      vm: z.array(RenterVmImageSchema),
      container: ContainerImageListSchema,
    }),
    errors: ERRORS,
  }, async ({ context }) => {
    const who = await auth.authoriseRenter(context, "");
    const [vm, container] = await Promise.all([
      deps.call("vm_image.list", { owner: who.account }),
      // A node without a container engine still lists its VM images.
      deps.call("container_image.list", {}).catch(() => []),
    ]);
    return { vm: vm.images.map((image) => renterView(image, who.account)), container };
  });

  routes.add({
    method: "get",
    path: "/api/v1/images/:name",
    summary: "One VM image: state, and progress while it downloads",
    auth: "renter",
    description: `${SIGNED} A delegated session of a renter may read too.`,
    tags: ["images"],
    params: z.object({ name: VmImageNameSchema }),
    query: NodeQuery,
    response: RenterVmImageSchema,
    errors: ERRORS,
  }, async ({ params, context }) => {
    const who = await auth.authoriseRenter(context, "");
    return renterView(await vmImage(params.name, who.account), who.account);
  });

  routes.add({
    method: "post",
    path: "/api/v1/images/add",
    summary: "Download a VM image from a URL onto the rented node (answers at once; follow " +
      "the operation)",
    auth: "wallet",
    description: `${SIGNED} Only the machine's current renter; the SHA-256 is required, and the ` +
      `URL's host must be one the node may download from. At most ${MAX_IMAGES_PER_RENTER} ` +
      "images of one renter at once.",
    tags: ["images"],
    body: z.object({
      ...Target,
      name: VmImageNameSchema,
      url: z.url({ protocol: /^https?$/ }).max(4096),
      sha256: Sha256Schema,
    }),
    response: z.object({
      image_name: z.string(),
      operation_id: z.string(),
      state: z.literal("adding"),
    }),
    successStatus: 202,
    errors: [...ERRORS, "conflict"],
  }, async ({ body, rawBody, context }) => {
    const who = await auth.authorise(context, rawBody);
    await requireRental(deps, who.account);
    // Refused at once (a name taken, the cap reached, a host not allowed) rather than inside the
    // operation; the cap is checked in the same transaction as the insert.
    await deps.call("vm_image.add", {
      actor: who.account,
      name: body.name,
      source: { kind: "url", url: body.url },
      sha256: body.sha256,
      added_by: who.account,
      max_per_owner: MAX_IMAGES_PER_RENTER,
    });
    const operation = deps.operations.start("vm_image.add", body.name, async () => {
      const until = Date.now() + ADD_WATCH_LIMIT_MS;
      while (Date.now() < until) {
        const image = await vmImage(body.name, who.account);
        if (image.state === "ready") return;
        if (image.state === "failed") throw new Error(image.error ?? "the download failed");
        await new Promise((resolve) => setTimeout(resolve, ADD_POLL_MS));
      }
      throw new Error(`image ${body.name} was not ready within the watch limit`);
    });
    return {
      image_name: body.name,
      operation_id: operation.operation_id,
      state: "adding" as const,
    };
  });

  routes.add({
    method: "post",
    path: "/api/v1/images/:name/delete",
    summary: "Delete a VM image the signer added and no VM uses",
    auth: "wallet",
    description: SIGNED,
    tags: ["images"],
    params: z.object({ name: VmImageNameSchema }),
    body: z.object(Target),
    response: VmImageDeletedSchema,
    errors: [...ERRORS, "conflict"],
  }, async ({ params, rawBody, context }) => {
    const who = await auth.authorise(context, rawBody);
    const image = await vmImage(params.name, who.account);
    if (image.added_by !== who.account) {
      throw new ApiError("forbidden", `image ${params.name} was not added by you`);
    }
    return await deps.call("vm_image.delete", {
      actor: who.account,
      owner: who.account,
      name: params.name,
    });
  });
}
