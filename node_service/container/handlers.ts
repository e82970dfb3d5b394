/**
 * The node service's answers to the `container.*` and `container_image.*`
 * methods: builds the container engine client, the container and image
 * services over the node's database, and maps each method to them.
 */
import {
  type Clock,
  ContainerCreateParamsSchema,
  type DatabaseSync,
  type GpuReport,
  type Handlers,
  type Logger,
  type Method,
  type NodeConfig,
  type NodePaths,
} from "../../mod/mod.ts";
import { ContainerImages } from "./image_pulls.ts";
import { ContainerService } from "./service.ts";
import { ContainerStore } from "./store.ts";
import { DockerEngine } from "./docker/mod.ts";
import type { EventLog } from "../event_log.ts";
import { GpuAllocator } from "../gpu/mod.ts";
import { listeningPorts, parsePortRange } from "../host/mod.ts";

/** Where tarballs for `container_image.import` are read from, inside the service directory. */
export const CONTAINER_IMAGE_DIR = "container_images";

type ContainerMethod = Extract<Method, `container.${string}` | `container_image.${string}`>;
export type ContainerHandlers = Pick<Handlers<"node_service">, ContainerMethod>;

export type ContainerHandlerDeps = {
  config: NodeConfig;
  paths: NodePaths;
  nodeId: string;
  db: DatabaseSync;
  events: EventLog;
  gpuReport: () => Promise<GpuReport>;
  clock: Clock;
  log: Logger;
};

export function startContainers(
  deps: ContainerHandlerDeps,
): { handlers: ContainerHandlers; service: ContainerService; stop(): void } {
  const now = () => deps.clock.now();
  const socket = deps.config.docker_socket;
  const engine = new DockerEngine(socket);
  const store = new ContainerStore(deps.db, now);
  const hostPortRange = parsePortRange(deps.config.container_host_ports);
  if (!hostPortRange) {
    throw new Error(`bad container_host_ports ${deps.config.container_host_ports}`);
  }
  const containers = new ContainerService({
    engine,
    store,
    gpus: new GpuAllocator(deps.db, now),
    events: deps.events,
    gpuReport: deps.gpuReport,
    listeningPorts,
    hostPortRange,
    stopTimeoutS: deps.config.container_stop_timeout_s,
    nodeId: deps.nodeId,
    log: deps.log.child("containers"),
  });
  const images = new ContainerImages({
    engine,
    store,
    events: deps.events,
    imageDir: `${deps.paths.serviceDir}/${CONTAINER_IMAGE_DIR}`,
    now,
    log: deps.log.child("container_images"),
  });
  // Not awaited: an engine that is slow or down must not hold up the rest of the node service.
  containers.reconcile().catch((error) => {
    deps.log.error("cannot reconcile containers with the engine", {
      error: (error as Error).message,
    });
    deps.events.record({
      actor: "node",
      action: "container.reconcile",
      result: "error",
      detail: { error: (error as Error).message },
    });
  });
  const handlers: ContainerHandlers = {
    "container.engine_status": () => containers.engineStatus(socket),
    // Parsed again for the defaults' sake: handlers are typed with the schema's input.
    "container.create": (params) => containers.create(ContainerCreateParamsSchema.parse(params)),
    "container.recorded": async (params) => ({
      recorded: await containers.whenRecorded(params.id),
    }),
    "container.list": (params) =>
      containers.list({ includeDeleted: params.include_deleted ?? false }),
    "container.get": (params) => containers.get(params.id),
    "container.start": (params) => containers.start(params.actor, params.id),
    "container.stop": (params) => containers.stop(params.actor, params.id),
    "container.restart": (params) => containers.restart(params.actor, params.id),
    "container.delete": (params) =>
      containers.delete(params.actor, params.id, params.keep_volume ?? false),
    "container.logs": (params) =>
      containers.logs(params.id, { from: params.from ?? "tail", lines: params.lines ?? 100 }),
    "container.usage": (params) => containers.usage(params.id),
    "container_image.list": () => images.list(),
    "container_image.pull": (params) => images.pull(params.actor, params.image),
    "container_image.pull_status": (params) => images.pullStatus(params.pull_id),
    "container_image.import": (params) => images.import(params.actor, params.file, params.image),
    "container_image.delete": (params) => images.delete(params.actor, params.image),
  };
  return {
    handlers,
    // The lease loop acts on containers through it (InstanceDriver).
    service: containers,
    stop() {
      images.stop();
      engine.close();
    },
  };
}
