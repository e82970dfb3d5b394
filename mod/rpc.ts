/**
 * Request/response between parties over any one-way `send`: request ids,
 * time-outs, schema checks, and typed errors ({@link RpcError}). The same
 * class runs in the main thread and in every worker.
 *
 * Parameters are checked by the party that answers, not before they are sent
 * as well: that added nothing the types do not already say, and cost the
 * routed request path (four calls between workers, each carrying the whole
 * API request) a parse per call. Results are checked on both sides: by the
 * handler's side, so that only what the schema names leaves the worker, and
 * by the caller, which trusts no other worker's answer.
 *
 * @example
 * ```ts
 * const peer = new RpcPeer({ self: "http", send: (message) => postMessage(message), handlers: {} });
 * const status = await peer.call("node.status", {}); // typed as NodeStatus
 * ```
 */
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";
import {
  type Method,
  METHODS,
  type MethodsOf,
  type ParamsOf,
  type Party,
  type ResultOf,
  RpcError,
  type RpcMessage,
  type RpcRequest,
  type RpcResponse,
} from "./schemas/mod.ts";

export type RequestContext = { from: Party };
export type Handler<M extends Method> = (
  params: ParamsOf<M>,
  context: RequestContext,
) => ResultOf<M> | Promise<ResultOf<M>>;
/** One handler for every method party `P` answers: a missing one is a type error. */
export type Handlers<P extends Party> = { [M in MethodsOf<P>]: Handler<M> };

export type CallOptions = { timeoutMs?: number; signal?: AbortSignal };

export type RpcPeerOptions<P extends Party> = {
  self: P;
  send: (message: RpcMessage) => void;
  handlers: Handlers<P>;
  defaultTimeoutMs?: number;
  clock?: Clock;
  /** Told about handler failures that are bugs (non-RpcError throws, bad results). */
  onHandlerBug?: (method: Method, error: unknown) => void;
};

type Pending = {
  method: Method;
  /** The party that answers it. */
  to: Party;
  resolve: (value: unknown) => void;
  reject: (error: RpcError) => void;
  timer: TimerHandle;
  cleanup: () => void;
};

export const DEFAULT_RPC_TIMEOUT_MS = 30_000;

export class RpcPeer<P extends Party> {
  readonly self: P;
  #send: (message: RpcMessage) => void;
  #handlers: Handlers<P>;
  #defaultTimeoutMs: number;
  #clock: Clock;
  #onHandlerBug: (method: Method, error: unknown) => void;
  #pending = new Map<string, Pending>();
  #closed: string | undefined;
  #nextId = 1;
  #idPrefix = crypto.randomUUID().slice(0, 8);

  constructor(options: RpcPeerOptions<P>) {
    this.self = options.self;
    this.#send = options.send;
    this.#handlers = options.handlers;
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_RPC_TIMEOUT_MS;
    this.#clock = options.clock ?? systemClock;
    this.#onHandlerBug = options.onHandlerBug ?? (() => {});
  }

  /** Requests currently waiting for an answer. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Sends `method` to the party that answers it and waits for its checked result. */
  call<M extends Method>(
    method: M,
    params: ParamsOf<M>,
    options: CallOptions = {},
  ): Promise<ResultOf<M>> {
    if (this.#closed !== undefined) {
      return Promise.reject(new RpcError("shutting_down", this.#closed));
    }
    const spec = METHODS[method];
    const timeoutMs = options.timeoutMs ?? this.#defaultTimeoutMs;
    const id = `${this.#idPrefix}-${this.#nextId++}`;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      const onAbort = () => this.#settle(id, new RpcError("timeout", `${method}: cancelled`));
      const timer = this.#clock.setTimeout(
        () =>
          this.#settle(
            id,
            new RpcError("timeout", `${method}: no answer from ${spec.to} within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      options.signal?.addEventListener("abort", onAbort, { once: true });
      this.#pending.set(id, {
        method,
        to: spec.to,
        resolve: resolve as (value: unknown) => void,
        reject,
        timer,
        cleanup: () => options.signal?.removeEventListener("abort", onAbort),
      });
      if (options.signal?.aborted) return onAbort();
      try {
        this.#send({
          kind: "request",
          id,
          from: this.self,
          to: spec.to,
          method,
          params,
          timeout_ms: timeoutMs,
        });
      } catch (error) {
        this.#settle(
          id,
          new RpcError("unavailable", `${method}: cannot send: ${(error as Error).message}`),
        );
      }
    });
  }

  /** Feeds one decoded message addressed to this party. */
  receive(message: RpcMessage): void {
    if (message.kind === "request") void this.#answer(message);
    else this.#accept(message);
  }

  /** Rejects every call waiting for `party` (which stopped or died) with `error`. */
  failPendingTo(party: Party, error: RpcError): void {
    for (const [id, pending] of [...this.#pending]) {
      if (pending.to === party) this.#settle(id, error);
    }
  }

  /** Rejects every waiting call and refuses new ones. */
  close(reason: string): void {
    this.#closed = reason;
    for (const id of [...this.#pending.keys()]) {
      this.#settle(id, new RpcError("shutting_down", reason));
    }
  }

  #accept(response: RpcResponse): void {
    const pending = this.#pending.get(response.id);
    if (!pending) return; // Late answer to a call that already timed out.
    if (!response.outcome.ok) {
      return this.#settle(response.id, RpcError.fromData(response.outcome.error));
    }
    const checked = METHODS[pending.method].result.safeParse(response.outcome.result);
    if (!checked.success) {
      return this.#settle(
        response.id,
        new RpcError(
          "bad_message",
          `${pending.method}: malformed result: ${checked.error.issues[0]?.message}`,
        ),
      );
    }
    this.#settle(response.id, undefined, checked.data);
  }

  #settle(id: string, error: RpcError | undefined, value?: unknown): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    this.#clock.clearTimeout(pending.timer);
    pending.cleanup();
    if (error) pending.reject(error);
    else pending.resolve(value);
  }

  async #answer(request: RpcRequest): Promise<void> {
    const reply = (outcome: RpcResponse["outcome"]) => {
      try {
        this.#send({
          kind: "response",
          id: request.id,
          from: this.self,
          to: request.from,
          outcome,
        });
      } catch {
        // The requester is gone; its own time-out covers it.
      }
    };
    const fail = (error: RpcError) => reply({ ok: false, error: error.toData() });
    const method = request.method;
    const handler = (this.#handlers as Record<string, Handler<Method> | undefined>)[method];
    if (request.to !== this.self || !handler) {
      return fail(new RpcError("bad_message", `${this.self} does not answer ${method}`));
    }
    const spec = METHODS[method];
    const params = spec.params.safeParse(request.params);
    if (!params.success) {
      return fail(
        new RpcError(
          "invalid_params",
          `${method}: ${params.error.issues[0]?.message ?? "bad parameters"}`,
        ),
      );
    }
    try {
      const result = await handler(params.data as ParamsOf<Method>, { from: request.from });
      const checked = spec.result.safeParse(result);
      if (!checked.success) {
        this.#onHandlerBug(method, checked.error);
        return fail(new RpcError("internal", `${method}: handler returned a malformed result`));
      }
      reply({ ok: true, result: checked.data });
    } catch (error) {
      if (error instanceof RpcError) return fail(error);
      this.#onHandlerBug(method, error);
      fail(new RpcError("internal", `${method}: ${(error as Error)?.message ?? String(error)}`));
    }
  }
}
