/**
 * {@link ContainerEngine} over the Docker Engine API (Docker, or Podman's
 * compatible service) on a unix socket. Thin: each method is one or two API
 * calls; shapes are built and read by the pure functions of `wire.ts`.
 *
 * @example
 * ```ts
 * const engine = new DockerEngine("/var/run/docker.sock");
 * const id = await engine.createContainer({ name: "dbc-demo", image: "busybox", labels: {}, gpuDeviceIds: [], ports: [] });
 * await engine.startContainer(id);
 * ```
 */
import {
  type ContainerDetails,
  type ContainerEngine,
  type ContainerListing,
  type ContainerSpec,
  EngineError,
  type EngineInfo,
  type EngineUsage,
  type ImageListing,
  type LogQuery,
  type LogResult,
  type PullEvent,
} from "../engine.ts";
import { DockerHttp, type EngineRequest, type EngineResponse, readText } from "./http.ts";
import { LogCollector } from "./logs.ts";
import { containerUsageFrom } from "./stats.ts";
import {
  containerCreateBody,
  containerDetailsFrom,
  containerListingFrom,
  engineErrorFrom,
  engineInfoFrom,
  imageListingFrom,
  JsonLineSplitter,
  labelFilter,
  pullEventFrom,
} from "./wire.ts";

/** Time-outs for the engine's answers (headers; bodies are bounded by size). */
export const ENGINE_TIMEOUTS_MS = {
  /** `/_ping` and `/version`: a healthy engine answers at once. */
  probe: 5_000,
  /** Ordinary calls: create, start, inspect, list, remove. */
  call: 60_000,
  /** Added to a stop's own grace period. */
  stopMargin: 30_000,
  /** An import answers only after the whole tarball is stored. */
  import: 10 * 60_000,
  /** A pull's first answer can wait on a slow registry. */
  pullStart: 5 * 60_000,
} as const;

/** The largest answer read while importing (progress lines). */
const MAX_IMPORT_ANSWER_BYTES = 1024 * 1024;

export class DockerEngine implements ContainerEngine {
  readonly #http: DockerHttp;

  constructor(readonly socketPath: string) {
    this.#http = new DockerHttp(socketPath);
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.#http.close();
  }

  async info(): Promise<EngineInfo> {
    const answer = await this.#expect(
      { method: "GET", path: "/version", timeoutMs: ENGINE_TIMEOUTS_MS.probe },
      [200],
    );
    return engineInfoFrom(answer);
  }

  async createVolume(name: string, labels: Readonly<Record<string, string>>): Promise<void> {
    await this.#expect({
      method: "POST",
      path: "/volumes/create",
      json: { Name: name, Labels: { ...labels } },
      timeoutMs: ENGINE_TIMEOUTS_MS.call,
    }, [200, 201]);
  }

  async volumeExists(name: string): Promise<boolean> {
    const { status, value } = await this.#http.json({
      method: "GET",
      path: `/volumes/${name}`,
      timeoutMs: ENGINE_TIMEOUTS_MS.call,
    });
    if (status === 200) return true;
    if (status === 404) return false;
    throw engineErrorFrom(status, value, `inspect volume ${name}`);
  }

  async removeVolume(name: string): Promise<void> {
    await this.#expect(
      { method: "DELETE", path: `/volumes/${name}`, timeoutMs: ENGINE_TIMEOUTS_MS.call },
      [204, 404],
    );
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    const answer = await this.#expect({
      method: "POST",
      path: "/containers/create",
      query: { name: spec.name },
      json: containerCreateBody(spec),
      timeoutMs: ENGINE_TIMEOUTS_MS.call,
    }, [201]);
    const id = (answer as { Id?: unknown } | null)?.Id;
    if (typeof id !== "string" || id === "") {
      throw new EngineError("failed", "create container: the engine's answer has no Id");
    }
    return id;
  }

  async startContainer(id: string): Promise<void> {
    // 304: already running.
    await this.#expect(
      { method: "POST", path: `/containers/${id}/start`, timeoutMs: ENGINE_TIMEOUTS_MS.call },
      [204, 304],
    );
  }

  async putArchive(id: string, path: string, tar: Uint8Array): Promise<void> {
    const response = await this.#http.open({
      method: "PUT",
      path: `/containers/${id}/archive`,
      query: { path },
      body: (async function* () {
        yield tar;
      })(),
      contentType: "application/x-tar",
      timeoutMs: ENGINE_TIMEOUTS_MS.call,
    });
    try {
      if (response.status !== 200) throw await this.#failure(response, `copy into ${id}`);
    } finally {
      response.cancel();
    }
  }

  async stopContainer(id: string, timeoutS: number): Promise<void> {
    // 304: already stopped.
    await this.#expect({
      method: "POST",
      path: `/containers/${id}/stop`,
      query: { t: timeoutS },
      timeoutMs: timeoutS * 1000 + ENGINE_TIMEOUTS_MS.stopMargin,
    }, [204, 304]);
  }

  async restartContainer(id: string, timeoutS: number): Promise<void> {
    await this.#expect({
      method: "POST",
      path: `/containers/${id}/restart`,
      query: { t: timeoutS },
      timeoutMs: timeoutS * 1000 + ENGINE_TIMEOUTS_MS.stopMargin,
    }, [204]);
  }

  async removeContainer(id: string): Promise<void> {
    await this.#expect({
      method: "DELETE",
      path: `/containers/${id}`,
      query: { force: true, v: true },
      timeoutMs: ENGINE_TIMEOUTS_MS.call,
    }, [204, 404]);
  }

  async inspectContainer(id: string): Promise<ContainerDetails> {
    const answer = await this.#expect(
      { method: "GET", path: `/containers/${id}/json`, timeoutMs: ENGINE_TIMEOUTS_MS.call },
      [200],
    );
    return containerDetailsFrom(answer);
  }

  async listContainers(labels: readonly string[]): Promise<ContainerListing[]> {
    const answer = await this.#expect({
      method: "GET",
      path: "/containers/json",
      query: { all: true, filters: labels.length > 0 ? labelFilter(labels) : undefined },
      timeoutMs: ENGINE_TIMEOUTS_MS.call,
    }, [200]);
    return containerListingFrom(answer);
  }

  async containerLogs(id: string, query: LogQuery): Promise<LogResult> {
    const request: EngineRequest = {
      method: "GET",
      path: `/containers/${id}/logs`,
      // For the head there is no engine parameter: read from the start and stop early.
      query: { stdout: true, stderr: true, tail: query.from === "tail" ? query.lines : "all" },
      timeoutMs: ENGINE_TIMEOUTS_MS.call,
    };
    const response = await this.#http.open(request);
    if (response.status !== 200) throw await this.#failure(response, `logs of container ${id}`);
    const collector = new LogCollector(query);
    for await (const chunk of response.body) {
      if (!collector.push(chunk)) {
        response.cancel();
        break;
      }
    }
    return collector.finish();
  }

  async containerUsage(id: string): Promise<EngineUsage> {
    // One reading, not a stream; one-shot spares Docker its second sample for a CPU share.
    const answer = await this.#expect({
      method: "GET",
      path: `/containers/${id}/stats`,
      query: { stream: false, "one-shot": true },
      timeoutMs: ENGINE_TIMEOUTS_MS.call,
    }, [200]);
    return containerUsageFrom(answer);
  }

  async listImages(): Promise<ImageListing[]> {
    const answer = await this.#expect(
      { method: "GET", path: "/images/json", timeoutMs: ENGINE_TIMEOUTS_MS.call },
      [200],
    );
    return imageListingFrom(answer);
  }

  async *pullImage(reference: string, signal?: AbortSignal): AsyncIterable<PullEvent> {
    const response = await this.#http.open({
      method: "POST",
      path: "/images/create",
      // Without a tag the API pulls every tag of the repository.
      query: splitReference(reference),
      timeoutMs: ENGINE_TIMEOUTS_MS.pullStart,
      signal,
    });
    if (response.status !== 200) throw await this.#failure(response, `pull ${reference}`);
    const splitter = new JsonLineSplitter();
    try {
      for await (const chunk of response.body) {
        for (const value of splitter.push(chunk)) {
          const event = pullEventFrom(value);
          if (event) yield event;
        }
      }
      for (const value of splitter.end()) {
        const event = pullEventFrom(value);
        if (event) yield event;
      }
    } finally {
      response.cancel();
    }
  }

  async importImage(reference: string, tarball: AsyncIterable<Uint8Array>): Promise<string> {
    // `repo` may carry the tag (Podman ignores a separate `tag` parameter on import).
    const response = await this.#http.open({
      method: "POST",
      path: "/images/create",
      query: { fromSrc: "-", repo: reference },
      body: tarball,
      contentType: "application/x-tar",
      timeoutMs: ENGINE_TIMEOUTS_MS.import,
    });
    if (response.status !== 200) throw await this.#failure(response, `import ${reference}`);
    const text = await readText(response, MAX_IMPORT_ANSWER_BYTES, `import ${reference}`);
    const splitter = new JsonLineSplitter();
    const values = [...splitter.push(new TextEncoder().encode(text)), ...splitter.end()];
    let imageId: string | undefined;
    for (const value of values) {
      const event = pullEventFrom(value);
      if (event?.kind === "error") {
        throw new EngineError("failed", `import ${reference}: ${event.message}`);
      }
      if (event?.kind === "progress" && /^sha256:[a-f0-9]{64}$/.test(event.status)) {
        imageId = event.status;
      }
    }
    return imageId ?? (await this.#imageId(reference));
  }

  async removeImage(reference: string): Promise<void> {
    await this.#expect(
      { method: "DELETE", path: `/images/${reference}`, timeoutMs: ENGINE_TIMEOUTS_MS.call },
      [200],
    );
  }

  async #imageId(reference: string): Promise<string> {
    const answer = await this.#expect(
      { method: "GET", path: `/images/${reference}/json`, timeoutMs: ENGINE_TIMEOUTS_MS.call },
      [200],
    );
    const id = (answer as { Id?: unknown } | null)?.Id;
    if (typeof id !== "string") {
      throw new EngineError("failed", `inspect image ${reference}: no Id`);
    }
    return id;
  }

  /** Sends `request`; returns the JSON answer when the status is one of `ok`. */
  async #expect(request: EngineRequest, ok: readonly number[]): Promise<unknown> {
    const { status, value } = await this.#http.json(request);
    if (!ok.includes(status)) {
      throw engineErrorFrom(status, value, `${request.method} ${request.path}`);
    }
    return value;
  }

  async #failure(response: EngineResponse, what: string): Promise<EngineError> {
    let value: unknown = "";
    try {
      const text = await readText(response, MAX_IMPORT_ANSWER_BYTES, what);
      try {
        value = JSON.parse(text);
      } catch {
        value = text;
      }
    } catch {
      // The status alone has to do.
    }
    return engineErrorFrom(response.status, value, what);
  }
}

/** `registry/name:tag` → `fromImage` and `tag` (a digest stands in for the tag). */
export function splitReference(reference: string): { fromImage: string; tag: string } {
  const at = reference.indexOf("@");
  if (at !== -1) return { fromImage: reference.slice(0, at), tag: reference.slice(at + 1) };
  const slash = reference.lastIndexOf("/");
  const colon = reference.lastIndexOf(":");
  if (colon > slash) {
    return { fromImage: reference.slice(0, colon), tag: reference.slice(colon + 1) };
  }
  return { fromImage: reference, tag: "latest" };
}
