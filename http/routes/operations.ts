/**
 * Following long operations: `GET /api/v1/operations/:id` (answered by the
 * node running the operation) and `GET /api/v1/operations/:id/events`, a
 * server-sent event stream served by whichever node the renter talks to: it
 * watches a local operation directly and polls a remote one through the
 * network, sending an event on each change until the operation ends. A
 * remote operation is followed only for a caller whose wallet signature (or
 * session) holds here: nobody makes this node poll another for 30 minutes
 * anonymously.
 */
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { ApiRoutes } from "../api_route.ts";
import type { AppDeps } from "../app_deps.ts";
import type { WalletAuthenticator } from "../auth.ts";
import { ApiError } from "../errors.ts";
import { type Operation, type Operations, OperationSchema } from "../operations.ts";
import { forwardToNode } from "../remote.ts";

const IdParams = z.object({
  operation_id: z.string().regex(/^op-[0-9a-f]{32}$/, { message: "expected an operation id" }),
});
const NodeQuery = z.object({ node_id: z.string().optional() });
/** How often a remote operation is polled while a stream follows it. */
const REMOTE_POLL_MS = 500;
/** A stream ends after this long even if the operation has not. */
const MAX_STREAM_MS = 30 * 60_000;

export type OperationRouteDeps = AppDeps & {
  operations: Operations;
  nodeId: string;
  forwardTimeoutMs: number;
  /** Who may have a remote operation followed; without it, remote follows are refused. */
  auth?: WalletAuthenticator;
};

export function operationRoutes(routes: ApiRoutes, deps: OperationRouteDeps): void {
  routes.add({
    method: "get",
    path: "/api/v1/operations/:operation_id",
    summary: "A long operation's state and history (the id is the capability; no signature needed)",
    tags: ["operations"],
    params: IdParams,
    query: NodeQuery,
    response: OperationSchema,
    errors: ["not_found", "try_later", "timeout"],
  }, ({ params }) => {
    const operation = deps.operations.get(params.operation_id);
    if (!operation) {
      throw new ApiError("not_found", `no operation ${params.operation_id} on this node`);
    }
    return operation;
  });

  routes.add({
    method: "get",
    path: "/api/v1/operations/:operation_id/events",
    summary:
      "Server-sent events: one per change of the operation, the last when it is done or failed",
    tags: ["operations"],
    params: IdParams,
    query: NodeQuery,
    response: OperationSchema,
    eventStream: true,
    // Following another node's operation needs the renter's credentials; a local one does not.
    auth: "renter",
    errors: ["unauthorized", "not_found", "try_later", "timeout"],
  }, async ({ params, query, context }) => {
    const remote = query.node_id !== undefined && query.node_id !== deps.nodeId
      ? query.node_id
      : undefined;
    if (remote) {
      if (!deps.auth) throw new ApiError("unauthorized", "this node follows no remote operation");
      await deps.auth.authoriseRenter(context, "");
    }
    const read = remote
      ? () => readRemote(deps, remote, params.operation_id)
      : () => Promise.resolve(deps.operations.get(params.operation_id));
    return streamSSE(context, async (stream) => {
      const deadline = Date.now() + MAX_STREAM_MS;
      let sent = "";
      while (!stream.aborted && Date.now() < deadline) {
        let operation: Operation | undefined;
        try {
          operation = await read();
        } catch (error) {
          // The stream has started (status 200): a failure to read is told as its last event.
          await stream.writeSSE({
            event: "error",
            data: JSON.stringify({ message: (error as Error)?.message ?? String(error) }),
          });
          return;
        }
        if (!operation) {
          await stream.writeSSE({
            event: "error",
            data: JSON.stringify({ message: `no operation ${params.operation_id}` }),
          });
          return;
        }
        const text = JSON.stringify(operation);
        if (text !== sent) {
          await stream.writeSSE({
            event: operation.state,
            data: text,
            id: String(operation.events.length),
          });
          sent = text;
        }
        if (operation.state !== "running") return;
        await (remote
          ? stream.sleep(REMOTE_POLL_MS)
          : nextChange(deps.operations, params.operation_id, REMOTE_POLL_MS * 20, sent));
      }
    });
  });
}

/** Resolves on the next change of operation `id` after the one sent (`sent`), or after `atMostMs`. */
function nextChange(
  operations: Operations,
  id: string,
  atMostMs: number,
  sent: string,
): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, atMostMs);
    const stop = operations.watch(id, done);
    // A change while the last event was being written has no watcher to tell: look once more.
    if (JSON.stringify(operations.get(id)) !== sent) done();
    function done() {
      clearTimeout(timer);
      stop();
      resolve();
    }
  });
}

async function readRemote(
  deps: OperationRouteDeps,
  node: string,
  id: string,
): Promise<Operation | undefined> {
  const response = await forwardToNode(deps, node, {
    method: "GET",
    path: `/api/v1/operations/${id}?node_id=${encodeURIComponent(node)}`,
    headers: {},
    body: "",
  }, deps.forwardTimeoutMs);
  if (response.status === 404) return undefined;
  const body = await response.json();
  const parsed = OperationSchema.safeParse(body?.data);
  return parsed.success ? parsed.data : undefined;
}
