/**
 * Runs one HTTP request to an image server in the request process
 * (request_process.ts), whose Deno permissions are the outbound policy:
 * the node service itself connects nowhere. The answer's head comes back as
 * a value, its body as a stream; a request body is streamed to the
 * process's stdin. Aborting the signal kills the process, which drops the
 * connection (a PUT the server had not finished is then discarded by it).
 */
import {
  failureReason,
  outboundFlags,
  type OutboundPolicy,
  spawnOutbound,
  stderrLines,
} from "../host/mod.ts";
import { AUTH_ENV } from "./constants.ts";

const REQUEST_PROCESS = new URL("./request_process.ts", import.meta.url);

export class TransferError extends Error {
  constructor(
    readonly kind: "not_allowed" | "failed" | "stopped" | "invalid" | "conflict" | "not_found",
    message: string,
  ) {
    super(message);
    this.name = "TransferError";
  }
}

export type HttpRequest = {
  method: "GET" | "PUT" | "PROPFIND" | "HEAD" | "DELETE";
  url: URL;
  headers?: Record<string, string>;
  /** Streamed as the body (a PUT). */
  body?: ReadableStream<Uint8Array>;
  signal: AbortSignal;
};

export type HttpAnswer = {
  status: number;
  headers: Record<string, string>;
  /** The body; it must be read or cancelled. */
  body: ReadableStream<Uint8Array>;
  /** Settles when the process is gone: the reason the body broke off, or undefined. */
  finished: Promise<string | undefined>;
};

/** Sends HTTP requests to image servers; one process each. */
export type Requester = (request: HttpRequest) => Promise<HttpAnswer>;

type Head = { status: number; headers: Record<string, string> } | {
  error: string;
  kind: "not_allowed" | "failed";
};

/** A requester whose processes may reach what `policy` allows and nothing else. */
export function processRequester(policy: OutboundPolicy): Requester {
  return async (request) => {
    const flags = outboundFlags(policy);
    if (!flags) throw new TransferError("not_allowed", "this node has no image servers");
    const url = new URL(request.url);
    const auth = url.username || url.password
      ? btoa(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`)
      : "";
    url.username = "";
    url.password = "";
    const { child, kill } = spawnOutbound(REQUEST_PROCESS, [...flags, `--allow-env=${AUTH_ENV}`], [
      request.method,
      url.toString(),
      JSON.stringify(request.headers ?? {}),
      request.body ? "body" : "nobody",
      policy.privateAddresses,
    ], { env: { [AUTH_ENV]: auth }, stdin: request.body ? "piped" : "null" });
    if (request.signal.aborted) kill();
    request.signal.addEventListener("abort", kill, { once: true });
    const sent = request.body
      ? request.body.pipeTo(child.stdin, { signal: request.signal }).catch(() => kill())
      : Promise.resolve();
    const lines = stderrLines(child.stderr);
    let head: Head | undefined;
    try {
      head = JSON.parse((await lines.next()) ?? "null") ?? undefined;
    } catch {
      head = undefined;
    }
    const finished = (async () => {
      const status = await child.status;
      await sent;
      request.signal.removeEventListener("abort", kill);
      const last = await lines.next().catch(() => undefined);
      await lines.close();
      if (status.success) return undefined;
      if (request.signal.aborted) return "stopped";
      return failureReason(last, status.code);
    })();
    if (!head || "error" in head) {
      await child.stdout.cancel().catch(() => {});
      await finished;
      if (request.signal.aborted) throw new TransferError("stopped", "stopped");
      throw new TransferError(
        head?.kind === "not_allowed" ? "not_allowed" : "failed",
        head ? head.error : "the request process ended without an answer",
      );
    }
    return { status: head.status, headers: head.headers, body: child.stdout, finished };
  };
}

/** Reads a small answer's body as text, refusing one past `maxBytes`. */
export async function readSmall(answer: HttpAnswer, maxBytes: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of answer.body) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      // Leaving the loop cancels the body, and the process with it.
      throw new TransferError("failed", `the server's answer is larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  const broken = await answer.finished;
  if (broken) throw new TransferError("failed", broken);
  return new TextDecoder().decode(concat(chunks));
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
