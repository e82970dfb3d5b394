/**
 * The public face of node_service/image_servers/: the operator's image
 * servers (WebDAV over HTTP), and downloads from and uploads to them with
 * progress and stop.
 */
export { ImageServerClient, type RemoteFile } from "./client.ts";
export { type ImageServerDeps, type StartedImageServers, startImageServers } from "./handlers.ts";
export { checkFileName, fileUrl } from "./names.ts";
export { processRequester, type Requester, TransferError } from "./requester.ts";
export { findServer, type ImageServer, serversFromConfig, transferPolicy } from "./servers.ts";
export { INTERRUPTED_ERROR, TransferStore } from "./store.ts";
export { type DiskExporter, qemuImgExporter, TransferService } from "./transfers.ts";
export { parseJsonIndex, parseMultistatus, parseSha256Sidecar } from "./webdav.ts";
