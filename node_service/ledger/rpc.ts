/**
 * The seeds' ledger for nodes that do not keep it, over the network topic
 * `ledger.rpc` (wire shapes in `mod/schemas/ledger_rpc.ts`):
 *
 * - {@link answerLedgerRpc} / {@link serveLedgerRpc}: a seed answers the
 *   read-only methods in `LEDGER_RPC_METHODS` with its own ledger handlers and
 *   refuses everything else (writes are wallet-signed and go to a seed's HTTP
 *   API, never through another node);
 * - {@link networkLedgerTransport}: a GPU or client node sends such a read to
 *   a seed (connected seeds first, then seeds from the address book), and
 *   tries another seed when one cannot be reached; the ledger's own answers,
 *   refusals included, are final.
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
  LEDGER_RPC_MAX_ATTEMPTS,
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
        ? `${method} is not served over the network: only the reads ${
          LEDGER_RPC_METHODS.join(", ")
        } are; writes go to a seed's HTTP API, signed by a wallet`
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
  /** Per seed; defaults to {@link LEDGER_RPC_ATTEMPT_TIMEOUT_MS}. */
  attemptTimeoutMs?: number;
  maxAttempts?: number;
  random?: () => number;
};

/**
 * Reads the ledger of a seed: connected seeds first (in random order, the one
 * that answered last before them), then seeds known from the address book.
 */
export function networkLedgerTransport(deps: TransportDeps): NetworkLedgerTransport {
  const { call, log } = deps;
  const attemptTimeoutMs = deps.attemptTimeoutMs ?? LEDGER_RPC_ATTEMPT_TIMEOUT_MS;
  const maxAttempts = deps.maxAttempts ?? LEDGER_RPC_MAX_ATTEMPTS;
  const random = deps.random ?? Math.random;
  let lastGood: string | undefined;

  const candidates = async (): Promise<string[]> => {
    const [active, known] = await Promise.all([
      call("network.peers.active", {}).then((list) => list.peers).catch(() => []),
      call("network.peers.global", {}).then((list) => list.peers).catch(() => []),
    ]);
    const linked = shuffle(
      active.filter((peer) => peer.node_type === "seed").map((peer) => peer.id),
      random,
    );
    const booked = known
      .filter((peer) => peer.node_type === "seed" && !linked.includes(peer.id))
      .sort((a, b) => Number(a.state === "unreachable") - Number(b.state === "unreachable"))
      .map((peer) => peer.id);
    const ordered = [...linked, ...booked];
    if (lastGood !== undefined && ordered.includes(lastGood)) {
      return [lastGood, ...ordered.filter((id) => id !== lastGood)];
    }
    return ordered;
  };

  return async <M extends LedgerRpcMethod>(method: M, params: ParamsOf<M>) => {
    const seeds = (await candidates()).slice(0, maxAttempts);
    if (seeds.length === 0) {
      throw new RpcError("unavailable", "no seed node is known yet, so the ledger cannot be read");
    }
    const failures: string[] = [];
    for (const seed of seeds) {
      let answer: LedgerRpcReply;
      try {
        const sent = await call("network.send", {
          to: seed,
          payload: { type: "app", topic: LEDGER_RPC_TOPIC, body: { method, params } },
          timeout_ms: attemptTimeoutMs,
        }, { timeoutMs: attemptTimeoutMs + NETWORK_CALL_MARGIN_MS });
        if (sent.reply.type !== "app") throw new Error(`answered with ${sent.reply.type}`);
        const parsed = LedgerRpcReplySchema.safeParse(sent.reply.body);
        if (!parsed.success) throw new Error("answered something that is not a ledger reply");
        answer = parsed.data;
      } catch (error) {
        failures.push(`${seed}: ${(error as Error).message}`);
        log.debug("seed did not answer a ledger read", { seed, method, error: String(error) });
        if (lastGood === seed) lastGood = undefined;
        continue;
      }
      lastGood = seed;
      if (answer.outcome === "error") throw new RpcError(answer.code, answer.message);
      const result = METHODS[method].result.safeParse(answer.result);
      if (!result.success) {
        throw new RpcError("internal", `seed ${seed} answered ${method} with a malformed result`);
      }
      return result.data as ResultOf<M>;
    }
    throw new RpcError("unavailable", `no seed answered ${method}: ${failures.join("; ")}`);
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let index = items.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [items[index], items[other]] = [items[other]!, items[index]!];
  }
  return items;
}
