/**
 * The original DBC node's HTTP dialect (ORIGINAL_API.md): the app, its
 * listener on client-ends, and the header that marks a tunnelled request as
 * one of its own.
 */
export { createCompatApp, routeOf } from "./app.ts";
export { DIALECT_HEADER, ORIGINAL_DIALECT } from "../remote.ts";
export { listenInOriginalDialect } from "./listener.ts";
export type { CompatDeps } from "./endpoint.ts";
