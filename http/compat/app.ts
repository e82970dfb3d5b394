/**
 * The original DBC node's HTTP dialect (../shared/design/ORIGINAL_API.md),
 * as a hono app of its own: a client-end serves it on a second listener
 * (`compat_http_port`), and every node answers it for requests tunnelled to
 * it, as it answers the native API (http/remote.ts; the request carries
 * `x-dbc-dialect: original`).
 *
 * A request's life is the original's: the client-end checks the method (POST
 * only), the path (unknown prefix: 404), the common body and that a
 * signature form is there (400 with the original's words), then forwards
 * the request as it came to the GPU node `peer_nodes_list[0]` names (a
 * machine id or a node id), sealed, through the network (`forwardToNode`, as
 * the native API does); the GPU node checks the signature itself, acts with
 * the same typed calls as the native routes, and its `{errcode, message}`
 * comes back verbatim (HTTP 200, also for its refusals). A GPU node that does
 * not answer is a 500 with errcode -1, `"<op> timeout"`.
 */
import { Hono } from "hono";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { RpcError } from "../../mod/mod.ts";
import { REMOTE_NODE_RATE_FACTOR } from "../app.ts";
import { ApiError } from "../errors.ts";
import { RateLimiter } from "../rate_limit.ts";
import { DIALECT_HEADER, forwardToNode, isRemoteEnv, ORIGINAL_DIALECT } from "../remote.ts";
import { OriginalAuthority } from "./auth.ts";
import { hasSignatureForm, parseOriginalBody } from "./body.ts";
import type { CompatDeps, Endpoint, EndpointInput, Group, Route } from "./endpoint.ts";
import {
  CompatError,
  denied,
  invalidParams,
  invalidRequest,
  ORIGINAL_CODES,
  originalFailure,
  originalOk,
  refused,
} from "./envelope.ts";
import { imageRoutes } from "./images.ts";
import { diskRoutes } from "./disks.ts";
import { miningNodeRoutes } from "./mining_nodes.ts";
import { monitorRoutes } from "./monitor.ts";
import { lanRoutes } from "./lan.ts";
import { peerRoutes } from "./peers.ts";
import { snapshotRoutes } from "./snapshots.ts";
import { namesThisNode, targetNodeId } from "./target.ts";
import { taskRoutes } from "./tasks.ts";
import { rootRoute, stubRoutes, unservedGroups } from "./unsupported.ts";

/** The largest body the original dialect takes, as the native API. */
const MAX_BODY_BYTES = 1024 * 1024;
const RATE_LIMIT_MAX_CLIENTS = 100_000;
const API_ROOT = "/api/v1";

/** The original's prefixes under `/api/v1/`. */
const GROUPS: Record<string, Group> = {
  "": rootRoute,
  tasks: taskRoutes,
  snapshot: snapshotRoutes,
  images: imageRoutes,
  mining_nodes: miningNodeRoutes,
  peers: peerRoutes,
  monitor: monitorRoutes,
  lan: lanRoutes,
  disk: diskRoutes,
  ...unservedGroups,
  stat: stubRoutes,
  config: stubRoutes,
};

/** The endpoint a path names; the original's 400 or 404 otherwise. */
export function routeOf(pathname: string, uri: string): Route {
  if (pathname !== API_ROOT && !pathname.startsWith(`${API_ROOT}/`)) {
    throw invalidRequest(`request uri is invalid, uri:${uri}`);
  }
  const segments = pathname.slice(API_ROOT.length).split("/").filter(Boolean);
  const group = Object.hasOwn(GROUPS, segments[0] ?? "") ? GROUPS[segments[0] ?? ""] : undefined;
  if (!group) {
    throw new CompatError(404, ORIGINAL_CODES.methodNotFound, `not support uri:${uri}`);
  }
  return group(segments.slice(1));
}

export function createCompatApp(deps: CompatDeps): Hono {
  const now = deps.now ?? Date.now;
  const app = new Hono();
  if (deps.rateLimit) app.use("*", rateLimit(deps, now));
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw invalidParams(`http request body exceeds ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
  const authority = new OriginalAuthority({ call: deps.call, now });
  const endpointDeps = { ...deps, now };

  app.all("*", async (c) => {
    const url = new URL(c.req.url);
    const uri = url.pathname + url.search;
    const { endpoint, args } = routeOf(url.pathname, uri);
    if (!endpoint.anyMethod && c.req.method !== "POST") {
      throw invalidRequest("only support POST request");
    }
    try {
      const text = endpoint.bodyless ? "" : await c.req.text();
      const input: EndpointInput = {
        deps: endpointDeps,
        body: endpoint.bodyless ? undefined : parseOriginalBody(text),
        args,
        query: url.searchParams,
        authority,
        uri,
      };
      endpoint.check?.(input);
      const atNode = endpoint.at === "node" ||
        (endpoint.at === "peer_or_here" && input.body?.peer !== undefined);
      if (atNode) {
        const forwarded = await toGpuNode(c, deps, endpoint, input, { uri, text });
        if (forwarded) return forwarded;
      }
      return originalOk(c, await endpoint.run(input));
    } catch (error) {
      throw inOriginalTerms(error, endpoint, deps);
    }
  });

  app.onError((error, c) => {
    if (error instanceof CompatError) return originalFailure(c, error);
    deps.log.error("original-dialect request failed", { path: c.req.path, error: String(error) });
    return originalFailure(c, internalError());
  });
  return app;
}

/**
 * The client-end's checks of a request for a GPU node, then its forwarding there; `undefined`
 * when this node is the one named (a tunnelled request, or a GPU node asked directly).
 */
async function toGpuNode(
  c: Context,
  deps: CompatDeps,
  endpoint: Endpoint,
  input: EndpointInput,
  request: { uri: string; text: string },
): Promise<Response | undefined> {
  const body = input.body!;
  if (body.peer === undefined || body.peer === "") throw invalidParams("peer_nodeid is empty");
  if (endpoint.signed && !hasSignatureForm(body.auth)) {
    throw invalidParams("wallet_sign and multisig_wallets all invalid");
  }
  const here = namesThisNode(body.peer, deps.node);
  if (isRemoteEnv(c.env) && !here) {
    throw invalidParams(`this request names ${body.peer}, but reached node ${deps.node.nodeId}`);
  }
  if (!here) {
    const to = await targetNodeId(deps, body.peer);
    if (to !== deps.node.nodeId) return await forward(deps, to, endpoint, request);
  }
  if (deps.node.role !== "gpu") throw denied(`node ${deps.node.nodeId} runs no VMs`);
  return undefined;
}

async function forward(
  deps: CompatDeps,
  to: string,
  endpoint: Endpoint,
  request: { uri: string; text: string },
): Promise<Response> {
  try {
    return await forwardToNode(deps, to, {
      method: "POST",
      path: request.uri,
      headers: { "content-type": "application/json", [DIALECT_HEADER]: ORIGINAL_DIALECT },
      body: request.text,
    }, deps.node.forwardTimeoutMs);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    // Unreachable or silent, the original's client-end only knew that its wait ran out.
    throw new CompatError(
      500,
      ORIGINAL_CODES.timeout,
      `${endpoint.name} timeout: ${error.message}`,
    );
  }
}

/** Any failure as the original would have put it. */
function inOriginalTerms(error: unknown, endpoint: Endpoint, deps: CompatDeps): unknown {
  if (error instanceof CompatError) return error;
  // The node service refused (state, capacity, names): the task manager's errcode 1.
  if (error instanceof RpcError) return refused(error.message);
  if (error instanceof ApiError) {
    if (error.kind === "timeout") {
      return new CompatError(500, ORIGINAL_CODES.timeout, `${endpoint.name} timeout`);
    }
    return denied(error.message);
  }
  deps.log.error("original-dialect request failed", {
    endpoint: endpoint.name,
    error: String(error),
  });
  return internalError();
}

/** 500, -32701: what failed here, without its details. */
const internalError = () => new CompatError(500, ORIGINAL_CODES.responseError, "internal error");

/**
 * One client address's rate, as the native API counts it; what another node tunnels in counts
 * against that node, with a multiple of one client's budget.
 */
function rateLimit(deps: CompatDeps, now: () => number): MiddlewareHandler {
  const { perSecond, burst } = deps.rateLimit!;
  const clients = new RateLimiter({
    ratePerSecond: perSecond,
    burst,
    maxClients: RATE_LIMIT_MAX_CLIENTS,
    now,
  });
  const nodes = new RateLimiter({
    ratePerSecond: perSecond * REMOTE_NODE_RATE_FACTOR,
    burst: burst * REMOTE_NODE_RATE_FACTOR,
    maxClients: RATE_LIMIT_MAX_CLIENTS,
    now,
  });
  const clientAddress = deps.clientAddress ?? (() => "unknown");
  return async (c, next) => {
    const decision = isRemoteEnv(c.env)
      ? nodes.take(`node:${c.env.remoteNode}`)
      : clients.take(clientAddress(c));
    if (!decision.allowed) {
      c.header("Retry-After", String(decision.retryAfterSeconds));
      throw new CompatError(
        429,
        ORIGINAL_CODES.busy,
        `too many requests; retry in ${decision.retryAfterSeconds} s`,
      );
    }
    await next();
  };
}
