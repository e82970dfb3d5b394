/** The HTTP API's public face. */
export const HTTP_WORKER_URL = new URL("./worker.ts", import.meta.url);
export { type App, type AppDeps, createApp, createAppWithRoutes, MAX_BODY_BYTES } from "./app.ts";
export { ApiRoutes, type RouteSpec } from "./api_route.ts";
export { openApiDocument, openApiPath } from "./openapi.ts";
export { RateLimiter } from "./rate_limit.ts";
export { API_ERRORS, ApiError, type ApiErrorKind } from "./errors.ts";
export { DEFAULT_WALLET_AUTH, WalletAuthenticator } from "./auth.ts";
