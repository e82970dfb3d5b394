/**
 * Who may use the operator endpoints: a request on this machine's loopback
 * interface, made directly (never one tunnelled in from another node), that
 * carries the node's operator token as `Authorization: Bearer <token>`. The
 * token lives in `<data_dir>/operator.token`, readable only by the node's
 * user, so "can read the node's files and reach it locally" is the whole
 * test; over plain HTTP from elsewhere the token would travel in the clear,
 * so other addresses are refused even with it.
 */
import type { Context } from "hono";
import { tokensEqual } from "../mod/mod.ts";
import { ApiError } from "./errors.ts";
import { isRemoteEnv } from "./remote.ts";

export type OperatorAccess = {
  /** The node's operator token; without one the operator endpoints are closed. */
  token?: string;
  /** The address a request came from; absent in tools and unit tests that call the app directly. */
  clientAddress?: (c: Context) => string;
};

export function isLoopback(address: string): boolean {
  const v4 = address.startsWith("::ffff:") ? address.slice("::ffff:".length) : address;
  return v4.startsWith("127.") || address === "::1";
}

/** Throws the API error that refuses `c`, or returns when the operator may go on. */
export function requireOperator(c: Context, access: OperatorAccess): void {
  if (!access.token) {
    throw new ApiError(
      "forbidden",
      "operator endpoints are closed: this node has no operator token",
    );
  }
  if (isRemoteEnv(c.env)) {
    throw new ApiError("forbidden", "operator endpoints answer only on the node itself");
  }
  const address = access.clientAddress?.(c);
  if (address !== undefined && !isLoopback(address)) {
    throw new ApiError(
      "forbidden",
      `operator endpoints answer only on the loopback interface, not to ${address}`,
    );
  }
  const header = c.req.header("authorization") ?? "";
  const given = header.startsWith("Bearer ") ? header.slice("Bearer ".length).trim() : "";
  if (given === "") {
    throw new ApiError(
      "unauthorized",
      "operator token missing: send Authorization: Bearer <contents of <data_dir>/operator.token>",
    );
  }
  if (!tokensEqual(given, access.token)) throw new ApiError("unauthorized", "wrong operator token");
}
