/** The public face of node_service/container/: what the rest of the node may use. */
export { containerCreateBody, DockerEngine, gpuDeviceRequests } from "./docker/mod.ts";
export { type PortProtocol } from "./engine.ts";
export { startContainers } from "./handlers.ts";
export { ContainerService } from "./service.ts";
export { ContainerStore } from "./store.ts";
