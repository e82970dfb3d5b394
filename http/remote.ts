/**
 * The API across the network. A client-end that receives a request meant for
 * another node (a GPU node's VMs, a seed's ledger) sends the request itself —
 * method, path, the wallet headers and the exact body — to that node, on a
 * link the transport encrypts end to end (network/routing/); the target's
 * network worker hands it to this worker as one call, which runs it through
 * the node's own app, so the target checks the renter's signature itself and
 * trusts no client-end, and the call's result is the answer (which may carry
 * login details).
 */
import type { Hono } from "hono";
import { z } from "zod";
import { API_REQUEST_TOPIC, HttpRemoteResponseSchema, RpcError } from "../mod/mod.ts";
import type { AppDeps } from "./app_deps.ts";
import { ApiError } from "./errors.ts";

/** The network topic that carries API requests between nodes. */
export const REMOTE_API_TOPIC = API_REQUEST_TOPIC;
/** The header that marks a tunnelled request as one in the original node's dialect (http/compat/). */
export const DIALECT_HEADER = "x-dbc-dialect";
export const ORIGINAL_DIALECT = "original";
const MAX_FORWARDED_HEADERS = 16;

/** Which request headers travel: the wallet's authorisation and the body's type, nothing else. */
export function forwardedHeaders(headers: Headers): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of headers) {
    if (name.startsWith("x-dbc-") || name === "content-type") kept[name] = value;
  }
  return kept;
}

export const RemoteHttpRequestSchema = z.object({
  method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]),
  path: z.string().regex(/^\/api\/v1\/[^\s#]*$/, { message: "expected an /api/v1/ path" }).max(
    4096,
  ),
  headers: z.record(z.string().max(64), z.string().max(8192)).refine(
    (headers) => Object.keys(headers).length <= MAX_FORWARDED_HEADERS,
    { message: `at most ${MAX_FORWARDED_HEADERS} headers` },
  ),
  body: z.string().max(1024 * 1024),
});
export type RemoteHttpRequest = z.infer<typeof RemoteHttpRequestSchema>;

/** Statuses that carry no body. */
const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([204, 205, 304]);

/** An answer as it travels back (a status the API answers with, 1xx are none, and the body). */
export const RemoteHttpResponseSchema = HttpRemoteResponseSchema;
export type RemoteHttpResponse = z.infer<typeof RemoteHttpResponseSchema>;

/** What the app knows of a request that arrived through the network. */
export type RemoteEnv = { remoteNode: string };

export function isRemoteEnv(env: unknown): env is RemoteEnv {
  return typeof env === "object" && env !== null &&
    typeof (env as RemoteEnv).remoteNode === "string";
}

/** Sends `request` to node `to` and turns its answer, or the network's failure, into a response. */
export async function forwardToNode(
  deps: Pick<AppDeps, "call">,
  to: string,
  request: RemoteHttpRequest,
  timeoutMs: number,
): Promise<Response> {
  const startedAt = performance.now();
  let result;
  try {
    result = await deps.call(
      "network.send",
      {
        to,
        payload: { type: "app", topic: REMOTE_API_TOPIC, body: request },
        timeout_ms: timeoutMs,
      },
      // The network's own time-out answers first; this one only guards against a lost worker.
      { timeoutMs: timeoutMs + 2_000 },
    );
  } catch (error) {
    if (!(error instanceof RpcError)) throw error;
    if (error.code === "timeout") {
      throw new ApiError("timeout", `node ${to} did not answer within ${timeoutMs} ms`);
    }
    if (error.code === "not_found" || error.code === "unavailable") {
      throw new ApiError("try_later", `node ${to} cannot be reached: ${error.message}`);
    }
    throw error;
  }
  const reply = result.reply;
  if (reply.type === "error") {
    if (reply.code === "timeout") throw new ApiError("timeout", `node ${to}: ${reply.message}`);
    // Every node serves the API; one that has no handler for it yet is starting (or its HTTP
    // worker restarting): a renter should try again, not be told its instance does not exist.
    if (reply.code === "not_found") {
      throw new ApiError("try_later", `node ${to} cannot serve API requests now: ${reply.message}`);
    }
    throw new ApiError("bad_response", `node ${to}: ${reply.message}`);
  }
  const answer = reply.type === "app" ? RemoteHttpResponseSchema.safeParse(reply.body) : undefined;
  if (!answer?.success) {
    throw new ApiError("bad_response", `node ${to} answered something that is not an API response`);
  }
  // Passed on as it came; a status that takes no body gets none (Response refuses one).
  return new Response(NULL_BODY_STATUSES.has(answer.data.status) ? null : answer.data.body, {
    status: answer.data.status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "x-dbc-served-by": to,
      "server-timing": serverTiming({
        totalMs: performance.now() - startedAt,
        roundTripMs: result.rtt_ms,
        servedMs: answer.data.served_ms,
      }),
    },
  });
}

/**
 * Where a forwarded request's time went, as a `Server-Timing` header (browsers' developer tools
 * show it; scripts/bench_api.ts sums it up): `client-end` is this node's own share (its HTTP and
 * network workers handing the request over and back), `network` the link to the node and back
 * with the node's hand-over to its HTTP worker, `node` the node's API itself. A node that does not
 * say how long its API took gets `remote`, the two together. Durations in milliseconds.
 */
export function serverTiming(
  times: { totalMs: number; roundTripMs: number; servedMs?: number },
): string {
  const clientEnd = `client-end;dur=${hundredths(times.totalMs - times.roundTripMs)}`;
  if (times.servedMs === undefined) {
    return `${clientEnd}, remote;dur=${hundredths(times.roundTripMs)}`;
  }
  return `${clientEnd}, network;dur=${hundredths(times.roundTripMs - times.servedMs)}, node;dur=${
    hundredths(times.servedMs)
  }`;
}

/** A `Server-Timing` header's spans as name -> milliseconds (entries without a `dur` are left out). */
export function parseServerTiming(header: string): Record<string, number> {
  const spans: Record<string, number> = {};
  for (const entry of header.split(",")) {
    const [name, ...parameters] = entry.trim().split(";");
    const dur = parameters.find((parameter) => parameter.startsWith("dur="));
    if (name && dur) spans[name] = Number(dur.slice(4));
  }
  return spans;
}

/** Milliseconds to the hundredth, never below zero (spans measured on two threads' clocks). */
function hundredths(ms: number): number {
  return Math.max(0, Math.round(ms * 100) / 100);
}

/** What runs a tunnelled request: this node's app, and the original dialect's. */
export type RemoteAnswerer = {
  app: Hono;
  /** Answers the requests marked `x-dbc-dialect: original` (http/compat/). */
  compatApp?: Hono;
};

/**
 * Answers an API request another node sent (`http.remote_request`, which the network worker calls
 * for each one) by running it through this node's own app, so the renter's signature is checked
 * here as on a direct request. Never throws: whatever the sender put in `body` gets an API
 * response.
 */
export async function answerRemoteRequest(
  { app, compatApp }: RemoteAnswerer,
  from: string,
  body: unknown,
): Promise<RemoteHttpResponse> {
  const startedAt = performance.now();
  const parsed = RemoteHttpRequestSchema.safeParse(body);
  const malformed = {
    status: 400,
    body: JSON.stringify({ error_code: -32600, error_message: "malformed remote request" }),
  };
  if (!parsed.success) return malformed;
  const { method, path, headers, body: text } = parsed.data;
  let request: Request;
  try {
    request = new Request(`http://remote${path}`, {
      method,
      headers,
      body: method === "GET" || method === "DELETE" ? undefined : text,
    });
  } catch {
    // A header name or value no HTTP request can carry: refused like any malformed request.
    return malformed;
  }
  const dialectApp = compatApp && headers[DIALECT_HEADER] === ORIGINAL_DIALECT ? compatApp : app;
  const response = await dialectApp.fetch(request, { remoteNode: from } satisfies RemoteEnv);
  const answer = await response.text();
  return {
    status: response.status,
    body: answer,
    served_ms: hundredths(performance.now() - startedAt),
  };
}
