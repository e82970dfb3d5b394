/**
 * Long operations (creating a VM or a container) answer at once with an
 * operation id; the work goes on here, and its progress can be read
 * (`GET /api/v1/operations/:id`) or followed as server-sent events. An
 * operation id is a random 128-bit capability: it shows states and the
 * instance id, never login details, so reading it needs no signature.
 *
 * Operations live in the HTTP worker's memory, bounded; the instance records
 * themselves are in the node service's database, so a restart loses only the
 * progress view of operations under way, never an instance.
 */
import { z } from "zod";

export const OPERATION_STATES = ["running", "done", "failed"] as const;

export const OperationProgressSchema = z.object({
  phase: z.string(),
  done_bytes: z.number().int().nonnegative(),
  total_bytes: z.number().int().nonnegative().nullable(),
});
export type OperationProgress = z.infer<typeof OperationProgressSchema>;

export const OperationSchema = z.object({
  operation_id: z.string(),
  kind: z.string(),
  /** The instance the operation is about. */
  target: z.string(),
  node_id: z.string(),
  state: z.enum(OPERATION_STATES),
  started_at: z.number(),
  updated_at: z.number(),
  events: z.array(
    z.object({ at: z.number(), state: z.enum(OPERATION_STATES), message: z.string() }),
  ),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  /** How far a transfer has come (image downloads and uploads); absent for other operations. */
  progress: OperationProgressSchema.optional(),
});
export type Operation = z.infer<typeof OperationSchema>;

/** Operations remembered at once; the oldest finished ones are forgotten first. */
const MAX_OPERATIONS = 1_000;

export class Operations {
  #operations = new Map<string, Operation>();
  #listeners = new Map<string, Set<(operation: Operation) => void>>();

  constructor(private readonly nodeId: string, private readonly now: () => number = Date.now) {}

  /** Starts `work` in the background and returns the operation that reports on it. */
  start(
    kind: string,
    target: string,
    work: (report: (progress: OperationProgress) => void) => Promise<unknown>,
  ): Operation {
    const at = this.now();
    const operation: Operation = {
      operation_id: `op-${crypto.randomUUID().replaceAll("-", "")}`,
      kind,
      target,
      node_id: this.nodeId,
      state: "running",
      started_at: at,
      updated_at: at,
      events: [{ at, state: "running", message: `${kind} ${target} started` }],
      error: null,
    };
    this.#operations.set(operation.operation_id, operation);
    this.#evict();
    const report = (progress: OperationProgress) => {
      if (operation.state !== "running") return;
      // Unchanged progress is no news: the event stream stays quiet.
      if (JSON.stringify(operation.progress) === JSON.stringify(progress)) return;
      operation.progress = progress;
      operation.updated_at = this.now();
      this.#notify(operation);
    };
    work(report).then(
      () => this.#finish(operation, "done", `${kind} ${target} finished`, null),
      (error: { code?: string; message?: string }) =>
        this.#finish(operation, "failed", `${kind} ${target} failed: ${error?.message}`, {
          code: error?.code ?? "internal",
          message: error?.message ?? String(error),
        }),
    );
    return structuredClone(operation);
  }

  get(id: string): Operation | undefined {
    const operation = this.#operations.get(id);
    return operation && structuredClone(operation);
  }

  /** Calls `listener` on every change of operation `id`; returns the function that stops it. */
  watch(id: string, listener: (operation: Operation) => void): () => void {
    const listeners = this.#listeners.get(id) ?? new Set();
    listeners.add(listener);
    this.#listeners.set(id, listeners);
    return () => listeners.delete(listener);
  }

  #finish(
    operation: Operation,
    state: "done" | "failed",
    message: string,
    error: Operation["error"],
  ): void {
    operation.state = state;
    operation.updated_at = this.now();
    operation.events.push({ at: operation.updated_at, state, message });
    operation.error = error;
    this.#notify(operation);
    this.#listeners.delete(operation.operation_id);
  }

  #notify(operation: Operation): void {
    for (const listener of this.#listeners.get(operation.operation_id) ?? []) {
      listener(structuredClone(operation));
    }
  }

  #evict(): void {
    if (this.#operations.size <= MAX_OPERATIONS) return;
    for (const [id, operation] of this.#operations) {
      if (this.#operations.size <= MAX_OPERATIONS) break;
      if (operation.state !== "running") this.#operations.delete(id);
    }
  }
}
