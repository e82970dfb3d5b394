/**
 * API requests tunnelled in from other nodes (`answerRemoteRequest`,
 * http/remote.ts): what another node sends on topic `api.http` is outside
 * input twice over, the envelope (method, path, headers, body) and the API
 * request inside it. Messages are valid tunnelled requests (the routes'
 * paths, signed or not), the same with fields edited (header names and
 * values no `Headers` takes, paths that are no URL, bodies on a GET), and
 * anything else a node could send. The app behind answers as in
 * `http.routes`.
 *
 * Contract: every request gets an API response (a status the API answers
 * with and a body); nothing throws or escapes as an unhandled rejection;
 * nothing is logged as an unexpected error.
 */
import fc from "fast-check";
import { createApp } from "../../../http/mod.ts";
import { answerRemoteRequest, RemoteHttpResponseSchema } from "../../../http/remote.ts";
import { AUTH_HEADERS } from "../../../mod/mod.ts";
import {
  type CallContext,
  captureConsoleErrors,
  recordingLogger,
  stubCall,
  withCallContext,
} from "../http_stub.ts";
import { type Json, mutatedJson, oddJson, oddString } from "../mutate.ts";
import { signRequest } from "../signing.ts";
import { expect, type FuzzTarget } from "../target.ts";
import { ed25519Wallet } from "../wallets.ts";

const SELF = `12D3KooW${"FuzzSe1fNode".padEnd(44, "A")}`;
const FROM = `12D3KooW${"FuzzPeerNode".padEnd(44, "B")}`;

const paths = fc.constantFrom(
  "/api/v1/node",
  "/api/v1/tasks?node_id=" + SELF,
  "/api/v1/tasks/vm-abc/stop?node_id=" + SELF,
  "/api/v1/containers/create?node_id=" + SELF,
  "/api/v1/ledger/rentals",
  "/api/v1/operator/status",
  "/api/v1/operations/op-00000000000000000000000000000000/events?node_id=" + SELF,
);
const headerNames = fc.oneof(
  fc.constantFrom("content-type", ...Object.values(AUTH_HEADERS), "x-dbc-session", "x-dbc-dialect"),
  oddString(20),
);
const validRequests = fc.record({
  method: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE"),
  path: paths,
  headers: fc.dictionary(headerNames, fc.string({ maxLength: 40 }), { maxKeys: 3 }),
  body: fc.oneof(fc.constant(""), fc.json({ maxDepth: 2 })),
});
const bodies = fc.oneof(
  { arbitrary: validRequests as fc.Arbitrary<Json>, weight: 4 },
  { arbitrary: mutatedJson(validRequests as fc.Arbitrary<Json>), weight: 5 },
  { arbitrary: oddJson(), weight: 1 },
);

type Input = { messages: { body: Json; signed: boolean }[] };

export const target: FuzzTarget<Input> = {
  name: "http.remote",
  about: "tunnelled API requests each get one API response; nothing throws or escapes",
  property: () => {
    const app = createApp({
      call: stubCall,
      log: recordingLogger,
      node: { nodeId: SELF, role: "gpu", forwardTimeoutMs: 5_000, ledgerAuthority: FROM },
    });
    const wallet = ed25519Wallet(1);
    const restoreConsole = captureConsoleErrors();
    return {
      arbitrary: fc.record({
        messages: fc.array(
          fc.record({ body: bodies, signed: fc.boolean() }),
          { minLength: 1, maxLength: 3 },
        ),
      }),
      dispose: restoreConsole,
      async check(input) {
        const context: CallContext = {
          draw: fcDraw,
          active: true,
          internal: false,
          errors: [],
          calls: 0,
        };
        const answers: unknown[] = [];
        try {
          await withCallContext(context, async () => {
            for (const message of input.messages) {
              let body = message.body;
              if (message.signed && isRequest(body)) {
                const url = new URL(`http://remote${body.path}`);
                const signed = await signRequest({ address: wallet.address, sign: wallet.sign }, {
                  method: body.method,
                  pathAndQuery: url.pathname + url.search,
                  body: body.body === "" ? undefined : JSON.parse(body.body),
                }, {
                  where: "headers",
                  timestampMs: Date.now(),
                  nonce: `n-${crypto.randomUUID()}`,
                });
                body = { ...body, headers: { ...body.headers, ...signed.headers } };
              }
              answers.push(await answerRemoteRequest({ app }, FROM, body));
            }
          });
        } finally {
          context.active = false;
        }
        expect(context.errors.length === 0, () => `logged: ${context.errors.join("; ")}`);
        expect(answers.length === input.messages.length, "a request got no answer");
        for (const answer of answers) {
          const response = RemoteHttpResponseSchema.safeParse(answer);
          expect(
            response.success,
            () => `not an API response: ${JSON.stringify(answer).slice(0, 200)}`,
          );
          const parsed = tryJson(response.data.body);
          // JSON, or the event stream of an operation (which a tunnel passes on as text).
          const stream = /^(event|data|id):/.test(response.data.body);
          expect(
            response.data.body === "" || parsed !== undefined || stream,
            () => `status ${response.data.status} with a body that is not JSON`,
          );
        }
      },
    };
  },
};

/**
 * The app's calls draw their answers here: the tunnel target's inputs are the messages, so the
 * node behind answers every call with an error it expects (a node that cannot be reached).
 */
const fcDraw = (() => "unavailable") as unknown as fc.GeneratorValue;

type TunnelledRequest = {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
};

/** Whether `value` is a request a client could have signed (the rest is sent unsigned). */
function isRequest(value: Json): value is TunnelledRequest {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const { method, path, headers, body } = value;
  if (typeof method !== "string" || !/^[A-Z]{1,16}$/.test(method)) return false;
  if (typeof path !== "string" || !/^\/api\/v1\/[\x21-\x7e]*$/.test(path)) return false;
  if (headers === null || typeof headers !== "object" || Array.isArray(headers)) return false;
  return typeof body === "string" && (body === "" || tryJson(body) !== undefined);
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
