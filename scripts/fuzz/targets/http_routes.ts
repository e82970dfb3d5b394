/**
 * The HTTP API, every route, through `app.request`: the app as http/mod.ts
 * builds it (a GPU node, a seed that keeps the ledger, and one without a
 * node, as tools make it), in front of a stand-in for the rest of the node
 * that answers per the request catalogue (../http_stub.ts). Requests are the
 * routes' own with path parameters, query and body drawn valid from their
 * schemas, edited, or random; signed by a real wallet (headers or, as the
 * original's clients do, the body), signed and then edited, with a session,
 * the operator's token or nothing; addressed to this node, another, or none;
 * and now and then any method on any path, any header, a body over the limit.
 *
 * Contract: every answer is the original's JSON envelope with a status from
 * the table in http/errors.ts and the error code that goes with it (or, for
 * a success, code 0 and `data`); a server-sent event stream only where a
 * route declares one; 500 only when the node's answer was an `internal`
 * error; and no exception reaches the app's error handler unexpected (it logs
 * those: a thrown TypeError is exactly that).
 */
import fc from "fast-check";
import {
  API_ERRORS,
  type AppDeps,
  createAppWithRoutes,
  type RouteSpec,
} from "../../../http/mod.ts";
import { AUTH_HEADERS } from "../../../mod/mod.ts";
import {
  type CallContext,
  captureConsoleErrors,
  CATALOGUE_VALUES,
  recordingLogger,
  stubCall,
  withCallContext,
} from "../http_stub.ts";
import { type Json, mutatedJson, oddJson, oddString } from "../mutate.ts";
import { schemaValues } from "../schema_arbitrary.ts";
import { signRequest } from "../signing.ts";
import { expect, type FuzzTarget } from "../target.ts";
import { ed25519Wallet, sr25519Wallet } from "../wallets.ts";

const SELF = `12D3KooW${"FuzzSe1fNode".padEnd(44, "A")}`;
const OTHER = `12D3KooW${"FuzzPeerNode".padEnd(44, "B")}`;
const OPERATOR_TOKEN = "fuzz-operator-token-0123456789";
const BODY_LIMIT = 1024 * 1024;
const SUCCESS = new Set([200, 201, 202]);
const ERROR_STATUSES = new Set<number>(Object.values(API_ERRORS).map((entry) => entry.status));
const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];

type Credentials =
  | "none"
  | "wallet"
  | "wallet_in_body"
  | "edited"
  | "session"
  | "operator"
  | "bogus";

const credentials = fc.constantFrom<Credentials>(
  "wallet",
  "wallet",
  "wallet_in_body",
  "edited",
  "session",
  "operator",
  "none",
  "bogus",
);
const sessionIds = fc.oneof(
  fc.stringMatching(/^ses_[1-9A-HJ-NP-Za-km-z]{32}$/),
  oddString(40),
);
const nodeTargets = fc.constantFrom<string | undefined>(SELF, SELF, SELF, OTHER, undefined);
const headerValues = fc.string({ unit: "binary-ascii", maxLength: 60 })
  .map((text) => text.replace(/[\0\r\n]/g, ""));
const extraHeaders = fc.array(
  fc.tuple(
    fc.oneof(
      fc.constantFrom(...Object.values(AUTH_HEADERS), "x-dbc-session", "content-type"),
      fc.stringMatching(/^x-[a-z]{1,8}$/),
    ),
    headerValues,
  ),
  { maxLength: 3 },
);
const deepBody = fc.integer({ min: 100, max: 20_000 }).map((depth) =>
  "[".repeat(depth) + "]".repeat(depth)
);

type RouteValues = {
  params: fc.Arbitrary<Record<string, unknown>>;
  query: fc.Arbitrary<Record<string, unknown>>;
  body: fc.Arbitrary<Json | undefined>;
};

/** Valid, edited or random values for a schema's object. */
function objectValues(schema: RouteSpec["params"]): fc.Arbitrary<Record<string, unknown>> {
  const valid = schema
    ? schemaValues(schema, CATALOGUE_VALUES).map((value) =>
      value !== null && typeof value === "object" ? value as Record<string, unknown> : {}
    )
    : fc.constant({});
  return fc.oneof(
    { arbitrary: valid, weight: 5 },
    { arbitrary: mutatedJson(valid as fc.Arbitrary<Json>, 2).map(asRecord), weight: 3 },
    { arbitrary: fc.dictionary(oddString(10), oddString(20), { maxKeys: 3 }), weight: 1 },
  );
}

function asRecord(value: Json): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value : {};
}

function routeValues(spec: RouteSpec): RouteValues {
  const validBody = spec.body
    ? schemaValues(spec.body, CATALOGUE_VALUES) as fc.Arbitrary<Json | undefined>
    : fc.constant(undefined);
  return {
    params: objectValues(spec.params),
    query: objectValues(spec.query),
    body: fc.oneof(
      { arbitrary: validBody, weight: 6 },
      {
        arbitrary: mutatedJson(validBody.map((value) => value ?? {}) as fc.Arbitrary<Json>),
        weight: 3,
      },
      { arbitrary: oddJson(), weight: 1 },
    ),
  };
}

/*
 * Builders for `g` (fast-check's `gen`), made once: its cache keys each arbitrary by the builder
 * function and its arguments (compared deeply), so a builder made per run, or an argument that is
 * an arbitrary, would keep every run's values alive (or recurse through the arbitrary's cycles).
 */
const nodeTargetsOf = () => nodeTargets;
const credentialsOf = () => credentials;
const sessionIdsOf = () => sessionIds;
const extraHeadersOf = () => extraHeaders;
const deepBodyOf = () => deepBody;
const FITTING = {
  wallet: fc.constantFrom<Credentials>("wallet", "wallet", "wallet_in_body"),
  renter: fc.constantFrom<Credentials>("wallet", "wallet", "wallet_in_body", "session"),
  operator: fc.constant<Credentials>("operator"),
};
const fittingOf = (auth: keyof typeof FITTING) => FITTING[auth];

type App = { app: ReturnType<typeof createAppWithRoutes>["app"]; specs: readonly RouteSpec[] };

export const target: FuzzTarget<fc.GeneratorValue> = {
  name: "http.routes",
  about: "every route answers a JSON envelope with a documented status; no unexpected exception",
  property: () => {
    const base: AppDeps = { call: stubCall, log: recordingLogger, operatorToken: OPERATOR_TOKEN };
    const made = [
      createAppWithRoutes({
        ...base,
        node: { nodeId: SELF, role: "gpu", forwardTimeoutMs: 5_000, ledgerAuthority: OTHER },
        clientAddress: () => "127.0.0.1",
      }),
      createAppWithRoutes({
        ...base,
        node: { nodeId: SELF, role: "seed", forwardTimeoutMs: 5_000, ledgerAuthority: "" },
        rateLimit: { perSecond: 1e9, burst: 1e9 },
        clientAddress: () => "10.0.0.9",
      }),
      createAppWithRoutes({ call: stubCall, log: recordingLogger }),
    ];
    const apps: App[] = made.map(({ app, routes }) => ({ app, specs: routes.specs }));
    const specs = apps[0]!.specs;
    const values = specs.map(routeValues);
    const routeParams = (index: number) => values[index]!.params;
    const routeQuery = (index: number) => values[index]!.query;
    const routeBody = (index: number) => values[index]!.body;
    const wallets = [ed25519Wallet(1), ed25519Wallet(2), sr25519Wallet(1)];

    const restoreConsole = captureConsoleErrors();
    return {
      arbitrary: fc.gen(),
      dispose: restoreConsole,
      async check(g) {
        const { app } = apps[g(fc.nat, apps.length - 1)]!;
        const routeIndex = g(fc.nat, specs.length);
        const spec = specs[routeIndex];
        let method: string;
        let path: string;
        let body: Json | undefined;
        let query: Record<string, unknown> = {};
        if (spec) {
          method = g(fc.nat, 9) === 0 ? g(fc.constantFrom, ...METHODS) : spec.method.toUpperCase();
          const params = g(routeParams, routeIndex);
          const encode = g(fc.boolean);
          path = spec.path.replace(/:(\w+)/g, (_, name: string) => {
            const value = asText(params[name] ?? "x");
            // A client encodes text, and text is well-formed: a lone surrogate has no encoding.
            return encode ? encodeURIComponent(value.toWellFormed()) : value;
          });
          query = g(routeQuery, routeIndex);
          body = g(routeBody, routeIndex);
        } else {
          method = g(fc.constantFrom, ...METHODS);
          path = g(fc.boolean) ? g(fc.webPath) : `/api/v1/${g(oddString)}`;
          body = g(oddJson);
        }
        const node = g(nodeTargetsOf);
        const search = new URLSearchParams();
        for (const [key, value] of Object.entries(query)) {
          if (key !== "node_id" && value !== undefined) search.set(key, asText(value));
        }
        if (node !== undefined) search.set("node_id", node);
        let url: URL;
        try {
          url = new URL(`http://node${path}${search.size > 0 ? `?${search}` : ""}`);
        } catch {
          return; // Not a URL a client could send.
        }
        const pathAndQuery = url.pathname + url.search;
        const headers = new Headers({ "content-type": "application/json" });
        let bodyText = body === undefined || method === "GET" || method === "HEAD"
          ? undefined
          : JSON.stringify(body);
        // Mostly what the route asks for, so that requests get past the checks to the handler.
        let account: string | undefined;
        const auth = spec?.auth && g(fc.nat, 3) > 0 ? g(fittingOf, spec.auth) : g(credentialsOf);
        if (auth === "wallet" || auth === "wallet_in_body" || auth === "edited") {
          const wallet = wallets[g(fc.nat, wallets.length - 1)]!;
          const signed = await signRequest({ address: wallet.address, sign: wallet.sign }, {
            method,
            pathAndQuery,
            body: bodyText === undefined ? undefined : body,
          }, {
            where: auth === "wallet_in_body" ? "body" : "headers",
            timestampMs: Date.now(),
            nonce: `n-${crypto.randomUUID()}`,
          });
          account = wallet.address;
          for (const [name, value] of Object.entries(signed.headers)) headers.set(name, value);
          if (bodyText !== undefined) bodyText = JSON.stringify(signed.body);
          if (auth === "edited") {
            if (bodyText !== undefined && g(fc.boolean)) {
              bodyText = `${bodyText} `.replace(/}\s*$/, ',"x":1}');
            } else headers.set(AUTH_HEADERS.nonce, `edited-${g(fc.nat)}`);
          }
        } else if (auth === "session") {
          trySet(headers, "x-dbc-session", g(sessionIdsOf));
        } else if (auth === "operator") {
          headers.set("authorization", `Bearer ${OPERATOR_TOKEN}`);
        } else if (auth === "bogus") {
          trySet(headers, "authorization", `Bearer ${g(oddString)}`);
        }
        for (const [name, value] of g(extraHeadersOf)) trySet(headers, name, value);
        const oddBody = g(fc.nat, 30);
        if (oddBody === 0) bodyText = g(deepBodyOf);
        if (oddBody === 1) bodyText = "x".repeat(BODY_LIMIT + 1);
        if (oddBody === 2) bodyText = g(oddString);
        // The client goes away once it has its answer, as a real connection would.
        const client = new AbortController();
        let request: Request;
        try {
          request = new Request(url, {
            method,
            headers,
            body: method === "GET" || method === "HEAD" ? undefined : bodyText,
            // Only a GET (an event stream) is left waiting: aborting a request whose body was
            // read makes Deno cancel a locked stream, which says nothing about the app.
            ...(method === "GET" ? { signal: client.signal } : {}),
          });
        } catch {
          return; // Not a request a client could send (a method fetch refuses, say).
        }
        const remote = g(fc.nat, 9) === 0;
        const context: CallContext = {
          draw: g,
          active: true,
          internal: false,
          errors: [],
          calls: 0,
          account,
        };
        try {
          const response = await withCallContext(
            context,
            async () =>
              await app.request(request, undefined, remote ? { remoteNode: OTHER } : undefined),
          );
          const text = method === "HEAD"
            ? undefined
            : await withCallContext(context, () => readBody(response));
          expect(
            context.errors.length === 0,
            () => `the app logged an error: ${context.errors.join("; ")}`,
          );
          checkAnswer(response, text, spec, context, url);
        } finally {
          context.active = false;
          client.abort();
        }
      },
    };
  },
};

/** How long a server-sent event stream is read before the client leaves. */
const STREAM_READ_MS = 50;

/** The body as text; an event stream is read for a moment, then cancelled. */
async function readBody(response: Response): Promise<string> {
  if (!response.headers.get("content-type")?.includes("event-stream")) return await response.text();
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const until = Date.now() + STREAM_READ_MS;
  let text = "";
  for (;;) {
    const timeout = new Promise<undefined>((resolve) =>
      setTimeout(() => resolve(undefined), Math.max(0, until - Date.now()))
    );
    const next = await Promise.race([reader.read(), timeout]);
    if (!next || next.done) break;
    text += decoder.decode(next.value, { stream: true });
  }
  await reader.cancel().catch(() => {});
  return text;
}

/** A value as a client would put it in a path or query. */
function asText(value: unknown): string {
  return value !== null && typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** Sets a header unless no client could send it (Headers refuses such names and values). */
function trySet(headers: Headers, name: string, value: string): void {
  try {
    headers.set(name, value);
  } catch {
    // Not a header a client can send.
  }
}

function checkAnswer(
  response: Response,
  text: string | undefined,
  spec: RouteSpec | undefined,
  context: CallContext,
  url: URL,
): void {
  const status = response.status;
  if (response.headers.has("x-dbc-served-by")) {
    // Another node's own answer, passed on as it came: only its status is checked.
    expect(status >= 200 && status <= 599, `a forwarded answer with status ${status}`);
    return;
  }
  expect(SUCCESS.has(status) || ERROR_STATUSES.has(status), `status ${status} is not in the table`);
  expect(status !== 500 || context.internal, "500 without an internal error from the node");
  const type = response.headers.get("content-type") ?? "";
  if (type.includes("event-stream")) {
    expect(
      spec?.eventStream === true && status === 200,
      "an event stream from a route without one",
    );
    return;
  }
  if (text === undefined) return;
  if (url.pathname === "/openapi.json" && status === 200) return;
  let body: { error_code?: unknown; error_message?: unknown; data?: unknown };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`status ${status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  expect(typeof body === "object" && body !== null, "the body is not an object");
  expect(typeof body.error_code === "number", "no error_code");
  expect(typeof body.error_message === "string", "no error_message");
  if (SUCCESS.has(status)) {
    expect(body.error_code === 0 && "data" in body, `status ${status} without a success envelope`);
    return;
  }
  const entry = Object.values(API_ERRORS).find((candidate) => candidate.code === body.error_code);
  expect(entry !== undefined, `error_code ${body.error_code} is not in the table`);
  expect(entry.status === status, `error_code ${body.error_code} with status ${status}`);
}
