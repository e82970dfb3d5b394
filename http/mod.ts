/** The HTTP API's public face. */
export const HTTP_WORKER_URL = new URL("./worker.ts", import.meta.url);
export { type AppDeps, createApp, MAX_BODY_BYTES } from "./app.ts";
export { API_ERRORS, ApiError, type ApiErrorKind } from "./errors.ts";
