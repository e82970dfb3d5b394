/**
 * HTTP/1.1 to the Docker Engine API over its unix socket, through
 * `node:http` and `socketPath`, with time-outs and typed failures
 * ({@link EngineError}).
 *
 * Why not docker-modem (or dockerode on top of it): checked here under Deno
 * 2.9.6 in a worker with the node service's permissions, importing
 * docker-modem 5.0.7 fails before any request, because its dependencies read
 * environment variables at load time (`READABLE_STREAM` in readable-stream,
 * `DOCKER_HOST` in the modem) and `debug` enumerates the whole environment,
 * which needs unrestricted `--allow-env`. Granting the worker every
 * environment variable to talk to one socket would undo its least-privilege
 * design; the few calls the node makes fit in this small client instead.
 *
 * Deno checks a unix-socket connection against three permissions: read and
 * write of the socket path, and net `unix:<path>` (see `mod/permissions.ts`).
 */
import { Agent, type IncomingMessage, request as httpRequest } from "node:http";
import { EngineError } from "../engine.ts";

/** The API version spoken: Docker 20.10+ and Podman 4+ serve it. */
export const DOCKER_API_VERSION = "v1.41";

export type QueryValue = string | number | boolean | undefined;

export type EngineRequest = {
  method: "GET" | "POST" | "PUT" | "DELETE" | "HEAD";
  /** Path without the version prefix, e.g. `/containers/create`. */
  path: string;
  query?: Record<string, QueryValue>;
  /** Sent as `application/json`. */
  json?: unknown;
  /** Sent as-is (chunked) with `contentType`. */
  body?: AsyncIterable<Uint8Array>;
  contentType?: string;
  /** How long to wait for the response headers. */
  timeoutMs: number;
  signal?: AbortSignal;
};

export type EngineResponse = {
  status: number;
  body: AsyncIterable<Uint8Array>;
  /** Stops reading and closes the connection. */
  cancel(): void;
};

export type EngineJson = { status: number; value: unknown };

export class DockerHttp {
  readonly #agent: Agent;

  constructor(readonly socketPath: string) {
    // One connection reused across calls: the API is chatty and the socket local.
    this.#agent = new Agent({ keepAlive: true, maxSockets: 8 });
  }

  /** Sends a request and resolves once the response headers arrived. */
  open(request: EngineRequest): Promise<EngineResponse> {
    const path = `/${DOCKER_API_VERSION}${request.path}${queryString(request.query)}`;
    const headers: Record<string, string> = { Host: "docker" };
    let payload: Uint8Array | undefined;
    if (request.json !== undefined) {
      payload = new TextEncoder().encode(JSON.stringify(request.json));
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(payload.byteLength);
    } else if (request.body !== undefined) {
      headers["Content-Type"] = request.contentType ?? "application/octet-stream";
      headers["Transfer-Encoding"] = "chunked";
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (error: EngineError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request.signal?.removeEventListener("abort", onAbort);
        req.destroy();
        reject(error);
      };
      const onAbort = () => fail(new EngineError("unavailable", `${describe(request)}: aborted`));
      const req = httpRequest(
        { socketPath: this.socketPath, path, method: request.method, headers, agent: this.#agent },
        (res: IncomingMessage) => {
          if (settled) return void res.destroy();
          settled = true;
          clearTimeout(timer);
          request.signal?.removeEventListener("abort", onAbort);
          resolve({ status: res.statusCode ?? 0, body: res, cancel: () => res.destroy() });
        },
      );
      const timer = setTimeout(
        () =>
          fail(
            new EngineError(
              "unavailable",
              `container engine on ${this.socketPath} did not answer ${
                describe(request)
              } within ${request.timeoutMs} ms`,
            ),
          ),
        request.timeoutMs,
      );
      req.on("error", (error: Error) => fail(connectionError(this.socketPath, request, error)));
      if (request.signal?.aborted) return onAbort();
      request.signal?.addEventListener("abort", onAbort, { once: true });
      if (payload !== undefined) {
        req.end(payload);
      } else if (request.body !== undefined) {
        pipeBody(request.body, req).catch((error) =>
          fail(new EngineError("failed", `${describe(request)}: ${(error as Error).message}`))
        );
      } else {
        req.end();
      }
    });
  }

  /** Sends a request and reads the whole answer as JSON (or text when it is not JSON). */
  async json(request: EngineRequest, maxBytes = MAX_JSON_BYTES): Promise<EngineJson> {
    const response = await this.open(request);
    const text = await readText(response, maxBytes, describe(request));
    if (text === "") return { status: response.status, value: null };
    try {
      return { status: response.status, value: JSON.parse(text) };
    } catch {
      return { status: response.status, value: text };
    }
  }

  /** Closes idle kept-alive connections. */
  close(): void {
    this.#agent.destroy();
  }
}

/** The largest JSON answer read (a container listing of a busy engine fits easily). */
export const MAX_JSON_BYTES = 32 * 1024 * 1024;

/** Reads a whole response body as text, refusing more than `maxBytes`. */
export async function readText(
  response: EngineResponse,
  maxBytes: number,
  what: string,
): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      response.cancel();
      throw new EngineError("failed", `${what}: answer larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) all.set(chunk, offset), offset += chunk.byteLength;
  return new TextDecoder().decode(all);
}

async function pipeBody(
  body: AsyncIterable<Uint8Array>,
  req: ReturnType<typeof httpRequest>,
): Promise<void> {
  for await (const chunk of body) {
    if (!req.write(chunk)) {
      await new Promise<void>((resolve) => req.once("drain", () => resolve()));
    }
  }
  req.end();
}

function queryString(query: Record<string, QueryValue> | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) params.set(key, String(value));
  }
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

function describe(request: EngineRequest): string {
  return `${request.method} ${request.path}`;
}

function connectionError(socketPath: string, request: EngineRequest, error: Error): EngineError {
  const code = (error as { code?: string }).code;
  const where = `container engine socket ${socketPath}`;
  if (error instanceof Deno.errors.NotCapable) {
    return new EngineError(
      "unavailable",
      `${where}: the node has no permission to use it (it needs read, write and net unix:${socketPath})`,
    );
  }
  switch (code) {
    case "ENOENT":
      return new EngineError("unavailable", `${where} does not exist: is the engine running?`);
    case "ECONNREFUSED":
      return new EngineError("unavailable", `${where} refuses connections: is the engine running?`);
    case "EACCES":
    case "EPERM":
      return new EngineError("unavailable", `${where}: permission denied`);
    default:
      return new EngineError(
        "unavailable",
        `${where}: ${describe(request)} failed: ${error.message}`,
      );
  }
}
