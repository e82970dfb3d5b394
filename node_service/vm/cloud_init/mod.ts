/** The public face of node_service/vm/cloud_init/: what the rest of the node may use. */
export { buildScriptSeedImage, buildSeedImage } from "./nocloud_seed.ts";
