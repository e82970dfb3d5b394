/**
 * `/api/v1/images/download|downloadprogress|download_stop|upload|
 * uploadprogress|upload_stop` and `/api/v1/images/servers` in the original
 * dialect, over the native image-server calls (node_service/image_servers/).
 *
 * What differs from the original, on purpose: the original's client-end
 * looked `image_server` up in its own configuration and sent the GPU node a
 * full `ip,port,module` (so a GPU node would rsync from wherever a client-end
 * said); here the GPU node looks the id up in its own `image_servers`, and
 * the client-end's `/images/servers` lists the ids of its own configuration
 * (give both the same). The servers speak HTTP/WebDAV, not rsync.
 * `local_dir` is ignored: a download becomes the renter's own VM image.
 * `image_filename` of an upload names the renter's image, or one of its
 * stopped VMs by task id (its disk). Each download is checked against
 * `additional.sha256` or the server's `<name>.sha256`.
 *
 * `/images/delete` deletes the signer's own VM image `image_filename` (the
 * original deleted `/data/<image_filename>`), with the native delete's
 * refusals (another's image, an image a VM uses) and the original's (no such
 * file; one being uploaded).
 */
import type { ImageTransfer } from "../../mod/mod.ts";
import { requireRenting } from "./access.ts";
import { invalidParams, refused } from "./envelope.ts";
import { bodyOf, type Endpoint, type EndpointInput, renter } from "./endpoint.ts";
import type { Requester } from "../auth.ts";
import { scaleSize } from "./answers.ts";

/** A renter's images at once (the native `images/add` cap). */
const MAX_IMAGES_PER_RENTER = 3;

function text(input: EndpointInput, field: string): string {
  const value = bodyOf(input).additional[field];
  if (typeof value !== "string" || value === "") throw refused(`additional no ${field}`);
  return value;
}

/** The wallet (or multisig) that acts; a session may not bring images in or send them out. */
function walletRenter(input: EndpointInput): Promise<Requester> {
  return input.authority.requester(bodyOf(input).auth, { session: false });
}

/** The signer's newest transfer of `kind` about `filename`. */
async function latest(
  input: EndpointInput,
  owner: string,
  kind: ImageTransfer["kind"],
  filename: string,
): Promise<ImageTransfer | undefined> {
  const { transfers } = await input.deps.call("image_server.transfers", { owner });
  return transfers.find((transfer) =>
    transfer.kind === kind &&
    (transfer.remote_name === filename || transfer.remote_name === `${filename}.qcow2` ||
      transfer.local === filename)
  );
}

function progressOf(transfer: ImageTransfer, word: "downloading" | "uploading") {
  if (transfer.state === "done") return { status: "done", progress: "100%" };
  if (transfer.state === "running") {
    const share = transfer.total_bytes ? transfer.done_bytes / transfer.total_bytes : 0;
    return { status: word, progress: `${Math.min(99, Math.floor(share * 100))}%` };
  }
  throw refused(`${transfer.kind} of ${transfer.remote_name} ${transfer.state}: ${transfer.error}`);
}

const download: Endpoint = {
  name: "download image",
  at: "node",
  signed: true,
  async run(input) {
    const who = await walletRenter(input);
    await requireRenting(input, who.account);
    const sha256 = bodyOf(input).additional.sha256;
    await input.deps.call("image_server.download", {
      actor: who.actor,
      owner: who.account,
      server: text(input, "image_server"),
      remote_name: text(input, "image_filename"),
      sha256: typeof sha256 === "string" && sha256 !== "" ? sha256 : undefined,
      max_per_owner: MAX_IMAGES_PER_RENTER,
    });
    return "ok";
  },
};

const upload: Endpoint = {
  name: "upload image",
  at: "node",
  signed: true,
  async run(input) {
    const who = await walletRenter(input);
    await requireRenting(input, who.account);
    const filename = text(input, "image_filename");
    const { vms } = await input.deps.call("vm.list", {});
    const vm = vms.find((candidate) =>
      candidate.owner === who.account && candidate.state !== "deleted" &&
      (candidate.id === filename || `${candidate.id}.qcow2` === filename)
    );
    await input.deps.call("image_server.upload", {
      actor: who.actor,
      owner: who.account,
      server: text(input, "image_server"),
      source: vm ? { kind: "vm", task_id: vm.id } : { kind: "image", name: filename },
    });
    return "ok";
  },
};

function progress(kind: ImageTransfer["kind"]): Endpoint {
  return {
    name: `${kind} image progress`,
    at: "node",
    signed: true,
    async run(input) {
      const who = await renter(input);
      const filename = text(input, "image_filename");
      const transfer = await latest(input, who.account, kind, filename);
      if (!transfer) throw refused(`image:${filename} not in ${kind}ing`);
      return progressOf(transfer, kind === "download" ? "downloading" : "uploading");
    },
  };
}

function stop(kind: ImageTransfer["kind"]): Endpoint {
  return {
    name: `stop ${kind} image`,
    at: "node",
    signed: true,
    async run(input) {
      const who = await renter(input);
      const filename = text(input, "image_filename");
      const transfer = await latest(input, who.account, kind, filename);
      if (!transfer || transfer.state !== "running") {
        throw refused(`image:${filename} not in ${kind}ing`);
      }
      await input.deps.call("image_server.stop", {
        actor: who.actor,
        owner: who.account,
        transfer_id: transfer.transfer_id,
      });
      return "ok";
    },
  };
}

/** `/images/servers`: the ids of this node's own `image_servers`. */
export const imageServerList: Endpoint = {
  name: "list image servers",
  at: "here",
  signed: false,
  bodyless: true,
  async run(input) {
    const { servers } = await input.deps.call("image_server.list", {});
    return { image_server: servers.map((server) => server.id) };
  },
};

/**
 * `/images` with `image_server` and no peer: that server's files, listed by this node
 * (`[{image_name, image_size}]` as the original's client-end answered).
 */
export async function serverFiles(input: EndpointInput, server: unknown) {
  if (typeof server !== "string" || server === "") throw invalidParams("image_server not exist");
  const { files } = await input.deps.call("image_server.files", { server });
  return files.map((file) => ({
    image_name: file.name,
    image_size: scaleSize(file.size_bytes ?? 0),
  }));
}

const deleteImage: Endpoint = {
  name: "delete image",
  at: "node",
  signed: true,
  async run(input) {
    // Wallet-signed as the native delete: a session may not destroy images.
    const who = await walletRenter(input);
    const name = text(input, "image_filename");
    const { images } = await input.deps.call("vm_image.list", { owner: who.account });
    if (!images.some((image) => image.name === name && image.added_by === who.account)) {
      throw refused(`image file:${name} is not exist`);
    }
    const { transfers } = await input.deps.call("image_server.transfers", {
      owner: who.account,
    });
    // An image upload's `local` names its source as `image <name>` (node_service/image_servers/).
    if (
      transfers.some((transfer) =>
        transfer.state === "running" && transfer.kind === "upload" &&
        transfer.local === `image ${name}`
      )
    ) {
      throw refused("image file is in downloading or uploading, please try again later");
    }
    await input.deps.call("vm_image.delete", { actor: who.actor, owner: who.account, name });
    return "ok";
  },
};

/** The original's words after `/images/`, served here. */
export const IMAGE_SERVER_ENDPOINTS: Record<string, Endpoint> = {
  delete: deleteImage,
  download,
  downloadprogress: progress("download"),
  download_stop: stop("download"),
  upload,
  uploadprogress: progress("upload"),
  upload_stop: stop("upload"),
};
