/**
 * Shared by the container tests: the real engine's socket (Podman's Docker
 * API service, started by scripts/system/podman_setup.sh), the test image,
 * clean-up of everything a test labelled, and a recording proxy that sits at
 * the socket boundary so a test can see the exact requests the engine
 * receives (Podman accepts GPU device requests but ignores them, and this
 * machine has no GPU, so the request is what can be checked).
 */
import { scratchDir } from "../../helpers.ts";

export const ENGINE_SOCKET = Deno.env.get("DBC_TEST_DOCKER_SOCKET") ??
  "/run/dbc-podman/podman.sock";
export const TEST_IMAGE = Deno.env.get("DBC_TEST_IMAGE") ?? "localhost/dbc-test-busybox:latest";
/** The label every engine object made by a test carries; its value names the test run. */
export const TEST_LABEL = "dbc.test";

/**
 * A command that prints a line, then idles, and exits at once on SIGTERM
 * (a shell waiting on `sleep` as PID 1 would ignore it until the stop
 * time-out and then be killed).
 */
export function idleCommand(firstLine: string): string[] {
  return ["sh", "-c", `trap 'exit 0' TERM; echo ${firstLine}; while true; do sleep 1; done`];
}

let client: Deno.HttpClient | undefined;

/** A raw call to the engine, for checks and clean-up apart from the code under test. */
export async function rawEngine(
  method: string,
  path: string,
  body?: unknown,
  socket = ENGINE_SOCKET,
): Promise<{ status: number; value: unknown }> {
  client ??= Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  const response = await fetch(`http://engine/v1.41${path}`, {
    method,
    client,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let value: unknown = text;
  try {
    value = JSON.parse(text);
  } catch {
    // Not JSON: keep the text.
  }
  return { status: response.status, value };
}

/** Fails the test, with the way to fix it, when the engine does not answer. */
export async function requireEngine(): Promise<void> {
  let answer: string;
  try {
    answer = String((await rawEngine("GET", "/_ping")).value);
  } catch (error) {
    throw new Error(
      `the container engine does not answer on ${ENGINE_SOCKET} (${(error as Error).message}); ` +
        "start it with scripts/system/podman_setup.sh and make the test image with " +
        "scripts/system/podman_test_image.sh (or set DBC_TEST_DOCKER_SOCKET)",
    );
  }
  if (answer !== "OK") {
    throw new Error(`the engine on ${ENGINE_SOCKET} answered ${answer} to /_ping`);
  }
  const image = await rawEngine("GET", `/images/${TEST_IMAGE}/json`);
  if (image.status !== 200) {
    throw new Error(`test image ${TEST_IMAGE} is missing: run scripts/system/podman_test_image.sh`);
  }
}

/** A fresh label value for one test, so parallel tests never touch each other's objects. */
export function testRunId(name: string): string {
  return `${name}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Removes every container and volume carrying `dbc.test=<runId>` (or the `key=value` label given). */
export async function cleanUpEngine(
  runId: string,
  label = `${TEST_LABEL}=${runId}`,
): Promise<void> {
  const filters = encodeURIComponent(JSON.stringify({ label: [label] }));
  const containers = await rawEngine("GET", `/containers/json?all=true&filters=${filters}`);
  for (const container of (containers.value as { Id: string }[]) ?? []) {
    await rawEngine("DELETE", `/containers/${container.Id}?force=true&v=true`);
  }
  const volumes = await rawEngine("GET", `/volumes?filters=${filters}`);
  for (const volume of (volumes.value as { Volumes?: { Name: string }[] }).Volumes ?? []) {
    await rawEngine("DELETE", `/volumes/${volume.Name}?force=true`);
  }
}

/** Containers (ids) carrying `dbc.test=<runId>`, as the engine lists them. */
export async function labelledContainers(runId: string): Promise<string[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${TEST_LABEL}=${runId}`] }));
  const answer = await rawEngine("GET", `/containers/json?all=true&filters=${filters}`);
  return (answer.value as { Id: string }[]).map((container) => container.Id);
}

export type RecordedRequest = { method: string; path: string; body: unknown };

/**
 * A unix-socket HTTP server that forwards every request to the engine and
 * keeps a copy of it (method, path, JSON body). Point the code under test at
 * `socket` instead of the engine's.
 */
export class RecordingProxy {
  readonly requests: RecordedRequest[] = [];
  readonly #server: Deno.HttpServer;
  readonly #client: Deno.HttpClient;

  private constructor(readonly socket: string, readonly dir: string, target: string) {
    this.#client = Deno.createHttpClient({ proxy: { transport: "unix", path: target } });
    this.#server = Deno.serve(
      { path: socket, onListen: () => {} },
      (request) => this.#forward(request),
    );
  }

  static async start(target = ENGINE_SOCKET): Promise<RecordingProxy> {
    const dir = await scratchDir("engine-proxy");
    return new RecordingProxy(`${dir}/engine.sock`, dir, target);
  }

  /** Bodies of the `POST /containers/create` requests seen, in order. */
  createBodies(): Record<string, unknown>[] {
    return this.requests
      .filter((request) => request.method === "POST" && /\/containers\/create$/.test(request.path))
      .map((request) => request.body as Record<string, unknown>);
  }

  async stop(): Promise<void> {
    await this.#server.shutdown();
    this.#client.close();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  async #forward(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const bytes = new Uint8Array(await request.arrayBuffer());
    let body: unknown = null;
    if (bytes.byteLength > 0 && request.headers.get("content-type")?.includes("json")) {
      body = JSON.parse(new TextDecoder().decode(bytes));
    }
    this.requests.push({ method: request.method, path: url.pathname, body });
    const headers = new Headers(request.headers);
    headers.delete("host");
    headers.delete("transfer-encoding");
    const answer = await fetch(`http://engine${url.pathname}${url.search}`, {
      method: request.method,
      headers,
      body: bytes.byteLength > 0 ? bytes : undefined,
      client: this.#client,
    });
    return new Response(answer.body, { status: answer.status, headers: answer.headers });
  }
}
