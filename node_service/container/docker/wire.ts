/**
 * The Docker Engine API's JSON shapes, both ways, as pure functions: the
 * create body the node sends, and the engine's answers turned into the
 * {@link ContainerEngine} types. Every answer is checked against a schema
 * first: an engine is trusted to run containers, not to send well-formed data.
 */
import { z } from "zod";
import {
  type ContainerDetails,
  type ContainerListing,
  type ContainerSpec,
  type EngineContainerStatus,
  EngineError,
  type ImageListing,
  type PortProtocol,
  type PublishedPort,
  type PullEvent,
} from "../engine.ts";

/** What `HostConfig.DeviceRequests` holds for the given GPUs: nothing at all for none. */
export function gpuDeviceRequests(deviceIds: readonly string[]): DeviceRequest[] | undefined {
  if (deviceIds.length === 0) return undefined;
  return [{ Driver: "nvidia", DeviceIDs: [...deviceIds], Capabilities: [["gpu"]] }];
}

export type DeviceRequest = {
  Driver: "nvidia";
  DeviceIDs: string[];
  /** Alternatives of capability sets; `[["gpu"]]` asks for the GPU capability. */
  Capabilities: string[][];
};

/** The body of `POST /containers/create` for `spec`. */
export function containerCreateBody(spec: ContainerSpec): Record<string, unknown> {
  const portKey = (port: PublishedPort) => `${port.containerPort}/${port.protocol}`;
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const port of spec.ports) {
    exposed[portKey(port)] = {};
    (bindings[portKey(port)] ??= []).push({ HostIp: "", HostPort: String(port.hostPort) });
  }
  const hostConfig: Record<string, unknown> = { PortBindings: bindings };
  const deviceRequests = gpuDeviceRequests(spec.gpuDeviceIds);
  if (deviceRequests) hostConfig.DeviceRequests = deviceRequests;
  if (spec.nanoCpus !== undefined) hostConfig.NanoCpus = spec.nanoCpus;
  if (spec.memoryBytes !== undefined) hostConfig.Memory = spec.memoryBytes;
  if (spec.volume) {
    hostConfig.Mounts = [
      { Type: "volume", Source: spec.volume.name, Target: spec.volume.mountPath, ReadOnly: false },
    ];
  }
  const body: Record<string, unknown> = {
    Image: spec.image,
    Labels: { ...spec.labels },
    ExposedPorts: exposed,
    HostConfig: hostConfig,
  };
  if (spec.command) body.Cmd = [...spec.command];
  if (spec.env) body.Env = Object.entries(spec.env).map(([name, value]) => `${name}=${value}`);
  return body;
}

/** Docker's `filters` query parameter for containers carrying all of `labels`. */
export function labelFilter(labels: readonly string[]): string {
  return JSON.stringify({ label: [...labels] });
}

// ---------------------------------------------------------------------------
// Errors

/**
 * Podman answers 500 where Docker answers 409 (a name in use, removing a
 * running container, a port taken): the message tells them apart.
 */
const CONFLICT_MESSAGES = [
  /already in use/i,
  /address already in use/i,
  /port is already allocated/i,
  /is (?:in use|being used)|in use by/i,
  /container state improper/i,
  /cannot remove .* (?:running|paused)/i,
  /is (?:not )?running/i,
];

/** The {@link EngineError} for a non-success answer to `what`. */
export function engineErrorFrom(status: number, value: unknown, what: string): EngineError {
  const said = engineMessage(value) || `HTTP ${status}`;
  const message = `${what}: ${said}`;
  switch (status) {
    case 400:
      return new EngineError("invalid", message, status);
    case 404:
      return new EngineError("not_found", message, status);
    case 409:
      return new EngineError("conflict", message, status);
    default:
      if (status >= 500 && CONFLICT_MESSAGES.some((pattern) => pattern.test(said))) {
        return new EngineError("conflict", message, status);
      }
      return new EngineError("failed", message, status);
  }
}

function engineMessage(value: unknown): string {
  if (typeof value === "string") return value.trim().slice(0, 1000);
  if (value && typeof value === "object" && "message" in value) {
    return String((value as { message: unknown }).message).slice(0, 1000);
  }
  return "";
}

// ---------------------------------------------------------------------------
// Answers

const Labels = z.record(z.string(), z.string()).nullish().transform((labels) => labels ?? {});
const HostBindings = z.record(
  z.string(),
  z.array(z.object({ HostIp: z.string().nullish(), HostPort: z.string().nullish() })).nullish(),
).nullish();

const InspectSchema = z.object({
  Id: z.string(),
  Name: z.string(),
  Image: z.string().nullish(),
  State: z.object({
    Status: z.string(),
    ExitCode: z.number().nullish(),
    StartedAt: z.string().nullish(),
    FinishedAt: z.string().nullish(),
  }),
  Config: z.object({ Image: z.string().nullish(), Labels }).nullish(),
  HostConfig: z.object({
    PortBindings: HostBindings,
    NanoCpus: z.number().nullish(),
    Memory: z.number().nullish(),
  }).nullish(),
  NetworkSettings: z.object({ Ports: HostBindings }).nullish(),
  Mounts: z.array(z.object({
    Type: z.string().nullish(),
    Name: z.string().nullish(),
    Destination: z.string(),
  })).nullish(),
});

/** `GET /containers/{id}/json` as {@link ContainerDetails}. */
export function containerDetailsFrom(value: unknown): ContainerDetails {
  const inspect = parseAnswer(InspectSchema, value, "container inspect");
  const live = portsFromBindings(inspect.NetworkSettings?.Ports);
  return {
    id: inspect.Id,
    name: inspect.Name.replace(/^\//, ""),
    image: inspect.Config?.Image ?? inspect.Image ?? "",
    status: engineStatus(inspect.State.Status),
    exitCode: inspect.State.ExitCode ?? null,
    startedAt: engineTime(inspect.State.StartedAt),
    finishedAt: engineTime(inspect.State.FinishedAt),
    labels: inspect.Config?.Labels ?? {},
    // Docker empties NetworkSettings.Ports while a container is stopped; the configured
    // bindings still say which host ports it holds.
    ports: live.length > 0 ? live : portsFromBindings(inspect.HostConfig?.PortBindings),
    mounts: (inspect.Mounts ?? []).map((mount) => ({
      type: mount.Type ?? "unknown",
      name: mount.Name ?? null,
      destination: mount.Destination,
    })),
    nanoCpus: positiveOrNull(inspect.HostConfig?.NanoCpus),
    memoryBytes: positiveOrNull(inspect.HostConfig?.Memory),
  };
}

const ListingSchema = z.array(z.object({
  Id: z.string(),
  Names: z.array(z.string()).nullish(),
  Image: z.string().nullish(),
  State: z.string().nullish(),
  Labels,
  Ports: z.array(z.object({
    PrivatePort: z.number(),
    PublicPort: z.number().nullish(),
    Type: z.string().nullish(),
  })).nullish(),
}));

/** `GET /containers/json` as {@link ContainerListing}s. */
export function containerListingFrom(value: unknown): ContainerListing[] {
  return parseAnswer(ListingSchema, value, "container list").map((item) => ({
    id: item.Id,
    name: (item.Names?.[0] ?? "").replace(/^\//, ""),
    image: item.Image ?? "",
    status: engineStatus(item.State ?? "unknown"),
    labels: item.Labels,
    ports: dedupePorts(
      (item.Ports ?? []).flatMap((port) =>
        // As in an inspect's bindings: only a whole, positive host port is one.
        isHostPort(port.PublicPort)
          ? [{
            containerPort: port.PrivatePort,
            protocol: protocolOf(port.Type ?? "tcp"),
            hostPort: port.PublicPort,
          }]
          : []
      ),
    ),
  }));
}

const ImagesSchema = z.array(z.object({
  Id: z.string(),
  RepoTags: z.array(z.string()).nullish(),
  Size: z.number().nullish(),
  Created: z.number().nullish(),
}));

/** `GET /images/json` as {@link ImageListing}s; Docker's `<none>:<none>` is no tag. */
export function imageListingFrom(value: unknown): ImageListing[] {
  return parseAnswer(ImagesSchema, value, "image list").map((image) => ({
    id: image.Id,
    tags: (image.RepoTags ?? []).filter((tag) => tag !== "<none>:<none>"),
    sizeBytes: image.Size ?? 0,
    createdAt: engineSeconds(image.Created),
  }));
}

const VersionSchema = z.object({
  Version: z.string(),
  ApiVersion: z.string(),
  Components: z.array(z.object({ Name: z.string() })).nullish(),
});

/** `GET /version`: the engine's name (Docker or Podman), version and API version. */
export function engineInfoFrom(
  value: unknown,
): { engine: string; version: string; apiVersion: string } {
  const version = parseAnswer(VersionSchema, value, "version");
  return {
    engine: version.Components?.[0]?.Name ?? "Docker Engine",
    version: version.Version,
    apiVersion: version.ApiVersion,
  };
}

const PullLineSchema = z.object({
  status: z.string().nullish(),
  id: z.string().nullish(),
  progressDetail: z.object({ current: z.number().nullish(), total: z.number().nullish() })
    .nullish(),
  error: z.string().nullish(),
  errorDetail: z.object({ message: z.string().nullish() }).nullish(),
});

/** One JSON line of `POST /images/create` as a {@link PullEvent}; undefined when unreadable. */
export function pullEventFrom(value: unknown): PullEvent | undefined {
  const parsed = PullLineSchema.safeParse(value);
  if (!parsed.success) return undefined;
  const line = parsed.data;
  const error = line.errorDetail?.message ?? line.error;
  if (error) return { kind: "error", message: error };
  if (!line.status) return undefined;
  return {
    kind: "progress",
    status: line.status,
    layer: line.id ?? null,
    currentBytes: line.progressDetail?.current ?? null,
    totalBytes: line.progressDetail?.total ?? null,
  };
}

/**
 * Splits a stream of concatenated JSON values (one a line, as the engine
 * writes progress) into parsed values; a line that is not JSON is skipped.
 */
export class JsonLineSplitter {
  #pending = "";
  // ignoreBOM: Deno 2.9's streaming decoder drops a U+FEFF at the start of every chunk, not only
  // the stream's first, so a chunk cut just before one inside a string would change that string.
  #decoder = new TextDecoder("utf-8", { ignoreBOM: true });

  constructor(private readonly maxLineChars = 1024 * 1024) {}

  push(chunk: Uint8Array): unknown[] {
    this.#pending += this.#decoder.decode(chunk, { stream: true });
    const lines = this.#pending.split("\n");
    this.#pending = lines.pop() ?? "";
    // A line that never ends would grow without bound: drop it.
    if (this.#pending.length > this.maxLineChars) this.#pending = "";
    return lines.flatMap(parseJsonLine);
  }

  end(): unknown[] {
    const rest = this.#pending + this.#decoder.decode();
    this.#pending = "";
    return parseJsonLine(rest);
  }
}

function parseJsonLine(line: string): unknown[] {
  const text = line.trim();
  if (text === "") return [];
  try {
    return [JSON.parse(text)];
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------
// Helpers

function parseAnswer<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new EngineError(
      "failed",
      `unexpected ${what} answer from the engine: ${issue?.path.join(".")} ${issue?.message}`,
    );
  }
  return parsed.data;
}

const STATUSES: readonly EngineContainerStatus[] = [
  "created",
  "running",
  "paused",
  "restarting",
  "removing",
  "exited",
  "dead",
];

/** The engine's status word; Podman also says `configured`/`stopped` where Docker says `created`/`exited`. */
export function engineStatus(status: string): EngineContainerStatus {
  const word = status.toLowerCase();
  if (word === "configured" || word === "initialized") return "created";
  if (word === "stopped" || word === "stopping") return "exited";
  return (STATUSES as readonly string[]).includes(word) ? word as EngineContainerStatus : "unknown";
}

/** Docker writes `0001-01-01T00:00:00Z` for "never". */
function engineTime(text: string | null | undefined): number | null {
  if (!text) return null;
  const time = Date.parse(text);
  return Number.isFinite(time) && time > 0 ? time : null;
}

/** Seconds since the epoch as milliseconds; null for none, or one no clock can show. */
function engineSeconds(seconds: number | null | undefined): number | null {
  const ms = (seconds ?? 0) * 1000;
  return Number.isFinite(ms) && ms > 0 ? ms : null;
}

function positiveOrNull(value: number | null | undefined): number | null {
  return value && value > 0 ? value : null;
}

function isHostPort(value: number | null | undefined): value is number {
  return Number.isInteger(value) && value! > 0;
}

function protocolOf(text: string): PortProtocol {
  return text.toLowerCase() === "udp" ? "udp" : "tcp";
}

function portsFromBindings(bindings: z.infer<typeof HostBindings>): PublishedPort[] {
  const ports: PublishedPort[] = [];
  for (const [key, hostBindings] of Object.entries(bindings ?? {})) {
    const match = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(key);
    if (!match) continue;
    for (const binding of hostBindings ?? []) {
      const hostPort = Number(binding.HostPort);
      if (!Number.isInteger(hostPort) || hostPort <= 0) continue;
      ports.push({
        containerPort: Number(match[1]),
        protocol: protocolOf(match[2] ?? "tcp"),
        hostPort,
      });
    }
  }
  return dedupePorts(ports);
}

/** Docker lists a binding once for IPv4 and once for IPv6. */
function dedupePorts(ports: PublishedPort[]): PublishedPort[] {
  const seen = new Set<string>();
  return ports.filter((port) => {
    const key = `${port.containerPort}/${port.protocol}:${port.hostPort}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  }).sort((a, b) => a.containerPort - b.containerPort || a.hostPort - b.hostPort);
}
