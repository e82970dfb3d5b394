/**
 * The WebDAV verbs a transfer needs, over a {@link Requester}: list a
 * server's directory (PROPFIND, else its JSON index), read a sidecar, GET a
 * file from an offset (HTTP Range), PUT one. Knows HTTP, not the node: the
 * transfer service decides what to do with the bytes.
 */
import {
  MAX_SMALL_ANSWER_BYTES,
  SHA256_SIDECAR_SUFFIX,
  SMALL_REQUEST_TIMEOUT_MS,
} from "./constants.ts";
import { fileUrl } from "./names.ts";
import { type HttpAnswer, readSmall, type Requester, TransferError } from "./requester.ts";
import type { ImageServer } from "./servers.ts";
import {
  imageFiles,
  type ListedEntry,
  parseJsonIndex,
  parseMultistatus,
  parseSha256Sidecar,
  PROPFIND_BODY,
} from "./webdav.ts";

export type RemoteFile = ListedEntry & { hasSha256: boolean };

/** What a GET from an offset got: the body from `offset` on, or from 0 when the server ignored the range. */
export type Fetched = { answer: HttpAnswer; from: number; totalBytes: number | null };

export class ImageServerClient {
  constructor(private readonly request: Requester) {}

  /** The image files in the server's directory, each saying whether it has a `.sha256` sidecar. */
  async list(server: ImageServer, signal?: AbortSignal): Promise<RemoteFile[]> {
    const limit = withTimeout(signal);
    const propfind = await this.request({
      method: "PROPFIND",
      url: server.url,
      headers: { depth: "1", "content-type": "application/xml" },
      body: ReadableStream.from([new TextEncoder().encode(PROPFIND_BODY)]),
      signal: limit,
    });
    if (propfind.status === 207) {
      return imageFiles(
        parseMultistatus(await readSmall(propfind, MAX_SMALL_ANSWER_BYTES), server.url),
      );
    }
    await propfind.body.cancel().catch(() => {});
    await propfind.finished;
    // A server without WebDAV listing: nginx's JSON index of the directory.
    const index = await this.request({
      method: "GET",
      url: server.url,
      headers: { accept: "application/json" },
      signal: limit,
    });
    const text = await readSmall(index, MAX_SMALL_ANSWER_BYTES);
    const entries = index.status === 200 ? parseJsonIndex(text) : undefined;
    if (!entries) {
      throw new TransferError(
        "failed",
        `image server ${server.id} lists nothing: PROPFIND answered HTTP ${propfind.status}, ` +
          `its index HTTP ${index.status}${index.status === 200 ? " (not a JSON index)" : ""}`,
      );
    }
    return imageFiles(entries);
  }

  /** The SHA-256 the server's `<name>.sha256` gives, or undefined when it has none. */
  async sidecarSha256(
    server: ImageServer,
    name: string,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const answer = await this.request({
      method: "GET",
      url: fileUrl(server.url, `${name}${SHA256_SIDECAR_SUFFIX}`),
      signal: withTimeout(signal),
    });
    const text = await readSmall(answer, MAX_SMALL_ANSWER_BYTES);
    if (answer.status === 404) return undefined;
    if (answer.status !== 200) {
      throw new TransferError(
        "failed",
        `${name}${SHA256_SIDECAR_SUFFIX} answered HTTP ${answer.status}`,
      );
    }
    const sha256 = parseSha256Sidecar(text, name);
    if (!sha256) {
      throw new TransferError(
        "failed",
        `${name}${SHA256_SIDECAR_SUFFIX} holds no SHA-256 for ${name}`,
      );
    }
    return sha256;
  }

  /** GETs `name` from byte `offset` on (a Range request when offset > 0). */
  async get(
    server: ImageServer,
    name: string,
    offset: number,
    signal: AbortSignal,
  ): Promise<Fetched> {
    const answer = await this.request({
      method: "GET",
      url: fileUrl(server.url, name),
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      signal,
    });
    const length = Number(answer.headers["content-length"]);
    const known = answer.headers["content-length"] !== undefined && Number.isSafeInteger(length);
    if (answer.status === 206 && offset > 0) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(answer.headers["content-range"] ?? "");
      if (!range || Number(range[1]) !== offset) {
        await answer.body.cancel().catch(() => {});
        throw new TransferError("failed", `${name}: the server answered another range than asked`);
      }
      return { answer, from: offset, totalBytes: range[3] === "*" ? null : Number(range[3]) };
    }
    if (answer.status === 200) return { answer, from: 0, totalBytes: known ? length : null };
    await answer.body.cancel().catch(() => {});
    await answer.finished;
    throw new TransferError(
      answer.status === 404 ? "not_found" : "failed",
      answer.status === 404
        ? `image:${name} not exist on image server ${server.id}`
        : `${name}: image server ${server.id} answered HTTP ${answer.status}`,
    );
  }

  /** PUTs `body` (`length` bytes) as `name`; resolves once the server has stored it all. */
  async put(
    server: ImageServer,
    name: string,
    body: ReadableStream<Uint8Array>,
    length: number,
    signal: AbortSignal,
  ): Promise<void> {
    const answer = await this.request({
      method: "PUT",
      url: fileUrl(server.url, name),
      headers: { "content-length": String(length), "content-type": "application/octet-stream" },
      body,
      signal,
    });
    await readSmall(answer, MAX_SMALL_ANSWER_BYTES).catch(() => "");
    if (signal.aborted) throw new TransferError("stopped", "stopped");
    if (answer.status !== 201 && answer.status !== 204 && answer.status !== 200) {
      throw new TransferError(
        "failed",
        `${name}: image server ${server.id} refused the upload (HTTP ${answer.status})`,
      );
    }
  }

  /** Removes `name` from the server (an upload that could not be completed); quiet when absent. */
  async remove(server: ImageServer, name: string): Promise<void> {
    const answer = await this.request({
      method: "DELETE",
      url: fileUrl(server.url, name),
      signal: withTimeout(undefined),
    });
    await readSmall(answer, MAX_SMALL_ANSWER_BYTES).catch(() => "");
  }
}

function withTimeout(signal: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(SMALL_REQUEST_TIMEOUT_MS);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}
