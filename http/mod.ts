/** The HTTP API's public face. */
export const HTTP_WORKER_URL = new URL("./worker.ts", import.meta.url);
export { type App, type AppDeps, createApp, createAppWithRoutes, MAX_BODY_BYTES } from "./app.ts";
export { ApiRoutes, type RouteSpec } from "./api_route.ts";
export { openApiDocument, openApiPath } from "./openapi.ts";
export { RateLimiter } from "./rate_limit.ts";
export { API_ERRORS, ApiError, type ApiErrorKind } from "./errors.ts";
export { DEFAULT_WALLET_AUTH, WalletAuthenticator } from "./auth.ts";
export { parseServerTiming } from "./remote.ts";
export {
  ApiClient,
  ApiClientError,
  type ApiClientErrorKind,
  type ApiClientOptions,
  CLIENT_REQUEST_TIMEOUT_MS,
  CONTAINER_ACTIONS,
  type ContainerAction,
  type ContainerCreateFields,
  type ContainerLogs,
  type CreateAccepted,
  FINAL_OPERATION_STATES,
  finalOperationState,
  isFinalOperationEvent,
  type JsonObject,
  type LogRange,
  type NodeInfo,
  type Operation,
  OPERATION_ERROR_EVENT,
  type RequestOptions,
  SNAPSHOT_ACTIONS,
  type SnapshotAction,
  unwrapEnvelope,
  VM_ACTIONS,
  type VmAction,
  type VmCreateFields,
  type VmLogs,
  type VmModifyFields,
} from "./client.ts";
export {
  isMultisigSigner,
  type MultisigSigner,
  multisigSigner,
  newNonce,
  type RequestSigner,
  signatureHeaders,
  type Signer,
  type WalletKey,
  walletSigner,
} from "./client_signer.ts";
export { readServerSentEvents, type ServerSentEvent, ServerSentEventParser } from "./client_sse.ts";
