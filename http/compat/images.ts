/**
 * `/api/v1/images...` in the original dialect: the list of VM images a
 * renter may boot on the named GPU node (`vm_image.list` for that renter, as
 * the native `GET /api/v1/images`), and the image servers (none: this
 * network has no image servers). Downloading, uploading and deleting images
 * through image servers is refused with errcode -3 and the native way to add
 * an image (`POST /api/v1/images/add`, a URL and its SHA-256).
 */
import { imageItem } from "./answers.ts";
import { CompatError, invalidRequest, ORIGINAL_CODES } from "./envelope.ts";
import type { Endpoint, Group } from "./endpoint.ts";
import { renter } from "./endpoint.ts";

const list: Endpoint = {
  name: "list images",
  at: "node",
  signed: true,
  async run(input) {
    const who = await renter(input);
    const { images } = await input.deps.call("vm_image.list", { owner: who.account });
    return images.filter((image) => image.state === "ready").map(imageItem);
  },
};

const servers: Endpoint = {
  name: "list image servers",
  at: "here",
  signed: false,
  bodyless: true,
  run: () => ({ image_server: [] }),
};

const IMAGE_SERVER_WORDS = [
  "download",
  "downloadprogress",
  "download_stop",
  "upload",
  "uploadprogress",
  "upload_stop",
  "delete",
];

function imageServerRefusal(word: string): Endpoint {
  return {
    name: `${word} image`,
    at: "here",
    signed: false,
    bodyless: true,
    run() {
      throw new CompatError(
        200,
        ORIGINAL_CODES.denied,
        `images/${word}: this network has no image servers; a renter adds a VM image with ` +
          "POST /api/v1/images/add (name, url, sha256) on the native API",
      );
    },
  };
}

/** `/api/v1/images[/servers|/download|...]`. */
export const imageRoutes: Group = (segments) => {
  const [word, ...rest] = segments;
  if (word === undefined) return { endpoint: list, args: [] };
  if (rest.length === 0 && word === "servers") return { endpoint: servers, args: [] };
  if (rest.length === 0 && IMAGE_SERVER_WORDS.includes(word)) {
    return { endpoint: imageServerRefusal(word), args: [] };
  }
  throw invalidRequest("invalid requests uri");
};
