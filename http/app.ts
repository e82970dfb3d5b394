/**
 * The hono application, free of I/O of its own: it reaches the rest of the
 * node only through `deps.call`, so tests drive it with `app.request()` and a
 * stand-in `call`.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import {
  type CallOptions,
  type Logger,
  type Method,
  type ParamsOf,
  type ResultOf,
  RpcError,
} from "../mod/mod.ts";
import { ApiError, apiErrorKindFor } from "./errors.ts";
import { failure } from "./envelope.ts";
import { nodeRoutes } from "./routes/node.ts";

export type AppDeps = {
  call: <M extends Method>(
    method: M,
    params: ParamsOf<M>,
    options?: CallOptions,
  ) => Promise<ResultOf<M>>;
  log: Logger;
};

/** The largest request body accepted, in bytes. */
export const MAX_BODY_BYTES = 1024 * 1024;

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ApiError("payload_too_large", `request body exceeds ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
  app.route("/api/v1/node", nodeRoutes(deps));
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
  return app;
}
