/**
 * One error shape for the whole API, in the original network's envelope:
 * `{ "error_code": <non-zero>, "error_message": "..." }` with the fitting HTTP
 * status. Codes that the original defined keep their numbers (REFERENCE.md);
 * the rest sit in JSON-RPC's implementation-defined range.
 */
import type { RpcErrorCode } from "../mod/mod.ts";

export const API_ERRORS = {
  invalid_request: { status: 400, code: -32600 },
  invalid_params: { status: 400, code: -25 },
  unauthorized: { status: 401, code: -32001 },
  forbidden: { status: 403, code: -32003 },
  not_found: { status: 404, code: -32004 },
  no_such_endpoint: { status: 404, code: -32601 },
  conflict: { status: 409, code: -32009 },
  payload_too_large: { status: 413, code: -32013 },
  rate_limited: { status: 429, code: -32029 },
  internal: { status: 500, code: -32603 },
  bad_response: { status: 502, code: -32701 },
  try_later: { status: 503, code: -32602 },
  timeout: { status: 504, code: -32700 },
} as const;

export type ApiErrorKind = keyof typeof API_ERRORS;

export class ApiError extends Error {
  constructor(readonly kind: ApiErrorKind, message: string) {
    super(message);
    this.name = "ApiError";
  }

  get status(): (typeof API_ERRORS)[ApiErrorKind]["status"] {
    return API_ERRORS[this.kind].status;
  }

  get code(): number {
    return API_ERRORS[this.kind].code;
  }
}

/** How a failed request between workers shows to an API client. */
export function apiErrorKindFor(code: RpcErrorCode): ApiErrorKind {
  switch (code) {
    case "timeout":
      return "timeout";
    case "unavailable":
    case "shutting_down":
      return "try_later";
    case "invalid_params":
      return "invalid_params";
    case "not_found":
      return "not_found";
    case "conflict":
      return "conflict";
    case "forbidden":
      return "forbidden";
    case "bad_message":
      return "bad_response";
    case "internal":
      return "internal";
  }
}
