/** `GET /api/v1/node`: who this node is, how its workers are, which GPUs it has, how its host is. */
import { z } from "zod";
import {
  type ContainerEngineStatus,
  ContainerEngineStatusSchema,
  derivedMachineId,
  type GpuReport,
  GpuSchema,
  type HostCheckReport,
  HostCheckReportSchema,
  NodeStatusSchema,
  type RpcError,
} from "../../mod/mod.ts";
import type { ApiRoutes } from "../api_route.ts";
import type { AppDeps } from "../app_deps.ts";

/** nvidia-smi can be slow on a busy machine; the node status should not wait for long. */
const GPU_QUERY_TIMEOUT_MS = 20_000;
/** The engine answers its ping in milliseconds when it is up. */
const ENGINE_QUERY_TIMEOUT_MS = 10_000;
/** The host checks run stat and id, and ask the engine: quick, and cached by the node service. */
const HOST_QUERY_TIMEOUT_MS = 15_000;

/** The host checks, or why the node service could not give them. */
export const NodeHostSchema = z.discriminatedUnion("state", [
  HostCheckReportSchema,
  z.object({ state: z.literal("unavailable"), reason: z.string() }),
]);
export type NodeHost = z.infer<typeof NodeHostSchema>;

export const NodeInfoSchema = NodeStatusSchema.extend({
  gpus: z.array(GpuSchema),
  gpu_status: z.discriminatedUnion("state", [
    z.object({ state: z.literal("present"), count: z.number().int().min(1) }),
    z.object({ state: z.enum(["none", "error"]), count: z.literal(0), reason: z.string() }),
  ]),
  /** The container engine (Docker Engine API); `unavailable` with the reason when it cannot be reached. */
  container_engine: ContainerEngineStatusSchema,
  /**
   * What the node needs of its host, one entry a check (`ok`, `problem` with
   * its fix, `unknown` with the reason): QEMU's user, /dev/kvm, the VM and
   * image directories, the container engine.
   */
  host: NodeHostSchema,
  /**
   * A GPU node's chain-style machine id (64 hex), by which original clients name it in
   * `peer_nodes_list` (as they may its node id); null on seeds and client-ends.
   */
  machine_id: z.string().nullable(),
});

export function nodeRoutes(routes: ApiRoutes, deps: AppDeps): void {
  routes.add({
    method: "get",
    path: "/api/v1/node",
    summary: "This node: id, role, version, uptime, workers' states, GPUs and host checks",
    tags: ["node"],
    response: NodeInfoSchema,
    errors: ["try_later", "timeout"],
  }, async () => {
    const [status, gpu, engine, host] = await Promise.all([
      deps.call("node.status", {}),
      deps.call("gpu.inventory", {}, { timeoutMs: GPU_QUERY_TIMEOUT_MS }).catch((
        error: RpcError,
      ): GpuReport => ({
        state: "error",
        gpus: [],
        reason: `GPU inventory unavailable: ${error.message}`,
        queried_at: Date.now(),
      })),
      deps.call("container.engine_status", {}, { timeoutMs: ENGINE_QUERY_TIMEOUT_MS }).catch((
        error: RpcError,
      ): ContainerEngineStatus => ({
        state: "unavailable",
        socket: "",
        reason: `node service unavailable: ${error.message}`,
      })),
      deps.call("host.checks", {}, { timeoutMs: HOST_QUERY_TIMEOUT_MS }).then(
        (report: HostCheckReport): NodeHost => report,
        (error: RpcError): NodeHost => ({
          state: "unavailable",
          reason: `node service unavailable: ${error.message}`,
        }),
      ),
    ]);
    return {
      ...status,
      gpus: gpu.gpus,
      gpu_status: gpu.state === "present"
        ? { state: gpu.state, count: gpu.gpus.length }
        : { state: gpu.state, count: 0 as const, reason: gpu.reason },
      container_engine: engine,
      host,
      machine_id: status.role === "gpu"
        ? deps.node?.machineId ?? derivedMachineId(status.node_id) ?? null
        : null,
    };
  });
}
