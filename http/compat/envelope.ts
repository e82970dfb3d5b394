/**
 * The original node's envelope: `{errcode, message}`, where on success
 * `message` is the data itself (an object, a bare array, or `"ok"`), and
 * the original's codes and HTTP statuses: the client-end refuses what it can
 * judge alone with 400 (404 for an unknown prefix); whatever the GPU node
 * decides (authorisation, the task manager's refusals) comes back as HTTP 200
 * with a non-zero errcode; a GPU node that does not answer is a 500.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** The original's codes (its `common/error.h`), by what they mean here. */
export const ORIGINAL_CODES = {
  ok: 0,
  /** The task manager refused (`ERR_ERROR`): no such task, bad parameter, wrong state. */
  refused: 1,
  /** A GPU node did not answer in time (`RPC_MISC_ERROR`). */
  timeout: -1,
  /** The GPU node's default error (`E_DEFAULT`): authorisation, unknown task detail. */
  denied: -3,
  /** Work queue exceeded (`RPC_SYSTEM_BUSYING`): the rate limit. */
  busy: -21,
  /** A parameter the client-end refused (`RPC_INVALID_PARAMS`). */
  invalidParams: -25,
  /** Not a request it serves: method or path (`RPC_INVALID_REQUEST`). */
  invalidRequest: -32600,
  /** An unknown path prefix (`RPC_METHOD_NOT_FOUND`). */
  methodNotFound: -32601,
  /** A stub or a response that could not be made (`RPC_RESPONSE_ERROR`). */
  responseError: -32701,
} as const;

export type OriginalStatus = 200 | 400 | 404 | 429 | 500;

/** A refusal in the original's terms; the app turns it into `{errcode, message}` with `status`. */
export class CompatError extends Error {
  constructor(readonly status: OriginalStatus, readonly errcode: number, message: string) {
    super(message);
    this.name = "CompatError";
  }
}

/** 400, -32600: a method or path the client-end does not serve. */
export const invalidRequest = (message: string) =>
  new CompatError(400, ORIGINAL_CODES.invalidRequest, message);
/** 400, -25: a body or query the client-end refuses. */
export const invalidParams = (message: string) =>
  new CompatError(400, ORIGINAL_CODES.invalidParams, message);
/** 200, 1: the GPU node's task manager refuses. */
export const refused = (message: string) => new CompatError(200, ORIGINAL_CODES.refused, message);
/** 200, -3: the GPU node's authorisation (or its default error). */
export const denied = (message: string) => new CompatError(200, ORIGINAL_CODES.denied, message);

/** A success: HTTP 200, errcode 0, the data as `message`. */
export function originalOk(c: Context, message: unknown): Response {
  return c.json({ errcode: ORIGINAL_CODES.ok, message }, 200);
}

export function originalFailure(c: Context, error: CompatError): Response {
  return c.json(
    { errcode: error.errcode, message: error.message },
    error.status as ContentfulStatusCode,
  );
}
