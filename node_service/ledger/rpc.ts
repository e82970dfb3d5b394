/**
 * The seeds' ledger for nodes that do not keep it, over the network topic
 * `ledger.rpc` (wire shapes in `mod/schemas/ledger_rpc.ts`):
 *
 * - {@link answerLedgerRpc} / {@link serveLedgerRpc}: a seed answers the
 *   read-only methods in `LEDGER_RPC_METHODS` with its own ledger handlers and
 *   refuses everything else (writes are wallet-signed and go to a seed's HTTP
 *   API, never through another node);
 * - {@link networkLedgerTransport}: every node that does not keep the ledger
 *   sends such a read to the ledger authority (`ledger_authority`) only, and
 *   believes only its answer; the ledger's own answers, refusals included,
 *   are final, anything else counts as "unavailable".
 */
import {
  type Clock,
  LEDGER_RPC_METHODS,
  LEDGER_RPC_TOPIC,
  type LedgerRpcMethod,
  type LedgerRpcReply,
  LedgerRpcReplySchema,
  LedgerRpcRequestSchema,
  type Logger,
  METHODS,
  NETWORK_ERROR_CODES,
  type NetworkErrorCode,
  type ParamsOf,
  type ResultOf,
  RpcError,
} from "../../mod/mod.ts";
import type { LedgerHandlers } from "./handlers.ts";
import {
  LEDGER_RPC_ATTEMPT_TIMEOUT_MS,
  MAX_LEDGER_RPC_REPLY_BYTES,
  NETWORK_CALL_MARGIN_MS,
} from "./constants.ts";
import {
  type RunningSubscription,
  runSubscription,
  type WorkerCall,
} from "../network_subscription.ts";

const SERVED = new Set<string>(LEDGER_RPC_METHODS);

/** Whether `method` is one a seed answers over the network. */
export function isServedLedgerMethod(method: string): method is LedgerRpcMethod {
  return SERVED.has(method);
}

/** The ledger's answer to one `ledger.rpc` request body, refusals included. */
export async function answerLedgerRpc(
  body: unknown,
  handlers: Pick<LedgerHandlers, LedgerRpcMethod>,
): Promise<LedgerRpcReply> {
  const request = LedgerRpcRequestSchema.safeParse(body);
  if (!request.success) {
    return refusal("invalid_params", "expected { method, params }");
  }
  const { method } = request.data;
  if (!isServedLedgerMethod(method)) {
    return refusal(
      "forbidden",
      method in METHODS && method.startsWith("ledger.")
        ? `${method} is not served over the network: only ${
          LEDGER_RPC_METHODS.join(", ")
        } are; wallet-signed writes go to the ledger authority's HTTP API`
        : `${method} is not a ledger read this node serves`,
    );
  }
  const spec = METHODS[method];
  const params = spec.params.safeParse(request.data.params);
  if (!params.success) {
    const issue = params.error.issues[0];
    return refusal(
      "invalid_params",
      `${method}: ${issue?.path.join(".") || "(whole)"}: ${issue?.message ?? "bad parameters"}`,
    );
  }
  try {
    const handler = handlers[method] as (params: unknown, context: { from: "network" }) => unknown;
    const result = spec.result.parse(await handler(params.data, { from: "network" }));
    // Through JSON once, so that what travels is exactly what was checked.
    const text = JSON.stringify(result);
    const bytes = new TextEncoder().encode(text).length;
    if (bytes > MAX_LEDGER_RPC_REPLY_BYTES) {
      return refusal(
        "invalid_params",
        `${method}: the answer is ${bytes} bytes, more than the ${MAX_LEDGER_RPC_REPLY_BYTES} a reply may carry; narrow the query (status, owner)`,
      );
    }
    return { outcome: "ok", result: JSON.parse(text) };
  } catch (error) {
    if (error instanceof RpcError) return refusal(networkCode(error.code), error.message);
    return refusal("internal", `${method} failed: ${(error as Error)?.message ?? String(error)}`);
  }
}

function refusal(code: NetworkErrorCode, message: string): LedgerRpcReply {
  return { outcome: "error", code, message: message.slice(0, 1_000) };
}

function networkCode(code: string): NetworkErrorCode {
  return (NETWORK_ERROR_CODES as readonly string[]).includes(code)
    ? code as NetworkErrorCode
    : "internal";
}

export type LedgerServerDeps = {
  call: WorkerCall;
  clock: Clock;
  log: Logger;
  handlers: Pick<LedgerHandlers, LedgerRpcMethod>;
};

/** On a seed: answers `ledger.rpc` requests from other nodes until stopped. */
export function serveLedgerRpc(deps: LedgerServerDeps): RunningSubscription {
  const { call, log } = deps;
  return runSubscription({
    call,
    clock: deps.clock,
    log,
    topics: [LEDGER_RPC_TOPIC],
    kinds: ["request"],
    onMessage: (message) => {
      if (message.kind !== "request") return;
      void answerLedgerRpc(message.body, deps.handlers).then(async (reply) => {
        if (reply.outcome === "error") {
          log.debug("ledger read refused", { from: message.from, code: reply.code });
        }
        await call("network.reply", {
          request_id: message.request_id,
          reply: { ok: true, body: reply },
        });
      }).catch((error) =>
        log.warn("could not answer a ledger read", { from: message.from, error: String(error) })
      );
    },
  });
}

/** A ledger read through the network; the `call` shape limited to the served methods. */
export type NetworkLedgerTransport = <M extends LedgerRpcMethod>(
  method: M,
  params: ParamsOf<M>,
) => Promise<ResultOf<M>>;

export type TransportDeps = {
  call: WorkerCall;
  log: Logger;
  /**
   * The node that keeps the ledger (`ledger_authority`): the only one asked,
   * the only one believed. `undefined`: none is known, and every read is
   * refused with `unsetReason`.
   */
  authority: string | undefined;
  unsetReason?: string;
  /** Defaults to {@link LEDGER_RPC_ATTEMPT_TIMEOUT_MS}. */
  attemptTimeoutMs?: number;
};

/**
 * Reads the ledger of the authority, through a request sealed to its id.
 * Whatever does not come from the authority is no answer: the read fails
 * with `unavailable` (the lease loop then changes nothing). Any other node
 * that calls itself a seed is never asked.
 */
export function networkLedgerTransport(deps: TransportDeps): NetworkLedgerTransport {
  const { call, log, authority } = deps;
  const attemptTimeoutMs = deps.attemptTimeoutMs ?? LEDGER_RPC_ATTEMPT_TIMEOUT_MS;

  return async <M extends LedgerRpcMethod>(method: M, params: ParamsOf<M>) => {
    if (authority === undefined) {
      throw new RpcError(
        "unavailable",
        `cannot read the ledger: ${deps.unsetReason ?? "no ledger authority is configured"}`,
      );
    }
    let answer: LedgerRpcReply;
    try {
      const sent = await call("network.send", {
        to: authority,
        payload: { type: "app", topic: LEDGER_RPC_TOPIC, body: { method, params } },
        timeout_ms: attemptTimeoutMs,
      }, { timeoutMs: attemptTimeoutMs + NETWORK_CALL_MARGIN_MS });
      // The network opens a sealed reply only from the node it was sent to; this keeps it so.
      if (sent.from !== authority) {
        throw new Error(`the answer came from ${sent.from}, not from the ledger authority`);
      }
      if (sent.reply.type !== "app") throw new Error(`answered with ${sent.reply.type}`);
      const parsed = LedgerRpcReplySchema.safeParse(sent.reply.body);
      if (!parsed.success) throw new Error("answered something that is not a ledger reply");
      answer = parsed.data;
    } catch (error) {
      log.debug("the ledger authority did not answer a ledger read", {
        authority,
        method,
        error: String(error),
      });
      throw new RpcError(
        "unavailable",
        `the ledger authority ${authority} did not answer ${method}: ${(error as Error).message}`,
      );
    }
    if (answer.outcome === "error") throw new RpcError(answer.code, answer.message);
    const result = METHODS[method].result.safeParse(answer.result);
    if (!result.success) {
      throw new RpcError(
        "internal",
        `the ledger authority ${authority} answered ${method} with a malformed result`,
      );
    }
    return result.data as ResultOf<M>;
  };
}
