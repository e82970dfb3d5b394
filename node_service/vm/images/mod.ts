/** The public face of node_service/vm/images/: the VM images a GPU node offers. */
export { ImageError, ImageStore, type ReadyImage } from "./image_store.ts";
export {
  downloadFlags,
  type DownloadPolicy,
  NO_DOWNLOADS,
  NON_PUBLIC_IPV4,
  nonPublicIpv6,
} from "./download_policy.ts";
