/** The public face of node_service/container/docker/: what the rest of the node may use. */
export { DockerEngine } from "./engine.ts";
export { tarArchive } from "./tar.ts";
export { containerCreateBody, gpuDeviceRequests } from "./wire.ts";
