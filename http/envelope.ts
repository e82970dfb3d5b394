/** Success and failure bodies in the original network's envelope. */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ApiError } from "./errors.ts";

export type SuccessBody<T> = { error_code: 0; error_message: ""; data: T };
export type FailureBody = { error_code: number; error_message: string };

export function ok<T>(c: Context, data: T, status: ContentfulStatusCode = 200): Response {
  return c.json({ error_code: 0, error_message: "", data } satisfies SuccessBody<T>, status);
}

export function failure(c: Context, error: ApiError): Response {
  return c.json(
    { error_code: error.code, error_message: error.message } satisfies FailureBody,
    error.status,
  );
}
