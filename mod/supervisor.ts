/**
 * Starts the workers, routes messages between them, and restarts a worker
 * that dies (uncaught error, failed start, no `ready` in time) with
 * exponential back-off, while the others go on. Requests a crashed worker had
 * not answered are failed at once with `unavailable` instead of waiting for
 * their time-out. Two running workers are linked by a direct port
 * (worker_links.ts) for their calls to each other; when one stops or dies the
 * others are told (`unlink`), and fail what they wait for from it.
 */
import type { Clock, TimerHandle } from "./clock.ts";
import type { Logger } from "./log.ts";
import {
  decodeMessage,
  type MainToWorker,
  type Party,
  RpcError,
  type RpcMessage,
  type WorkerInit,
  type WorkerName,
  type WorkerStatus,
  WorkerToMainSchema,
} from "./schemas/mod.ts";
import type { WorkerPermissions } from "./permissions.ts";

export type WorkerSpec = {
  name: WorkerName;
  url: URL;
  permissions: WorkerPermissions;
  init: WorkerInit;
};

export type BackoffPolicy = {
  initialMs: number;
  maxMs: number;
  /** A worker that ran this long before dying starts its back-off from the beginning again. */
  resetAfterMs: number;
};

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: 500,
  maxMs: 30_000,
  resetAfterMs: 60_000,
};
/** Generous: loading a worker's modules on a loaded two-core machine has taken over 20 s. */
export const WORKER_START_TIMEOUT_MS = 60_000;
export const WORKER_STOP_TIMEOUT_MS = 5_000;

export type SupervisorOptions = {
  specs: readonly WorkerSpec[];
  clock: Clock;
  log: Logger;
  /** Receives the messages addressed to the main thread. */
  deliverToMain: (message: RpcMessage) => void;
  backoff?: BackoffPolicy;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
};

/** Delay before restart attempt `attempt` (1-based) under `policy`. */
export function backoffDelay(policy: BackoffPolicy, attempt: number): number {
  return Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt - 1));
}

type Slot = {
  spec: WorkerSpec;
  status: WorkerStatus;
  worker?: Worker;
  /** Consecutive failures since the last stable run; drives the back-off. */
  failures: number;
  startedAt: number;
  timer?: TimerHandle;
  startDeadline?: TimerHandle;
  /** Requests forwarded to this worker and not yet answered: key `${from}|${id}`. */
  inflight: Map<string, { from: Party; id: string }>;
  readyWaiters: Array<() => void>;
  /** Told when the current start attempt ends, in readiness or in failure. */
  attemptWaiters: Array<() => void>;
  stoppedWaiter?: () => void;
};

export class Supervisor {
  #slots = new Map<WorkerName, Slot>();
  #clock: Clock;
  #log: Logger;
  #deliverToMain: (message: RpcMessage) => void;
  #backoff: BackoffPolicy;
  #startTimeoutMs: number;
  #stopTimeoutMs: number;
  #stopping = false;

  constructor(options: SupervisorOptions) {
    this.#clock = options.clock;
    this.#log = options.log;
    this.#deliverToMain = options.deliverToMain;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#startTimeoutMs = options.startTimeoutMs ?? WORKER_START_TIMEOUT_MS;
    this.#stopTimeoutMs = options.stopTimeoutMs ?? WORKER_STOP_TIMEOUT_MS;
    for (const spec of options.specs) {
      this.#slots.set(spec.name, {
        spec,
        status: { state: "starting", since: this.#clock.now(), restarts: 0 },
        failures: 0,
        startedAt: this.#clock.now(),
        inflight: new Map(),
        readyWaiters: [],
        attemptWaiters: [],
      });
    }
  }

  /** Starts every worker; resolves when each has reported ready or has failed once. */
  start(): Promise<void> {
    return Promise.all([...this.#slots.values()].map((slot) => {
      const attempted = new Promise<void>((resolve) => slot.attemptWaiters.push(resolve));
      this.#spawn(slot);
      return attempted;
    })).then(() => {});
  }

  /** Resolves when `name` is running (again), e.g. after a restart. */
  whenRunning(name: WorkerName): Promise<void> {
    const slot = this.#slot(name);
    if (slot.status.state === "running") return Promise.resolve();
    return new Promise((resolve) => slot.readyWaiters.push(resolve));
  }

  status(): Record<WorkerName, WorkerStatus> {
    return Object.fromEntries(
      [...this.#slots].map(([name, slot]) => [name, slot.status]),
    ) as Record<
      WorkerName,
      WorkerStatus
    >;
  }

  /** Routes a message from the main thread (or a worker) to its addressee. */
  route(message: RpcMessage): void {
    if (message.to === "main") return this.#deliverToMain(message);
    const slot = this.#slots.get(message.to);
    // A starting worker may already be waiting for answers to calls it made while starting;
    // only new requests must wait until it is running and has its handlers.
    const deliverable = slot?.worker &&
      (slot.status.state === "running" ||
        (message.kind === "response" && slot.status.state === "starting"));
    if (slot?.worker && deliverable) {
      if (message.kind === "request") {
        slot.inflight.set(`${message.from}|${message.id}`, { from: message.from, id: message.id });
      }
      slot.worker.postMessage(message satisfies MainToWorker);
      return;
    }
    if (message.kind === "request") {
      const state = slot ? slot.status.state : "unknown";
      this.#failRequest(
        message.to,
        message.from,
        message.id,
        new RpcError("unavailable", `${message.to} is ${state}`),
      );
    }
  }

  /** Asks every worker to stop, waits for each (bounded), then terminates what is left. */
  async stop(reason: string): Promise<void> {
    this.#stopping = true;
    await Promise.all([...this.#slots.values()].map((slot) => this.#stopSlot(slot, reason)));
  }

  #slot(name: WorkerName): Slot {
    const slot = this.#slots.get(name);
    if (!slot) throw new Error(`no worker named ${name}`);
    return slot;
  }

  #spawn(slot: Slot): void {
    const { spec } = slot;
    slot.timer = undefined;
    slot.startedAt = this.#clock.now();
    slot.status = { state: "starting", since: slot.startedAt, restarts: slot.status.restarts };
    let worker: Worker;
    try {
      worker = new Worker(spec.url, {
        type: "module",
        name: spec.name,
        // Deno-specific option; needs --unstable-worker-options.
        deno: { permissions: spec.permissions },
      } as WorkerOptions);
    } catch (error) {
      return this.#onFailure(slot, `cannot start: ${(error as Error).message}`);
    }
    slot.worker = worker;
    worker.onmessage = (event) => this.#onWorkerMessage(slot, worker, event.data);
    worker.onerror = (event) => {
      // Without preventDefault an uncaught error in a worker is re-thrown in the main thread.
      event.preventDefault();
      if (slot.worker === worker) this.#onFailure(slot, event.message ?? "uncaught error");
    };
    worker.onmessageerror = () =>
      this.#log.warn("a message from a worker could not be deserialised", { worker: spec.name });
    slot.startDeadline = this.#clock.setTimeout(() => {
      if (slot.worker === worker && slot.status.state === "starting") {
        this.#onFailure(slot, `no ready signal within ${this.#startTimeoutMs} ms`);
      }
    }, this.#startTimeoutMs);
    worker.postMessage({ kind: "init", init: spec.init } satisfies MainToWorker);
  }

  #onWorkerMessage(slot: Slot, worker: Worker, data: unknown): void {
    if (slot.worker !== worker) return;
    const message = decodeMessage(WorkerToMainSchema, data);
    if (!message) return this.#log.warn("dropped a malformed message", { worker: slot.spec.name });
    switch (message.kind) {
      case "ready": {
        const restarted = slot.status.restarts > 0;
        slot.status = {
          state: "running",
          since: this.#clock.now(),
          restarts: slot.status.restarts,
        };
        this.#log[restarted ? "info" : "debug"](restarted ? "worker restarted" : "worker ready", {
          worker: slot.spec.name,
          restarts: slot.status.restarts,
        });
        this.#endAttempt(slot);
        this.#linkWithOthers(slot);
        for (const waiter of slot.readyWaiters.splice(0)) waiter();
        return;
      }
      case "init_failed":
        return this.#onFailure(slot, `start failed: ${message.message}`);
      case "stopped":
        slot.stoppedWaiter?.();
        return;
      case "request":
      case "response":
        if (message.from !== slot.spec.name) {
          return this.#log.warn("dropped a message with a forged sender", {
            worker: slot.spec.name,
            claimed: message.from,
          });
        }
        if (message.kind === "response") slot.inflight.delete(`${message.to}|${message.id}`);
        return this.route(message);
    }
  }

  #onFailure(slot: Slot, reason: string): void {
    const name = slot.spec.name;
    slot.worker?.terminate();
    slot.worker = undefined;
    this.#unlinkFromOthers(name, `crashed before answering: ${reason}`);
    this.#endAttempt(slot);
    for (const { from, id } of slot.inflight.values()) {
      this.#failRequest(
        name,
        from,
        id,
        new RpcError("unavailable", `${name} crashed before answering: ${reason}`),
      );
    }
    slot.inflight.clear();
    if (this.#stopping) {
      slot.status = { state: "stopped", since: this.#clock.now(), restarts: slot.status.restarts };
      slot.stoppedWaiter?.();
      return;
    }
    const ranFor = this.#clock.now() - slot.startedAt;
    slot.failures = ranFor >= this.#backoff.resetAfterMs ? 1 : slot.failures + 1;
    const delay = backoffDelay(this.#backoff, slot.failures);
    const retryAt = this.#clock.now() + delay;
    slot.status = {
      state: "restarting",
      since: this.#clock.now(),
      restarts: slot.status.restarts + 1,
      last_error: reason,
      retry_at: retryAt,
    };
    this.#log.error("worker died; restarting", {
      worker: name,
      reason,
      delay_ms: delay,
      restarts: slot.status.restarts,
    });
    slot.timer = this.#clock.setTimeout(() => this.#spawn(slot), delay);
    // Whoever awaits start() learns the first attempt is over; whenRunning() callers keep waiting.
  }

  /** Gives `slot`'s worker and every other running one the two ends of a channel of their own. */
  #linkWithOthers(slot: Slot): void {
    for (const other of this.#slots.values()) {
      if (other === slot || !other.worker || other.status.state !== "running") continue;
      const { port1, port2 } = new MessageChannel();
      try {
        slot.worker!.postMessage(
          { kind: "link", peer: other.spec.name, port: port1 } satisfies MainToWorker,
          [port1],
        );
        other.worker.postMessage(
          { kind: "link", peer: slot.spec.name, port: port2 } satisfies MainToWorker,
          [port2],
        );
      } catch (error) {
        // Calls between the two keep going through this thread.
        this.#log.warn("could not link two workers", {
          workers: [slot.spec.name, other.spec.name],
          error: (error as Error).message,
        });
      }
    }
  }

  /** Tells every other worker that `name` is gone: calls to it go through this thread again. */
  #unlinkFromOthers(name: WorkerName, reason: string): void {
    for (const other of this.#slots.values()) {
      if (other.spec.name === name || !other.worker) continue;
      try {
        other.worker.postMessage({ kind: "unlink", peer: name, reason } satisfies MainToWorker);
      } catch {
        // That one is gone too; it has no link left to drop.
      }
    }
  }

  #endAttempt(slot: Slot): void {
    if (slot.startDeadline) this.#clock.clearTimeout(slot.startDeadline);
    slot.startDeadline = undefined;
    for (const waiter of slot.attemptWaiters.splice(0)) waiter();
  }

  #failRequest(from: Party, to: Party, id: string, error: RpcError): void {
    this.route({ kind: "response", id, from, to, outcome: { ok: false, error: error.toData() } });
  }

  async #stopSlot(slot: Slot, reason: string): Promise<void> {
    if (slot.timer) this.#clock.clearTimeout(slot.timer);
    slot.timer = undefined;
    const worker = slot.worker;
    const restarts = slot.status.restarts;
    if (!worker) {
      slot.status = { state: "stopped", since: this.#clock.now(), restarts };
      return;
    }
    slot.status = { state: "stopping", since: this.#clock.now(), restarts };
    this.#unlinkFromOthers(slot.spec.name, "is stopping");
    let deadline: TimerHandle | undefined;
    const stopped = new Promise<boolean>((resolve) => {
      slot.stoppedWaiter = () => resolve(true);
      deadline = this.#clock.setTimeout(() => resolve(false), this.#stopTimeoutMs);
    });
    worker.postMessage({ kind: "shutdown", reason } satisfies MainToWorker);
    const clean = await stopped;
    if (deadline) this.#clock.clearTimeout(deadline);
    if (!clean) {
      this.#log.warn("worker did not stop in time; terminated", { worker: slot.spec.name });
    }
    worker.terminate();
    slot.worker = undefined;
    slot.status = { state: "stopped", since: this.#clock.now(), restarts };
  }
}
