/** The node service's public face: its worker entry point and its pure parts. */
export const NODE_SERVICE_WORKER_URL = new URL("./worker.ts", import.meta.url);
export { SERVICE_MIGRATIONS } from "./migrations.ts";
export { EventLog, type EventQuery, type LoggedEvent, type NewEvent } from "./event_log.ts";
export { GPU_QUERY_FIELDS, gpuReportFrom, NVIDIA_SMI_ARGS, parseGpuCsv } from "./gpu_inventory.ts";
export {
  type InstanceDriver,
  type InstanceEvent,
  nextInstanceState,
  type Transition,
} from "./instances.ts";
export { containerCreateBody, gpuDeviceRequests } from "./docker_wire.ts";
