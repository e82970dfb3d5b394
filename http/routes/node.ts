/** `GET /api/v1/node`: who this node is, how its workers are, which GPUs it has. */
import { Hono } from "hono";
import type { GpuReport, RpcError } from "../../mod/mod.ts";
import type { AppDeps } from "../app.ts";
import { ok } from "../envelope.ts";

/** nvidia-smi can be slow on a busy machine; the node status should not wait for long. */
const GPU_QUERY_TIMEOUT_MS = 20_000;

export function nodeRoutes(deps: AppDeps): Hono {
  const routes = new Hono();
  routes.get("/", async (c) => {
    const [status, gpu] = await Promise.all([
      deps.call("node.status", {}),
      deps.call("gpu.inventory", {}, { timeoutMs: GPU_QUERY_TIMEOUT_MS }).catch((
        error: RpcError,
      ): GpuReport => ({
        state: "error",
        gpus: [],
        reason: `GPU inventory unavailable: ${error.message}`,
        queried_at: Date.now(),
      })),
    ]);
    return ok(c, {
      ...status,
      gpus: gpu.gpus,
      gpu_status: gpu.state === "present"
        ? { state: gpu.state, count: gpu.gpus.length }
        : { state: gpu.state, count: 0, reason: gpu.reason },
    });
  });
  return routes;
}
