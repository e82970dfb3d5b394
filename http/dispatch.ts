/**
 * Decides where a request is answered. Renter operations name their GPU node
 * (`node_id` in the query, or the original's `peer_nodes_list` in the body);
 * ledger requests belong to the ledger authority, and go to no other node. A
 * request for this node runs here; any other is forwarded through the network
 * (`remote.ts`). A request that came through the network is never forwarded
 * again, so there are no loops.
 */
import type { Context, MiddlewareHandler } from "hono";
import { ledgerPlace, type Role } from "../mod/mod.ts";
import type { AppDeps } from "./app_deps.ts";
import { ApiError } from "./errors.ts";
import { forwardedHeaders, forwardToNode, isRemoteEnv } from "./remote.ts";

/** Paths answered by the GPU node that runs the instances. */
export const NODE_TARGETED_PREFIXES = [
  "/api/v1/tasks",
  "/api/v1/snapshot",
  "/api/v1/containers",
  "/api/v1/images",
  "/api/v1/sessions",
  "/api/v1/monitor",
  "/api/v1/lan",
  "/api/v1/operations",
  "/api/v1/validation",
];
/** Paths answered by the ledger authority (`ledger_authority`), the seed that keeps the embedded ledger. */
export const LEDGER_TARGETED_PREFIXES = ["/api/v1/ledger"];

export type DispatchDeps = Pick<AppDeps, "call"> & {
  nodeId: string;
  role: Role;
  forwardTimeoutMs: number;
  /** `ledger_authority`; empty or absent: a seed keeps the ledger itself. */
  ledgerAuthority?: string;
};

function under(path: string, prefixes: readonly string[]): boolean {
  return prefixes.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
}

/** The node a renter request names, from the query or the original's body field. */
export async function targetNode(c: Context): Promise<string | undefined> {
  const fromQuery = c.req.query("node_id");
  if (fromQuery) return fromQuery;
  if (c.req.method === "GET" || c.req.method === "DELETE") return undefined;
  const text = await c.req.text();
  if (text === "") return undefined;
  try {
    const body = JSON.parse(text) as { peer_nodes_list?: unknown };
    const list = body?.peer_nodes_list;
    if (Array.isArray(list) && list.length === 1 && typeof list[0] === "string") return list[0];
    if (Array.isArray(list) && list.length > 1) {
      throw new ApiError("invalid_params", "peer_nodes_list: name exactly one node per request");
    }
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new ApiError("invalid_request", "request body is not valid JSON");
  }
  return undefined;
}

/** The node that keeps the ledger, or `undefined` when that is this one. */
function ledgerTarget(deps: DispatchDeps, remote: boolean): string | undefined {
  const place = ledgerPlace(
    { role: deps.role, ledger_authority: deps.ledgerAuthority ?? "" },
    deps.nodeId,
  );
  if (place.kind === "here") return undefined;
  if (remote) {
    throw new ApiError(
      "not_found",
      place.kind === "authority"
        ? `this node keeps no ledger; ask the ledger authority, node ${place.authority}`
        : "this node keeps no ledger",
    );
  }
  if (place.kind === "unset") {
    throw new ApiError("try_later", `the ledger cannot be reached: ${place.reason}`);
  }
  return place.authority;
}

export function dispatch(deps: DispatchDeps): MiddlewareHandler {
  return async (c, next) => {
    const path = c.req.path;
    let target: string | undefined;
    if (under(path, NODE_TARGETED_PREFIXES)) {
      target = await targetNode(c);
      if (target === undefined) {
        throw new ApiError(
          "invalid_params",
          "name the GPU node: node_id in the query, or peer_nodes_list in the body",
        );
      }
    } else if (under(path, LEDGER_TARGETED_PREFIXES)) {
      target = ledgerTarget(deps, isRemoteEnv(c.env));
    }
    if (target === undefined || target === deps.nodeId) return await next();
    if (isRemoteEnv(c.env)) {
      throw new ApiError(
        "invalid_params",
        `this request names node ${target}, but reached node ${deps.nodeId}`,
      );
    }
    const url = new URL(c.req.url);
    return await forwardToNode(deps, target, {
      method: c.req.method as "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
      path: url.pathname + url.search,
      headers: forwardedHeaders(c.req.raw.headers),
      body: c.req.method === "GET" || c.req.method === "DELETE" ? "" : await c.req.text(),
    }, deps.forwardTimeoutMs);
  };
}
