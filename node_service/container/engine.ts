/**
 * What the node needs from a container engine, apart from how it is spoken
 * to. The one real implementation is {@link DockerEngine} (the Docker Engine
 * API over a unix socket, served by Docker or Podman); the container service
 * depends only on this interface.
 */
import type { PortProtocol } from "../host/mod.ts";

/** Why an engine operation failed; callers branch on `kind`, people read `message`. */
export type EngineErrorKind =
  /** The socket is missing, refuses connections, or the engine did not answer in time. */
  | "unavailable"
  | "not_found"
  /** A name, port, image or volume is in use, or the object is in the wrong state. */
  | "conflict"
  /** The engine refused the request as malformed. */
  | "invalid"
  /** Anything else the engine reported. */
  | "failed";

export class EngineError extends Error {
  constructor(
    readonly kind: EngineErrorKind,
    message: string,
    /** The HTTP status the engine answered with, when it answered. */
    readonly status?: number,
  ) {
    super(message);
    this.name = "EngineError";
  }
}

export type EngineInfo = { engine: string; version: string; apiVersion: string };

/** A published port is a host port: one protocol vocabulary for both. */
export type { PortProtocol };
export type PublishedPort = { containerPort: number; protocol: PortProtocol; hostPort: number };

export type ContainerSpec = {
  /** The engine's name for the container; unique on the engine. */
  name: string;
  image: string;
  /** Replaces the image's CMD; the image's own is used when absent. */
  command?: readonly string[];
  env?: Readonly<Record<string, string>>;
  labels: Readonly<Record<string, string>>;
  /** GPU UUIDs (or indices) handed to the NVIDIA runtime; empty: no GPU request at all. */
  gpuDeviceIds: readonly string[];
  /** CPU limit in units of 1e-9 CPUs (Docker's NanoCpus). */
  nanoCpus?: number;
  memoryBytes?: number;
  ports: readonly PublishedPort[];
  /** A named volume (created beforehand) mounted read-write at `mountPath`. */
  volume?: { name: string; mountPath: string };
};

/** The engine's own word for a container's state. */
export type EngineContainerStatus =
  | "created"
  | "running"
  | "paused"
  | "restarting"
  | "removing"
  | "exited"
  | "dead"
  | "unknown";

export type ContainerDetails = {
  id: string;
  name: string;
  image: string;
  status: EngineContainerStatus;
  exitCode: number | null;
  /** Milliseconds since the epoch; null when it never started / has not finished. */
  startedAt: number | null;
  finishedAt: number | null;
  labels: Record<string, string>;
  /** Bindings the engine holds for the container (present whether or not it runs). */
  ports: PublishedPort[];
  mounts: { type: string; name: string | null; destination: string }[];
  nanoCpus: number | null;
  memoryBytes: number | null;
};

export type ContainerListing = {
  id: string;
  name: string;
  image: string;
  status: EngineContainerStatus;
  labels: Record<string, string>;
  ports: PublishedPort[];
};

/** A running container's counters now (CPU time and bytes since it started); null: not reported. */
export type EngineUsage = {
  cpuTimeNs: number | null;
  cpus: number | null;
  memoryUsedBytes: number | null;
  memoryLimitBytes: number | null;
  netRxBytes: number | null;
  netTxBytes: number | null;
  diskReadBytes: number | null;
  diskWriteBytes: number | null;
};

export type LogStream = "stdout" | "stderr";
export type LogLine = { stream: LogStream; text: string };
export type LogQuery = { from: "head" | "tail"; lines: number };
export type LogResult = { lines: LogLine[]; truncated: boolean };

export type ImageListing = {
  id: string;
  tags: string[];
  sizeBytes: number;
  /** Milliseconds since the epoch. */
  createdAt: number | null;
};

/** One line of an image pull's progress, as the engine reports it. */
export type PullEvent =
  | {
    kind: "progress";
    status: string;
    layer: string | null;
    currentBytes: number | null;
    totalBytes: number | null;
  }
  | { kind: "error"; message: string };

export interface ContainerEngine {
  /** Name and version; throws {@link EngineError} `unavailable` when the engine does not answer. */
  info(): Promise<EngineInfo>;

  createVolume(name: string, labels: Readonly<Record<string, string>>): Promise<void>;
  volumeExists(name: string): Promise<boolean>;
  /** Removes a volume; a missing one is not an error. */
  removeVolume(name: string): Promise<void>;

  /** Creates (does not start) a container; returns the engine's id for it. */
  createContainer(spec: ContainerSpec): Promise<string>;
  startContainer(id: string): Promise<void>;
  /** Unpacks a tar archive into the (created, not yet started) container at `path`. */
  putArchive(id: string, path: string, tar: Uint8Array): Promise<void>;
  /** Asks the main process to stop, and kills it after `timeoutS` seconds. */
  stopContainer(id: string, timeoutS: number): Promise<void>;
  restartContainer(id: string, timeoutS: number): Promise<void>;
  /**
   * Removes a container, killing it if it runs; its anonymous volumes go
   * with it, named ones stay. A missing container is not an error.
   */
  removeContainer(id: string): Promise<void>;
  inspectContainer(id: string): Promise<ContainerDetails>;
  /** Containers (running or not) that carry every `key=value` (or bare `key`) label given. */
  listContainers(labels: readonly string[]): Promise<ContainerListing[]>;
  /** A bounded slice of the container's output, demultiplexed into lines. */
  containerLogs(id: string, query: LogQuery): Promise<LogResult>;
  /** Its CPU, memory, network and disk counters now. */
  containerUsage(id: string): Promise<EngineUsage>;

  listImages(): Promise<ImageListing[]>;
  /** Pulls from a registry; yields progress until the pull ends (an `error` event ends it). */
  pullImage(reference: string, signal?: AbortSignal): AsyncIterable<PullEvent>;
  /** Imports a root-filesystem tarball as image `reference`; returns the image id. */
  importImage(reference: string, tarball: AsyncIterable<Uint8Array>): Promise<string>;
  /** Removes an image; refused with `conflict` while a container uses it. */
  removeImage(reference: string): Promise<void>;
}
