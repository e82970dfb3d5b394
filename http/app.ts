/**
 * The hono application, free of I/O of its own: it reaches the rest of the
 * node only through `deps.call`, so tests drive it with `app.request()` and a
 * stand-in `call`. Routes are declared in `routes/*.ts` with their schemas
 * (`api_route.ts`); the same declarations produce `/openapi.json`.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { AUTH_HEADERS, RpcError } from "../mod/mod.ts";
import { ApiRoutes } from "./api_route.ts";
import { ApiError, apiErrorKindFor } from "./errors.ts";
import { failure } from "./envelope.ts";
import { openApiDocument } from "./openapi.ts";
import { RateLimiter } from "./rate_limit.ts";
import { nodeRoutes } from "./routes/node.ts";
import { peerRoutes } from "./routes/peers.ts";
import { ledgerRoutes } from "./routes/ledger.ts";
import { WalletAuthenticator } from "./auth.ts";
import { dispatch } from "./dispatch.ts";
import { Operations } from "./operations.ts";
import { containerRoutes, vmRoutes } from "./routes/instances.ts";
import { vmOperationRoutes } from "./routes/vm_ops.ts";
import { operationRoutes } from "./routes/operations.ts";
import { marketRoutes } from "./routes/market.ts";
import { operatorRoutes } from "./routes/operator.ts";
import { imageRoutes } from "./routes/images.ts";
import { sessionRoutes } from "./routes/sessions.ts";
import { monitorRoutes } from "./routes/monitor.ts";
import { lanRoutes } from "./routes/lan.ts";
import { imageServerRoutes, operatorImageServerRoutes } from "./routes/image_servers.ts";
import { validationRoutes } from "./routes/validation.ts";
import { usageRoutes } from "./routes/usage.ts";
import { isRemoteEnv } from "./remote.ts";
import type { AppDeps } from "./app_deps.ts";
import { METRICS_PATH } from "./metrics/mod.ts";
import { dashboardRoutes } from "./ui/mod.ts";

export type { AppDeps };

/** The largest request body accepted, in bytes. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Client addresses whose request rate is tracked at once; beyond it the least recent are forgotten. */
const RATE_LIMIT_MAX_CLIENTS = 100_000;
/** A client-end's budget for all it tunnels in, in clients' budgets (it serves many renters). */
export const REMOTE_NODE_RATE_FACTOR = 8;

export type App = { app: Hono; routes: ApiRoutes };

export function createApp(deps: AppDeps): Hono {
  return createAppWithRoutes(deps).app;
}

/** The app and its route declarations (for the OpenAPI document and its tests). */
export function createAppWithRoutes(deps: AppDeps): App {
  const app = new Hono();
  // First, so that requests the rate limit or the body limit refuse are counted as well.
  if (deps.metrics) app.use("*", deps.metrics.middleware);
  if (deps.rateLimit) {
    const limiter = new RateLimiter({
      ratePerSecond: deps.rateLimit.perSecond,
      burst: deps.rateLimit.burst,
      maxClients: RATE_LIMIT_MAX_CLIENTS,
      now: deps.now ?? Date.now,
    });
    // All that a client-end tunnels in shares one budget, a multiple of one client's.
    const nodeLimiter = new RateLimiter({
      ratePerSecond: deps.rateLimit.perSecond * REMOTE_NODE_RATE_FACTOR,
      burst: deps.rateLimit.burst * REMOTE_NODE_RATE_FACTOR,
      maxClients: RATE_LIMIT_MAX_CLIENTS,
      now: deps.now ?? Date.now,
    });
    // The socket's peer address (http/worker.ts: getConnInfo), never a header the client chose.
    const clientAddress = deps.clientAddress ?? (() => "unknown");
    app.use("*", async (c, next) => {
      // Requests tunnelled from another node count against that node's budget, and within it
      // against the wallet they name, so one renter behind a client-end does not use up the
      // others' rate. The wallet header is the sender's to choose: it only splits the node's
      // budget (a client-end inventing wallets still gets no more than the node's), and only
      // its first 64 characters are kept.
      let decision = isRemoteEnv(c.env)
        ? nodeLimiter.take(`node:${c.env.remoteNode}`)
        : limiter.take(clientAddress(c));
      if (decision.allowed && isRemoteEnv(c.env)) {
        const wallet = c.req.header(AUTH_HEADERS.wallet) ??
          c.req.header(AUTH_HEADERS.multisigWallets) ?? "";
        decision = limiter.take(`node:${c.env.remoteNode}:${wallet.slice(0, 64)}`);
      }
      if (!decision.allowed) {
        c.header("Retry-After", String(decision.retryAfterSeconds));
        throw new ApiError(
          "rate_limited",
          `too many requests; retry in ${decision.retryAfterSeconds} s`,
        );
      }
      await next();
    });
  }
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ApiError("payload_too_large", `request body exceeds ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );

  const node = deps.node ?? { nodeId: "", role: "gpu" as const, forwardTimeoutMs: 30_000 };
  if (deps.node) {
    const forward = dispatch({ call: deps.call, ...deps.node });
    // A stream of events is served where the renter connects; it polls remote operations itself.
    app.use("/api/v1/*", (c, next) => (c.req.path.endsWith("/events") ? next() : forward(c, next)));
  }

  const operations = new Operations(node.nodeId, deps.now);
  const auth = new WalletAuthenticator(
    deps.walletAuth,
    deps.now,
    (sessionId) => deps.call("session.resolve", { session_id: sessionId }),
  );
  const routes = new ApiRoutes();
  nodeRoutes(routes, deps);
  peerRoutes(routes, deps);
  ledgerRoutes(routes, deps, auth);
  marketRoutes(routes, deps);
  vmRoutes(routes, { ...deps, operations }, auth);
  vmOperationRoutes(routes, { ...deps, operations }, auth);
  containerRoutes(routes, { ...deps, operations }, auth);
  usageRoutes(routes, deps, auth);
  imageRoutes(routes, { ...deps, operations }, auth);
  sessionRoutes(routes, { ...deps, operations }, auth);
  monitorRoutes(routes, deps, auth);
  lanRoutes(routes, deps, auth);
  imageServerRoutes(routes, { ...deps, operations }, auth);
  validationRoutes(routes, { ...deps, operations }, auth);
  operationRoutes(routes, {
    ...deps,
    operations,
    nodeId: node.nodeId,
    forwardTimeoutMs: node.forwardTimeoutMs,
    auth,
  });
  operatorRoutes(routes, deps, { token: deps.operatorToken, clientAddress: deps.clientAddress });
  operatorImageServerRoutes(routes, { ...deps, operations }, {
    token: deps.operatorToken,
    clientAddress: deps.clientAddress,
  });
  routes.mount(app);
  const document = openApiDocument(routes.specs);
  app.get("/openapi.json", (c) => c.json(document));
  const metrics = deps.metrics;
  if (metrics) app.get(METRICS_PATH, (c) => metrics.serve(c));
  if (deps.ui) dashboardRoutes(app, deps.ui);

  app.notFound((c) =>
    failure(c, new ApiError("no_such_endpoint", `no endpoint ${c.req.method} ${c.req.path}`))
  );
  app.onError((error, c) => {
    if (error instanceof ApiError) return failure(c, error);
    if (error instanceof RpcError) {
      return failure(c, new ApiError(apiErrorKindFor(error.code), error.message));
    }
    if (error instanceof HTTPException && error.status < 500) {
      return failure(c, new ApiError("invalid_request", error.message || "invalid request"));
    }
    deps.log.error("request failed", {
      method: c.req.method,
      path: c.req.path,
      error: String(error),
    });
    return failure(c, new ApiError("internal", "internal error"));
  });
  return { app, routes };
}
