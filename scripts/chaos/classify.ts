/**
 * How a renter's request ended, in the three kinds a chaos run counts (pure):
 *
 * - `succeeded`: the API's success envelope with a right answer (the renter
 *   checks the answer; see renter.ts);
 * - `clear`: an error a renter can act on, in the API's envelope with a
 *   documented status and code: try later (503), time-out (504), a conflict
 *   with the instance's state (409), the rate limit (429); or a client-end
 *   that refuses the connection (it is down: the renter tries another);
 * - `otherwise`: anything else: a 500, a 502, a status and code the API does
 *   not document together, an answer that is not the envelope, no answer
 *   within the renter's time-out (longer than the node's own), a refusal of a
 *   request that was right (400, 401, 403: the renter signs correctly and
 *   rents the machine), a 404 for an instance the renter has and did not
 *   delete, or a wrong answer.
 */
import { API_ERRORS, ApiClientError, type ApiErrorKind } from "../../http/mod.ts";

export type Outcome =
  | { kind: "succeeded" }
  | { kind: "clear"; code: string }
  | { kind: "otherwise"; why: string };

/** The errors that tell a renter what to do about them (wait, retry, look again). */
const CLEAR_KINDS: ReadonlySet<ApiErrorKind> = new Set([
  "try_later",
  "timeout",
  "conflict",
  "rate_limited",
]);

/** The documented error the envelope's status and code stand for together; undefined: none. */
export function documentedError(status: number, code: number): ApiErrorKind | undefined {
  return (Object.keys(API_ERRORS) as ApiErrorKind[]).find((kind) =>
    API_ERRORS[kind].status === status && API_ERRORS[kind].code === code
  );
}

export type ErrorContext = {
  /** The request names an instance the renter has and did not delete: a 404 is a wrong answer. */
  instanceExists: boolean;
};

/** The outcome of a request that threw `error`. */
export function classifyError(error: unknown, context: ErrorContext): Outcome {
  if (!(error instanceof ApiClientError)) {
    return { kind: "otherwise", why: `not an API failure: ${(error as Error)?.message ?? error}` };
  }
  switch (error.kind) {
    case "unreachable":
      return { kind: "clear", code: "unreachable" };
    case "timeout":
      return { kind: "otherwise", why: `hang: ${error.message}` };
    case "malformed_response":
      return { kind: "otherwise", why: `malformed answer: ${error.message}` };
    case "api":
      break;
  }
  const documented = documentedError(error.status, error.errorCode);
  const said = `HTTP ${error.status} ${error.errorCode}: ${error.message}`;
  if (!documented) return { kind: "otherwise", why: `undocumented status and code: ${said}` };
  if (CLEAR_KINDS.has(documented)) return { kind: "clear", code: documented };
  if (documented === "not_found" && !context.instanceExists) {
    return { kind: "clear", code: documented };
  }
  return { kind: "otherwise", why: said };
}
