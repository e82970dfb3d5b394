/**
 * The HTTP API's request metrics: `dbc_http_requests_total{method,route,status}` and
 * `dbc_http_request_duration_seconds{method,route,status}`, counted by a middleware that runs
 * before every other one (so refusals by the rate limiter or the body limit count too). The
 * `route` label is the matched route's pattern (`/api/v1/tasks/:id`), never the path asked for,
 * and methods outside HTTP's usual few count as `other`: no client can grow the label sets.
 */
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { Counter, Gauge, Histogram, type Registry } from "../../mod/mod.ts";

/** The route label of a request that matched no endpoint (answered 404). */
export const UNMATCHED_ROUTE = "unmatched";
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
/** Seconds; requests forwarded through the network may take up to the request time-out (30 s). */
export const HTTP_DURATION_BUCKETS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];

/** The pattern of the endpoint `c` matched; middleware patterns (`*`) do not count. */
export function routeLabel(c: Context): string {
  const routes = matchedRoutes(c);
  const current = routes[c.req.routeIndex];
  // An endpoint registered for a method (app.get, app.on) rather than for all (app.use).
  const isEndpoint = (route: { method: string } | undefined) =>
    route !== undefined && route.method !== "ALL";
  if (isEndpoint(current)) return current!.path;
  return routes.find(isEndpoint)?.path ?? UNMATCHED_ROUTE;
}

export function methodLabel(method: string): string {
  const upper = method.toUpperCase();
  return KNOWN_METHODS.has(upper) ? upper : "other";
}

export type RequestMetrics = { middleware: MiddlewareHandler };

/** Registers the request families in `registry`; the middleware counts into them. */
export function requestMetrics(registry: Registry): RequestMetrics {
  const registers = [registry];
  const labelNames = ["method", "route", "status"] as const;
  const requests = new Counter({
    name: "dbc_http_requests_total",
    help: "HTTP API requests answered, by method, route pattern and status.",
    labelNames,
    registers,
  });
  const durations = new Histogram({
    name: "dbc_http_request_duration_seconds",
    help: "Time from a request's arrival to its response, by method, route pattern and status.",
    labelNames,
    buckets: HTTP_DURATION_BUCKETS,
    registers,
  });
  const inFlight = new Gauge({
    name: "dbc_http_requests_in_flight",
    help: "HTTP API requests being answered now.",
    registers,
  });
  return {
    middleware: async (c, next) => {
      const started = performance.now();
      inFlight.inc();
      try {
        await next();
      } finally {
        inFlight.dec();
        // hono answers a handler's throw through onError before next() returns: c.res is final.
        const labels = {
          method: methodLabel(c.req.method),
          route: routeLabel(c),
          status: String(c.res.status),
        };
        requests.inc(labels);
        durations.observe(labels, (performance.now() - started) / 1_000);
      }
    },
  };
}
