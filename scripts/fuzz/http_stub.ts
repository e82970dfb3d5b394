/**
 * The rest of the node, as the HTTP app sees it through `call`: a stand-in
 * that checks parameters against the request catalogue as the real RPC does
 * (invalid ones are refused with `invalid_params`), then answers as the
 * fuzz input says: a valid result drawn from the method's result schema, or
 * any RPC error. Each request runs in its own context (AsyncLocalStorage),
 * so work a handler left running in the background calls with the context
 * of the request that started it, and is refused once that request is done.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import fc from "fast-check";
import type { AppDeps } from "../../http/mod.ts";
import {
  AccountSchema,
  encodeSs58,
  type Logger,
  type Method,
  METHODS,
  RPC_ERROR_CODES,
  RpcError,
  type RpcErrorCode,
} from "../../mod/mod.ts";
import { REMOTE_API_TOPIC } from "../../http/remote.ts";
import { type CustomValues, schemaValues } from "./schema_arbitrary.ts";
import { nodeIds } from "./wire_arbitraries.ts";

export const ss58Accounts = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((id) =>
  encodeSs58(id)
);
/** Parts of the catalogue's schemas that JSON Schema cannot describe. */
export const CATALOGUE_VALUES: CustomValues = new Map([[AccountSchema, ss58Accounts]]);

export type CallContext = {
  /** Draws values for this request (fast-check's `gen`): answers stay part of the input. */
  draw: fc.GeneratorValue;
  active: boolean;
  /** Set when an answer was an `internal` error: only then may the app answer 500. */
  internal: boolean;
  /** `log.error` lines while this request ran: an exception the app did not expect. */
  errors: string[];
  calls: number;
  /** Who asks: the signing wallet's account, or the account a session resolved to. */
  account?: string;
};

/** Fields that say who owns a thing; an answer names the asker there often, as a real node would. */
const OWNER_FIELDS = new Set(["owner", "added_by", "validator", "account", "renter"]);

const contexts = new AsyncLocalStorage<CallContext>();

/** Runs `work` with `context` as the answering context of every call it makes, now or later. */
export function withCallContext<T>(context: CallContext, work: () => Promise<T>): Promise<T> {
  return contexts.run(context, work);
}

const resultValues = new Map<Method, fc.Arbitrary<unknown>>();
function resultsOf(method: Method): fc.Arbitrary<unknown> {
  let values = resultValues.get(method);
  if (!values) {
    values = method === "network.send"
      ? remoteAnswers
      : schemaValues(METHODS[method].result, CATALOGUE_VALUES);
    resultValues.set(method, values);
  }
  return values;
}

/**
 * What another node answers to a forwarded API request: mostly an API response (any status,
 * any body, the odd ones included), sometimes an error or something else entirely.
 */
const remoteAnswers = fc.record({
  from: nodeIds,
  rtt_ms: fc.nat(1000),
  hops: fc.nat(4),
  route: fc.constantFrom("direct" as const, "relayed" as const),
  reply: fc.oneof(
    {
      arbitrary: fc.record({
        type: fc.constant("app" as const),
        topic: fc.constant(REMOTE_API_TOPIC),
        body: fc.oneof(
          fc.record({
            status: fc.oneof(
              fc.constantFrom(100, 101, 103, 200, 201, 204, 205, 304, 400, 404, 500, 599),
              fc.integer({ min: 100, max: 599 }),
            ),
            body: fc.oneof(
              fc.constant(""),
              fc.constant('{"error_code":0,"error_message":"","data":{}}'),
              fc.string({ maxLength: 40 }),
            ),
          }),
          fc.jsonValue({ maxDepth: 2 }),
        ),
      }),
      weight: 4,
    },
    {
      arbitrary: fc.record({
        type: fc.constant("node.pong" as const),
        node_id: nodeIds,
        role: fc.constantFrom("gpu" as const, "seed" as const, "client" as const),
        version: fc.string({ maxLength: 10 }),
        time: fc.nat(),
      }),
      weight: 2,
    },
    {
      arbitrary: fc.record({
        type: fc.constant("error" as const),
        code: fc.constantFrom("not_found", "timeout", "unavailable", "internal" as const),
        message: fc.string({ maxLength: 20 }),
      }),
      weight: 1,
    },
  ),
});

const answerKinds = fc.oneof(
  { arbitrary: fc.constant("result" as const), weight: 8 },
  { arbitrary: fc.constantFrom(...RPC_ERROR_CODES), weight: 2 },
);

// fast-check's `gen` caches each builder's arbitraries by the function and its arguments (compared
// deeply): builders must be functions made once, taking plain values, or the cache keeps every run.
const answerKindsOf = () => answerKinds;
const ownsOf = () => fc.boolean();

/** `value` with every owner field set to `account`. */
function ownedBy(value: unknown, account: string): unknown {
  if (Array.isArray(value)) return value.map((item) => ownedBy(item, account));
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [
      key,
      OWNER_FIELDS.has(key) && typeof item === "string" ? account : ownedBy(item, account),
    ]),
  );
}

/** The `call` of the app under test. */
export const stubCall = ((method: Method, params: unknown) => {
  const context = contexts.getStore();
  if (!context?.active) {
    return Promise.reject(new RpcError("unavailable", `${method}: the fuzzed request is over`));
  }
  context.calls++;
  const checked = METHODS[method].params.safeParse(params);
  if (!checked.success) {
    return Promise.reject(
      new RpcError("invalid_params", `${method}: ${checked.error.issues[0]?.message}`),
    );
  }
  const kind = context.draw(answerKindsOf);
  if (kind !== "result") {
    if (kind === "internal") context.internal = true;
    return Promise.reject(new RpcError(kind as RpcErrorCode, `${method}: fuzzed ${kind}`));
  }
  const value = context.draw(resultsOf, method);
  if (value === undefined) {
    return Promise.reject(new RpcError("unavailable", `${method}: no valid result drawn`));
  }
  if (method === "session.resolve") context.account = (value as { account: string }).account;
  const answer = context.account && context.draw(ownsOf) ? ownedBy(value, context.account) : value;
  // The real RPC checks results too: an owner swapped in must still fit the schema.
  const result = METHODS[method].result.safeParse(answer);
  return Promise.resolve(result.success ? result.data : value);
}) as AppDeps["call"];

/**
 * What reaches `console.error` while a request runs (hono prints what a stream's handler threw
 * there) is kept with that request's errors, not printed.
 */
export function captureConsoleErrors(): () => void {
  const original = console.error;
  console.error = (...data: unknown[]) => {
    const context = contexts.getStore();
    if (!context) return original(...data);
    context.errors.push(`console.error: ${data.map((item) => String(item)).join(" ")}`);
  };
  return () => (console.error = original);
}

/** A logger that keeps the errors of the request they happen in. */
export const recordingLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: (message, fields) => {
    contexts.getStore()?.errors.push(`${message} ${JSON.stringify(fields ?? {})}`);
  },
  child: () => recordingLogger,
};
