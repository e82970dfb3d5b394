/** The public face of node_service/vm/images/: the VM images a GPU node offers. */
export { ImageError, ImageStore, type ReadyImage, renterImageKey } from "./image_store.ts";
