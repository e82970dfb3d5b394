/**
 * `/api/v1/images...` in the original dialect: the list of VM images a
 * renter may boot on the named GPU node (`vm_image.list` for that renter, as
 * the native `GET /api/v1/images`), or, with `image_server` and no peer, the
 * files of that image server; the image servers, downloads and uploads with
 * their progress and stop, and the deletion of a renter's own image
 * (image_servers.ts).
 */
import { imageItem } from "./answers.ts";
import { invalidRequest } from "./envelope.ts";
import type { Endpoint, Group } from "./endpoint.ts";
import { bodyOf, renter } from "./endpoint.ts";
import { IMAGE_SERVER_ENDPOINTS, imageServerList, serverFiles } from "./image_servers.ts";

const list: Endpoint = {
  name: "list images",
  // With a peer, that GPU node's images; without, an image server's files (listed here).
  at: "peer_or_here",
  signed: true,
  async run(input) {
    if (bodyOf(input).peer === undefined) {
      return await serverFiles(input, bodyOf(input).additional.image_server);
    }
    const who = await renter(input);
    const { images } = await input.deps.call("vm_image.list", { owner: who.account });
    return images.filter((image) => image.state === "ready").map(imageItem);
  },
};

/** `/api/v1/images[/servers|/download|...]`. */
export const imageRoutes: Group = (segments) => {
  const [word, ...rest] = segments;
  if (word === undefined) return { endpoint: list, args: [] };
  if (rest.length === 0 && word === "servers") return { endpoint: imageServerList, args: [] };
  // Own keys only: "constructor" and the like are the object's, not endpoints.
  const served = rest.length === 0 && Object.hasOwn(IMAGE_SERVER_ENDPOINTS, word)
    ? IMAGE_SERVER_ENDPOINTS[word]
    : undefined;
  if (served) return { endpoint: served, args: [] };
  throw invalidRequest("invalid requests uri");
};
