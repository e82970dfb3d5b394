/**
 * Containers as rentable instances: records, GPU allocation, host ports and
 * the event log around a {@link ContainerEngine}. The order of every
 * operation is chosen so that a failure (engine down, image missing, port
 * taken) leaves the records true: nothing is written before the engine is
 * known to answer, and what a failed creation had claimed is given back.
 */
import {
  type Container,
  type ContainerCreateRequest,
  type ContainerDetail,
  type ContainerEngineStatus,
  type ContainerEngineView,
  type GpuReport,
  type InstanceSummary,
  type InstanceUsage,
  type Logger,
  type PortBinding,
  RpcError,
  silentLogger,
} from "../../mod/mod.ts";
import {
  type ContainerDetails,
  type ContainerEngine,
  EngineError,
  type LogQuery,
  type LogResult,
} from "./engine.ts";
import { ContainerNotFoundError, type ContainerRecord, ContainerStore } from "./store.ts";
import type { EventLog } from "../event_log.ts";
import { GpuAllocationError, type GpuAllocator, type GpuWant } from "../gpu/mod.ts";
import {
  HostPortsUnknownError,
  pickFreePort,
  type PortKey,
  portKey,
  type PortRange,
} from "../host/mod.ts";
import { tarArchive } from "./docker/mod.ts";
import { type InstanceDriver, type InstanceEvent, nextInstanceState } from "../instances.ts";
import { type ContainerRepair, ENGINE_SETTLE_MARGIN_MS, repairContainers } from "./repair.ts";
import { RecordWaiters } from "../record_waiters.ts";

/** Labels the node puts on everything it creates in the engine. */
export const CONTAINER_LABELS = {
  instance: "dbc.instance",
  kind: "dbc.kind",
  node: "dbc.node",
} as const;

/** The container port SSH is published from. */
export const SSH_CONTAINER_PORT = 22;

export type ContainerServiceDeps = {
  engine: ContainerEngine;
  store: ContainerStore;
  gpus: GpuAllocator;
  events: EventLog;
  /** The GPU inventory now (only asked when GPUs are wanted). */
  gpuReport: () => Promise<GpuReport>;
  /** Host ports in use on the machine now (see `host/ports.ts`). */
  listeningPorts: () => Promise<Set<PortKey>>;
  /** Host ports held by other kinds of instance (VM login ports), if any. */
  otherHeldPorts?: () => Set<PortKey>;
  /** Where host ports are picked from when the renter names none. */
  hostPortRange: PortRange;
  /** Seconds a container has to exit on stop before it is killed. */
  stopTimeoutS: number;
  nodeId: string;
  /** Extra labels on every engine object (tests use one to clean up after themselves). */
  extraLabels?: Readonly<Record<string, string>>;
  newId?: () => string;
  log?: Logger;
};

export class ContainerService implements InstanceDriver {
  readonly kind = "container" as const;
  readonly #deps: ContainerServiceDeps;
  readonly #log: Logger;
  readonly #newId: () => string;
  /** One operation at a time per container: a stop racing a delete would confuse both. */
  readonly #busy = new Map<string, Promise<unknown>>();
  /** Containers this service is creating now; a record `creating` not among them was cut short. */
  readonly #creating = new Set<string>();
  /** Who waits for a create's record (the HTTP API, before it answers 202). */
  readonly #recordWaiters: RecordWaiters;
  #lastPickedPort: number | undefined;

  constructor(deps: ContainerServiceDeps) {
    this.#deps = deps;
    this.#log = deps.log ?? silentLogger;
    this.#recordWaiters = new RecordWaiters((id) => deps.store.get(id) !== undefined);
    this.#newId = deps.newId ??
      (() => `ct-${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`);
  }

  // -------------------------------------------------------------------------
  // Reading

  list(options: { includeDeleted: boolean }): Container[] {
    return this.#deps.store.list(options).map((record) => this.#view(record));
  }

  summaries(): InstanceSummary[] {
    return this.list({ includeDeleted: false });
  }

  /** The record and what the engine says about it now; the engine's word updates the state. */
  async get(id: string): Promise<ContainerDetail> {
    let record = this.#record(id);
    const engine = await this.#engineView(record);
    if (engine.state === "present") record = this.#observe(record, engine.status);
    return { ...this.#view(record), engine };
  }

  async logs(id: string, query: LogQuery): Promise<LogResult> {
    const record = this.#record(id);
    if (record.engineId === null) {
      throw new RpcError(
        "not_found",
        `container ${id} has no engine container (it is ${record.state})`,
      );
    }
    try {
      return await this.#deps.engine.containerLogs(record.engineId, query);
    } catch (error) {
      throw rpcErrorFrom(error);
    }
  }

  /** Its counters now; only a running container has any (409 otherwise). */
  async usage(id: string): Promise<InstanceUsage> {
    const record = this.#record(id);
    if (record.engineId === null || record.state !== "running") {
      throw new RpcError("conflict", `container ${id} is ${record.state}, not running`);
    }
    try {
      const usage = await this.#deps.engine.containerUsage(record.engineId);
      return {
        id,
        kind: "container",
        at: this.#deps.events.now(),
        cpu_time_ns: usage.cpuTimeNs,
        cpus: usage.cpus,
        memory_used_bytes: usage.memoryUsedBytes,
        memory_limit_bytes: usage.memoryLimitBytes,
        net_rx_bytes: usage.netRxBytes,
        net_tx_bytes: usage.netTxBytes,
        disk_read_bytes: usage.diskReadBytes,
        disk_write_bytes: usage.diskWriteBytes,
      };
    } catch (error) {
      throw rpcErrorFrom(error);
    }
  }

  async engineStatus(socket: string): Promise<ContainerEngineStatus> {
    try {
      const info = await this.#deps.engine.info();
      return {
        state: "available",
        socket,
        engine: info.engine,
        version: info.version,
        api_version: info.apiVersion,
      };
    } catch (error) {
      if (!(error instanceof EngineError)) throw error;
      return { state: "unavailable", socket, reason: error.message };
    }
  }

  // -------------------------------------------------------------------------
  // Creating

  async create(request: ContainerCreateRequest): Promise<Container> {
    const id = request.id ?? this.#newId();
    const actor = request.actor;
    if (this.#deps.store.get(id)) {
      throw new RpcError("conflict", `a container with id ${id} already exists`);
    }
    const startedAt = this.#deps.events.now();
    // Start-up repair running meanwhile must not take this create for one a restart cut short.
    this.#creating.add(id);
    try {
      return await this.#exclusive(id, () => this.#create(id, request, startedAt));
    } catch (error) {
      const rpcError = rpcErrorFrom(error);
      this.#deps.events.record({
        actor,
        action: "container.create",
        target: id,
        result: "error",
        detail: { image: request.image, error: rpcError.message },
        startedAt,
      });
      throw rpcError;
    } finally {
      this.#creating.delete(id);
      // A create refused before its record was written answers its waiters too.
      this.#recordWaiters.settle(id);
    }
  }

  /** True once the create of `id` has written its record; false when it ended without one. */
  whenRecorded(id: string): Promise<boolean> {
    return this.#recordWaiters.when(id);
  }

  /**
   * Start-up repair (repair.ts): undoes the creates a restart cut short, marks
   * records whose engine container is gone, and takes the engine's word on
   * which containers run. Throws when the engine does not answer.
   */
  reconcile(): Promise<ContainerRepair[]> {
    return repairContainers({
      ...this.#deps,
      log: this.#log,
      creating: (id) => this.#creating.has(id),
      exclusive: (id, work) => this.#exclusive(id, work),
      settleMs: this.#deps.stopTimeoutS * 1000 + ENGINE_SETTLE_MARGIN_MS,
    });
  }

  async #create(
    id: string,
    request: ContainerCreateRequest,
    startedAt: number,
  ): Promise<Container> {
    const { engine, store, gpus } = this.#deps;
    const want = gpuWant(request.gpus);
    // Asked first, so that an engine that is down fails the request before anything is written.
    const engineContainers = await engine.listContainers([]);
    const taken = await this.#takenPorts(engineContainers.flatMap((c) => c.ports));
    const ports = this.#assignPorts(request, taken);
    const inventory = wantsGpus(want) ? await this.#inventory() : [];
    const volume = request.volume
      ? { name: `dbc-${id}-data`, mountPath: request.volume.mount_path, kept: false }
      : null;

    const { record, allocations } = store.atomically(() => {
      const record = store.insert({
        id,
        name: `dbc-${id}`,
        owner: request.owner ?? request.actor,
        image: request.image,
        spec: { command: request.command, env: request.env, gpus: request.gpus },
        cpuCores: request.cpu_cores ?? null,
        memoryMib: request.memory_mib ?? null,
        volume,
        ports,
      });
      return { record, allocations: gpus.allocateGpus(id, "container", want, inventory) };
    });
    this.#recordWaiters.settle(id);

    const labels = this.#labels(id);
    let volumeCreated = false;
    try {
      if (volume) {
        await engine.createVolume(volume.name, labels);
        volumeCreated = true;
      }
      const engineId = await engine.createContainer({
        name: record.name,
        image: request.image,
        command: request.command,
        env: request.env,
        labels,
        gpuDeviceIds: allocations.map((allocation) => allocation.gpu_uuid),
        nanoCpus: request.cpu_cores === undefined ? undefined : Math.round(request.cpu_cores * 1e9),
        memoryBytes: request.memory_mib === undefined
          ? undefined
          : request.memory_mib * 1024 * 1024,
        ports: ports.map((port) => ({
          containerPort: port.container_port,
          protocol: port.protocol,
          hostPort: port.host_port,
        })),
        volume: volume ? { name: volume.name, mountPath: volume.mountPath } : undefined,
      });
      store.update(id, { engineId });
      const keys = request.ssh?.authorized_keys;
      if (keys) await engine.putArchive(engineId, "/", authorizedKeysArchive(keys));
      await engine.startContainer(engineId);
    } catch (error) {
      await this.#undoCreate(record, volumeCreated, error);
      throw error;
    }
    const created = this.#transition(this.#record(id), { type: "created" });
    this.#deps.events.record({
      actor: request.actor,
      action: "container.create",
      target: id,
      result: "ok",
      detail: {
        image: request.image,
        gpus: allocations.map((allocation) => allocation.gpu_uuid),
        ports,
        volume: volume?.name ?? null,
        ssh_keys: request.ssh?.authorized_keys?.length ?? 0,
      },
      startedAt,
    });
    this.#log.info("container created", { id, image: request.image });
    return this.#view(created);
  }

  /** Gives back what a failed creation claimed; the record stays, as `failed`, with the reason. */
  async #undoCreate(
    record: ContainerRecord,
    volumeCreated: boolean,
    cause: unknown,
  ): Promise<void> {
    const { engine, store, gpus } = this.#deps;
    const reason = cause instanceof Error ? cause.message : String(cause);
    try {
      await engine.removeContainer(record.name);
      if (volumeCreated && record.volume) await engine.removeVolume(record.volume.name);
    } catch (error) {
      // The engine may be the reason we are here; the labels let a later sweep find leftovers.
      this.#log.warn("could not clean up after a failed container creation", {
        id: record.id,
        error: (error as Error).message,
      });
    }
    store.atomically(() => {
      gpus.releaseGpus(record.id, "container");
      store.releasePorts(record.id);
      store.update(record.id, { state: "failed", lastError: reason });
    });
  }

  // -------------------------------------------------------------------------
  // Lifecycle

  start(actor: string, id: string): Promise<Container> {
    return this.#operate(actor, id, "container.start", { type: "start" }, async (record) => {
      if (record.state === "stopped") await this.#checkOwnPortsFree(record);
      await this.#deps.engine.startContainer(engineIdOf(record));
    });
  }

  stop(actor: string, id: string): Promise<Container> {
    return this.#operate(actor, id, "container.stop", { type: "stop" }, async (record) => {
      await this.#deps.engine.stopContainer(engineIdOf(record), this.#deps.stopTimeoutS);
    });
  }

  restart(actor: string, id: string): Promise<Container> {
    return this.#operate(actor, id, "container.restart", { type: "restart" }, async (record) => {
      if (record.state === "stopped") await this.#checkOwnPortsFree(record);
      await this.#deps.engine.restartContainer(engineIdOf(record), this.#deps.stopTimeoutS);
    });
  }

  expire(actor: string, id: string): Promise<Container> {
    return this.#operate(actor, id, "container.expire", { type: "expire" }, async (record) => {
      if (record.engineId !== null) {
        await this.#deps.engine.stopContainer(record.engineId, this.#deps.stopTimeoutS);
      }
    });
  }

  renew(actor: string, id: string): Promise<Container> {
    return this.#operate(actor, id, "container.renew", { type: "renew" }, async (record) => {
      await this.#checkOwnPortsFree(record);
      await this.#deps.engine.startContainer(engineIdOf(record));
    });
  }

  /** Removes the container; its volume too unless `keepVolume`. GPUs and ports are given back. */
  delete(actor: string, id: string, keepVolume: boolean): Promise<Container> {
    return this.#operate(
      actor,
      id,
      "container.delete",
      { type: "delete" },
      async (record) => {
        const { engine } = this.#deps;
        await engine.removeContainer(record.engineId ?? record.name);
        if (record.volume && !keepVolume) await engine.removeVolume(record.volume.name);
      },
      (record) => {
        this.#deps.gpus.releaseGpus(record.id, "container");
        this.#deps.store.releasePorts(record.id);
        if (record.volume && keepVolume) this.#deps.store.update(record.id, { volumeKept: true });
      },
      { keep_volume: keepVolume },
    );
  }

  remove(actor: string, id: string, options: { keepData: boolean }): Promise<Container> {
    return this.delete(actor, id, options.keepData);
  }

  /**
   * Checks that `event` is allowed, runs the engine work, then records the
   * new state (with `alsoRecord`, in one transaction). A failure of the
   * engine work leaves the state as it was, with the reason in `last_error`.
   */
  #operate(
    actor: string,
    id: string,
    action: string,
    event: InstanceEvent,
    engineWork: (record: ContainerRecord) => Promise<void>,
    alsoRecord?: (record: ContainerRecord) => void,
    detail: Record<string, unknown> = {},
  ): Promise<Container> {
    return this.#exclusive(id, async () => {
      let record: ContainerRecord | undefined;
      const startedAt = this.#deps.events.now();
      try {
        record = this.#record(id);
        const transition = nextInstanceState(record.state, event);
        if (!transition.ok) {
          throw new RpcError(
            "conflict",
            `cannot ${event.type} container ${id}: ${transition.reason}`,
          );
        }
        try {
          await engineWork(record);
        } catch (error) {
          this.#deps.store.update(id, { lastError: rpcErrorFrom(error).message });
          throw error;
        }
        const done = this.#deps.store.atomically(() => {
          alsoRecord?.(record!);
          return this.#deps.store.update(id, { state: transition.state, lastError: null });
        });
        this.#deps.events.record({ actor, action, target: id, result: "ok", detail, startedAt });
        return this.#view(done);
      } catch (error) {
        const rpcError = rpcErrorFrom(error);
        this.#deps.events.record({
          actor,
          action,
          target: id,
          result: "error",
          detail: { ...detail, error: rpcError.message },
          startedAt,
        });
        throw rpcError;
      }
    });
  }

  // -------------------------------------------------------------------------
  // Helpers

  #record(id: string): ContainerRecord {
    const record = this.#deps.store.get(id);
    if (!record) throw new RpcError("not_found", `no container ${id}`);
    return record;
  }

  #transition(record: ContainerRecord, event: InstanceEvent): ContainerRecord {
    const transition = nextInstanceState(record.state, event);
    if (!transition.ok) {
      throw new RpcError(
        "conflict",
        `cannot ${event.type} container ${record.id}: ${transition.reason}`,
      );
    }
    return this.#deps.store.update(record.id, { state: transition.state });
  }

  /** Brings the record in line with a container that stopped (or started) on its own. */
  #observe(record: ContainerRecord, status: string): ContainerRecord {
    const running = status === "running" || status === "restarting" || status === "paused";
    if (record.state === "running" && !running) {
      return this.#deps.store.update(record.id, { state: "stopped" });
    }
    if (record.state === "stopped" && running) {
      return this.#deps.store.update(record.id, { state: "running" });
    }
    return record;
  }

  async #engineView(record: ContainerRecord): Promise<ContainerEngineView> {
    if (record.engineId === null || record.state === "deleted") return { state: "missing" };
    let details: ContainerDetails;
    try {
      details = await this.#deps.engine.inspectContainer(record.engineId);
    } catch (error) {
      if (error instanceof EngineError && error.kind === "not_found") return { state: "missing" };
      if (error instanceof EngineError) return { state: "unavailable", reason: error.message };
      throw error;
    }
    return {
      state: "present",
      status: details.status,
      exit_code: details.exitCode,
      started_at: details.startedAt,
      finished_at: details.finishedAt,
      ports: details.ports.map((port) => ({
        container_port: port.containerPort,
        protocol: port.protocol,
        host_port: port.hostPort,
      })),
    };
  }

  #view(record: ContainerRecord): Container {
    return {
      id: record.id,
      kind: "container",
      owner: record.owner,
      state: record.state,
      gpus: this.#deps.gpus.heldBy(record.id, "container").map((held) => held.gpu_uuid),
      created_at: record.createdAt,
      updated_at: record.updatedAt,
      last_error: record.lastError,
      image: record.image,
      name: record.name,
      engine_id: record.engineId,
      ports: record.ports,
      cpu_cores: record.cpuCores,
      memory_mib: record.memoryMib,
      volume: record.volume
        ? {
          name: record.volume.name,
          mount_path: record.volume.mountPath,
          kept: record.volume.kept,
        }
        : null,
    };
  }

  #labels(id: string): Record<string, string> {
    return {
      ...this.#deps.extraLabels,
      [CONTAINER_LABELS.instance]: id,
      [CONTAINER_LABELS.kind]: "container",
      [CONTAINER_LABELS.node]: this.#deps.nodeId,
    };
  }

  async #inventory() {
    const report = await this.#deps.gpuReport();
    if (report.state === "error") {
      throw new RpcError("unavailable", `GPU inventory unavailable: ${report.reason}`);
    }
    return report.gpus;
  }

  /** Every host port that may not be handed out: listening now, or held by a record or the engine. */
  async #takenPorts(
    engineBindings: readonly { protocol: "tcp" | "udp"; hostPort: number }[],
  ): Promise<Set<PortKey>> {
    const taken = await this.#listening();
    for (const key of this.#deps.store.heldHostPorts()) taken.add(key);
    for (const key of this.#deps.otherHeldPorts?.() ?? []) taken.add(key);
    for (const binding of engineBindings) taken.add(portKey(binding.protocol, binding.hostPort));
    return taken;
  }

  #assignPorts(request: ContainerCreateRequest, taken: Set<PortKey>): PortBinding[] {
    const wanted = [
      ...(request.ssh
        ? [{
          container_port: SSH_CONTAINER_PORT,
          protocol: "tcp" as const,
          host_port: request.ssh.host_port,
        }]
        : []),
      ...request.ports,
    ];
    const seen = new Set<string>();
    for (const port of wanted) {
      const key = `${port.container_port}/${port.protocol}`;
      if (seen.has(key)) {
        throw new RpcError("invalid_params", `container port ${key} is published twice`);
      }
      seen.add(key);
    }
    const claimed = new Set(taken);
    const bindings: PortBinding[] = [];
    // Named host ports first, so an automatic pick never takes one a later entry names.
    for (const port of wanted) {
      if (port.host_port === undefined) continue;
      // Only the operator's range (container_host_ports): never the host's own services' ports.
      const range = this.#deps.hostPortRange;
      if (port.host_port < range.first || port.host_port > range.last) {
        throw new RpcError(
          "invalid_params",
          `host port ${port.host_port} is outside this node's container ports ${range.first}-${range.last}`,
        );
      }
      const key = portKey(port.protocol, port.host_port);
      if (claimed.has(key)) {
        throw new RpcError("conflict", `host port ${port.host_port}/${port.protocol} is in use`);
      }
      claimed.add(key);
    }
    for (const port of wanted) {
      let hostPort = port.host_port;
      if (hostPort === undefined) {
        hostPort = pickFreePort(
          this.#deps.hostPortRange,
          port.protocol,
          claimed,
          this.#lastPickedPort,
        );
        if (hostPort === undefined) {
          const { first, last } = this.#deps.hostPortRange;
          throw new RpcError("conflict", `no free host port left in ${first}-${last}`);
        }
        this.#lastPickedPort = hostPort;
        claimed.add(portKey(port.protocol, hostPort));
      }
      bindings.push({
        container_port: port.container_port,
        protocol: port.protocol,
        host_port: hostPort,
      });
    }
    return bindings;
  }

  /** A stopped container's host ports must still be free before it starts again. */
  async #checkOwnPortsFree(record: ContainerRecord): Promise<void> {
    const listening = await this.#listening();
    const busy = record.ports.filter((port) =>
      listening.has(portKey(port.protocol, port.host_port))
    );
    if (busy.length > 0) {
      throw new RpcError(
        "conflict",
        `cannot start container ${record.id}: host port(s) ${
          busy.map((port) => `${port.host_port}/${port.protocol}`).join(", ")
        } taken by another program meanwhile`,
      );
    }
  }

  /** The host's listening ports; without them the records and the engine still guard. */
  async #listening(): Promise<Set<PortKey>> {
    try {
      return await this.#deps.listeningPorts();
    } catch (error) {
      if (!(error instanceof HostPortsUnknownError)) throw error;
      this.#log.warn("host ports unchecked", { error: error.message });
      return new Set();
    }
  }

  async #exclusive<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#busy.get(id) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(work);
    const tail = run.catch(() => {});
    this.#busy.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.#busy.get(id) === tail) this.#busy.delete(id);
    }
  }
}

function engineIdOf(record: ContainerRecord): string {
  if (record.engineId === null) {
    throw new RpcError("conflict", `container ${record.id} was never created in the engine`);
  }
  return record.engineId;
}

function gpuWant(request: ContainerCreateRequest["gpus"]): GpuWant {
  return request;
}

function wantsGpus(want: GpuWant): boolean {
  if ("count" in want) return want.count > 0;
  return ("indexes" in want ? want.indexes : want.uuids).length > 0;
}

/** The typed error a caller of the node service sees for `error`. */
export function rpcErrorFrom(error: unknown): RpcError {
  if (error instanceof RpcError) return error;
  if (error instanceof EngineError) {
    switch (error.kind) {
      case "unavailable":
        return new RpcError("unavailable", `container engine unavailable: ${error.message}`);
      case "not_found":
        return new RpcError("not_found", error.message);
      case "conflict":
        return new RpcError("conflict", error.message);
      case "invalid":
        return new RpcError("invalid_params", error.message);
      case "failed":
        return new RpcError("internal", `container engine: ${error.message}`);
    }
  }
  if (error instanceof GpuAllocationError) {
    switch (error.kind) {
      case "conflict":
        return new RpcError("conflict", error.message);
      case "not_found":
        return new RpcError("not_found", error.message);
      case "invalid":
        return new RpcError("invalid_params", error.message);
    }
  }
  if (error instanceof ContainerNotFoundError) return new RpcError("not_found", error.message);
  if (error instanceof Error && /UNIQUE constraint failed: container_ports/.test(error.message)) {
    return new RpcError("conflict", "a host port was taken by another container meanwhile");
  }
  return new RpcError("internal", error instanceof Error ? error.message : String(error));
}

/**
 * root's `~/.ssh/authorized_keys` (0600 in a 0700 directory, owned by root, as sshd insists),
 * as a tar archive to unpack at `/` of the container before it starts.
 */
export function authorizedKeysArchive(keys: readonly string[]): Uint8Array {
  return tarArchive([
    { type: "dir", path: "root/.ssh", mode: 0o700 },
    {
      type: "file",
      path: "root/.ssh/authorized_keys",
      mode: 0o600,
      content: new TextEncoder().encode(keys.map((key) => `${key}\n`).join("")),
    },
  ]);
}
