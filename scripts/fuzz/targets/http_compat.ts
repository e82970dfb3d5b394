/**
 * The original node's HTTP dialect (http/compat/), every endpoint, through
 * `app.request`, in front of the same stand-in for the node as
 * `http.routes`: POSTs (and other methods) to the original's paths with ids
 * valid or odd, the common body (`peer_nodes_list`, `additional`, the
 * signature fields) valid, edited or random, signed by a real wallet over
 * the bare nonce as the original's clients sign, or not; addressed to this
 * node (its node id or chain-style machine id), another, or none.
 *
 * Contract: every answer is the original's envelope `{errcode, message}`
 * with one of the original's codes and statuses (400 and 404 from the
 * client-end, 200 for what the node decides, 429 for the rate limit, 500
 * only with errcode -1 for a node that did not answer, or -32701 from the
 * original's own stubs); a forwarded answer
 * passes as it came; no exception reaches the app unexpected (it logs those
 * and answers 500, -32701).
 */
import fc from "fast-check";
import { createCompatApp } from "../../../http/compat/mod.ts";
import { ORIGINAL_CODES } from "../../../http/compat/envelope.ts";
import {
  type CallContext,
  captureConsoleErrors,
  recordingLogger,
  stubCall,
  withCallContext,
} from "../http_stub.ts";
import { type Json, mutatedJson, oddJson, oddString } from "../mutate.ts";
import { expect, type FuzzTarget } from "../target.ts";
import { sr25519Wallet, toHex } from "../wallets.ts";

const SELF = `12D3KooW${"FuzzSe1fNode".padEnd(44, "A")}`;
const OTHER = `12D3KooW${"FuzzPeerNode".padEnd(44, "B")}`;
const MACHINE_ID = "ab".repeat(32);
const STATUSES = new Set([200, 400, 404, 429, 500]);
const CODES = new Set<number>(Object.values(ORIGINAL_CODES));

const ids = fc.oneof(
  fc.stringMatching(/^vm-[a-z0-9]{6}$/),
  fc.stringMatching(/^[a-z0-9-]{3,20}$/),
  oddString(12),
);
const paths = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      "/api/v1",
      "/api/v1/tasks",
      "/api/v1/tasks/start",
      "/api/v1/mining_nodes",
      "/api/v1/peers/active",
      "/api/v1/peers/global",
      "/api/v1/images",
      "/api/v1/stat",
      "/api/v1/config",
      "/api/v1/mining_nodes/session_id",
    ),
    weight: 3,
  },
  {
    arbitrary: fc.tuple(
      fc.constantFrom(
        "tasks",
        "tasks/start",
        "tasks/stop",
        "tasks/restart",
        "tasks/reset",
        "tasks/delete",
        "tasks/logs",
        "tasks/modify",
        "tasks/passwd",
        "snapshot",
        "snapshot/create",
        "snapshot/delete",
        "images",
        "images/download",
        "mining_nodes",
        "mining_nodes/session_id",
        "peers",
      ),
      ids,
    ).map(([prefix, id]) => `/api/v1/${prefix}/${encodeURIComponent(id.toWellFormed())}`),
    weight: 5,
  },
  { arbitrary: oddString(30).map((text) => `/api/v1/${text}`), weight: 1 },
  { arbitrary: fc.webPath(), weight: 1 },
);
const queries = fc.constantFrom("", "?flag=tail&line_num=100", "?flag=head&line_num=-1", "?x=%zz");
const peers = fc.oneof(fc.constantFrom(SELF, SELF, MACHINE_ID, OTHER, ""), oddString(20));
const additional = fc.oneof(
  fc.record({
    image_name: fc.constantFrom("ubuntu.qcow2", ""),
    cpu_cores: fc.constantFrom("4", "x", "-1"),
    mem_size: fc.constantFrom("8", "0"),
    ssh_port: fc.constantFrom("40022", "99999"),
    password: fc.string({ maxLength: 20 }),
    snapshot_name: fc.string({ maxLength: 12 }),
  }, { requiredKeys: [] }),
  fc.dictionary(oddString(10), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
);

type Input = {
  method: string;
  path: string;
  query: string;
  body: Json;
  signed: boolean;
  nonce: string;
  raw: number;
  remote: boolean;
  /** Draws the node's answers (fast-check's `gen`), so they are part of the input. */
  answers: fc.GeneratorValue;
};

export const target: FuzzTarget<Input> = {
  name: "http.compat",
  about: "every original-dialect endpoint answers {errcode, message} with the original's codes",
  property: () => {
    const app = createCompatApp({
      call: stubCall,
      log: recordingLogger,
      node: { nodeId: SELF, role: "gpu", forwardTimeoutMs: 5_000, machineId: MACHINE_ID },
    });
    const wallet = sr25519Wallet(1);
    const restoreConsole = captureConsoleErrors();
    const validBody = fc.record({
      peer_nodes_list: fc.oneof(
        { arbitrary: fc.tuple(peers), weight: 5 },
        { arbitrary: fc.array(peers, { maxLength: 2 }), weight: 1 },
      ),
      additional,
    }) as fc.Arbitrary<Json>;
    return {
      arbitrary: fc.record({
        method: fc.oneof(
          { arbitrary: fc.constant("POST"), weight: 9 },
          { arbitrary: fc.constantFrom("GET", "PUT", "DELETE"), weight: 1 },
        ),
        path: paths,
        query: queries,
        body: fc.oneof(
          { arbitrary: validBody, weight: 6 },
          { arbitrary: mutatedJson(validBody, 2), weight: 3 },
          { arbitrary: oddJson(), weight: 1 },
        ),
        signed: fc.boolean(),
        nonce: fc.stringMatching(/^[a-zA-Z0-9]{8,32}$/),
        raw: fc.nat(20),
        remote: fc.nat(9).map((n) => n === 0),
        answers: fc.gen(),
      }),
      dispose: restoreConsole,
      async check(input) {
        let body = input.body;
        if (input.signed && body !== null && typeof body === "object" && !Array.isArray(body)) {
          // As the original's clients sign: the bare nonce, sr25519, hex.
          const sign = toHex(wallet.sign(new TextEncoder().encode(input.nonce)));
          body = { ...body, wallet: wallet.address, nonce: input.nonce, sign };
        }
        let text = JSON.stringify(body);
        if (input.raw === 0) text = text.slice(0, text.length >> 1);
        if (input.raw === 1) text = "";
        let request: Request;
        try {
          request = new Request(`http://node${input.path}${input.query}`, {
            method: input.method,
            headers: { "content-type": "application/json" },
            body: input.method === "GET" ? undefined : text,
          });
        } catch {
          return; // Not a request a client could send.
        }
        const context: CallContext = {
          draw: input.answers,
          active: true,
          internal: false,
          errors: [],
          calls: 0,
          account: wallet.address,
        };
        try {
          const response = await withCallContext(
            context,
            async () =>
              await app.request(
                request,
                undefined,
                input.remote ? { remoteNode: OTHER } : undefined,
              ),
          );
          const answer = await withCallContext(context, () => response.text());
          expect(context.errors.length === 0, () => `logged: ${context.errors.join("; ")}`);
          if (response.headers.has("x-dbc-served-by")) return;
          expect(STATUSES.has(response.status), `status ${response.status}`);
          let envelope: { errcode?: unknown; message?: unknown };
          try {
            envelope = JSON.parse(answer);
          } catch {
            throw new Error(
              `status ${response.status} with a body that is not JSON: ${answer.slice(0, 200)}`,
            );
          }
          expect(typeof envelope.errcode === "number", "no errcode");
          expect("message" in envelope, "no message");
          expect(CODES.has(envelope.errcode as number), `errcode ${envelope.errcode}`);
          if (response.status === 500) {
            // A node that did not answer, or one of the original's own stubs ("Unhandled request").
            const stub = envelope.errcode === ORIGINAL_CODES.responseError &&
              envelope.message === "Unhandled request";
            expect(
              envelope.errcode === ORIGINAL_CODES.timeout || stub,
              `500 with errcode ${envelope.errcode}: ${JSON.stringify(envelope.message)}`,
            );
          }
        } finally {
          context.active = false;
        }
      },
    };
  },
};
