/**
 * Signed requests, checked as the HTTP API checks them: requests signed by
 * real wallets (one, or a multisig account of several) with the fields in
 * headers or in the body, then edited after signing (method, path, body,
 * time, nonce, account, a signature, a signer added or dropped), and
 * headers and bodies of any shape. Contract: reading the fields
 * (`authFieldsFromHeaders`, `authFieldsFromBody`) and `verifyRequestAuth`
 * never throw; a request as signed, within the time window, is accepted for
 * the signing account, once (played again it is refused as replayed); no
 * edited request is accepted.
 */
import fc from "fast-check";
import {
  AUTH_BODY_FIELDS,
  AUTH_HEADERS,
  authFieldsFromBody,
  authFieldsFromHeaders,
  newReplayGuards,
  verifyRequestAuth,
  type WalletAuthConfig,
} from "../../../mod/mod.ts";
import { type Json, mutatedJson, oddJson, oddString } from "../mutate.ts";
import { signerOf, type SigningPlan, signRequest } from "../signing.ts";
import { expect, type FuzzTarget } from "../target.ts";
import { ed25519Wallet, type FuzzWallet, sr25519Wallet } from "../wallets.ts";

const NOW = 1_767_225_600_000;
const CONFIG: WalletAuthConfig = { timestampWindowMs: 300_000, allowLegacyNonce: false };
const EDITS = [
  "none",
  "method",
  "path",
  "body",
  "timestamp",
  "nonce",
  "wallet",
  "signature",
  "drop_signer",
] as const;
type Edit = typeof EDITS[number];

type Input = {
  method: string;
  path: string;
  body: Json | undefined;
  plan: SigningPlan;
  edit: Edit;
  skewMs: number;
  legacy: boolean;
  randomHeaders: [string, string][];
  randomBody: Json;
};

const headerNames = fc.oneof(
  fc.constantFrom(...Object.values(AUTH_HEADERS)),
  fc.stringMatching(/^x-dbc-[a-z-]{1,12}$/),
);
// Header values are byte strings without NUL, CR or LF (anything else is refused by Headers).
const headerValues = fc.string({ unit: "binary-ascii", maxLength: 80 })
  .map((text) => text.replace(/[\0\r\n]/g, ""));
const validBodies = fc.oneof(
  fc.constant(undefined),
  fc.record({ machine_id: fc.string({ maxLength: 20 }), count: fc.nat(100) }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
) as fc.Arbitrary<Json | undefined>;

const inputs: fc.Arbitrary<Input> = fc.record({
  method: fc.constantFrom("GET", "POST", "post", "DELETE"),
  path: fc.oneof(
    fc.constantFrom("/api/v1/ledger/rentals", "/api/v1/tasks?node_id=x", "/api/v1/a%20b?x=1&y="),
    fc.webPath().map((path) => `/api/v1${path}`),
  ),
  body: validBodies,
  plan: fc.record({
    signers: fc.array(fc.nat(5), { minLength: 1, maxLength: 3 }),
    signatories: fc.oneof(fc.constant([]), fc.array(fc.nat(5), { minLength: 2, maxLength: 4 })),
    threshold: fc.integer({ min: 1, max: 3 }),
    where: fc.constantFrom("headers" as const, "body" as const),
    timestampMs: fc.constant(NOW),
    nonce: fc.stringMatching(/^[\x21-\x7e]{1,40}$/),
  }).map((plan) => ({
    ...plan,
    signatories: plan.signatories.length ? [...plan.signers, ...plan.signatories] : [],
  })),
  edit: fc.constantFrom(...EDITS, "none", "none"),
  skewMs: fc.oneof(
    fc.integer({ min: -1000, max: 1000 }),
    fc.integer({ min: -600_000, max: 600_000 }),
  ),
  legacy: fc.boolean(),
  randomHeaders: fc.array(fc.tuple(headerNames, headerValues), { maxLength: 6 }),
  randomBody: fc.oneof(
    oddJson(),
    mutatedJson(
      fc.record({
        wallet: oddString(60),
        nonce: oddString(20),
        sign: fc.string({ maxLength: 140 }),
        timestamp: fc.oneof(fc.nat(), oddString()),
        multisig_accounts: fc.record({
          wallets: fc.array(oddString(50), { maxLength: 3 }),
          threshold: fc.nat(4),
          signs: fc.array(fc.record({ wallet: oddString(50), sign: oddString(130) }), {
            maxLength: 3,
          }),
        }),
      }) as fc.Arbitrary<Json>,
    ),
  ),
});

export const target: FuzzTarget<Input> = {
  name: "wallet.request_auth",
  about:
    "signed-request parsing never throws; a request is accepted as signed, once, and never edited",
  property: () => {
    const wallets: FuzzWallet[] = [
      ed25519Wallet(1),
      ed25519Wallet(2),
      ed25519Wallet(3),
      sr25519Wallet(1),
      ed25519Wallet(4),
      ed25519Wallet(5),
    ];
    const other = (address: string) => wallets.find((wallet) => wallet.address !== address)!;
    return {
      arbitrary: inputs,
      async check(input) {
        const guards = newReplayGuards(CONFIG.timestampWindowMs);
        const config = { ...CONFIG, allowLegacyNonce: input.legacy };

        // Anything at all in the headers and the body: fields or a refusal, never a throw.
        const headers = new Headers();
        for (const [name, value] of input.randomHeaders) headers.append(name, value);
        const noise = authFieldsFromHeaders(headers) ?? authFieldsFromBody(input.randomBody);
        const anyOutcome = await verifyRequestAuth({
          request: { method: input.method, pathAndQuery: input.path, body: input.randomBody },
          fields: noise,
          now: NOW,
          guards,
          config,
        });
        if (anyOutcome.ok) expect(noise?.ok, "accepted without well-formed fields");

        const signer = signerOf(wallets, input.plan);
        if (!signer) return;
        const signed = await signRequest(signer, {
          method: input.method.toUpperCase(),
          pathAndQuery: input.path,
          body: input.body,
        }, input.plan);
        const sent = { ...signed, headers: { ...signed.headers } };
        const body = sent.body as Record<string, unknown> | undefined;
        const fieldsIn = Object.keys(sent.headers).length > 0 ? "headers" : "body";
        const setField = (header: string, field: string, value: unknown) => {
          if (fieldsIn === "headers") sent.headers[header] = String(value);
          else body![field] = value;
        };
        switch (input.edit) {
          case "method":
            sent.method = sent.method === "GET" ? "POST" : "GET";
            break;
          case "path":
            sent.pathAndQuery = `${sent.pathAndQuery}x`;
            break;
          case "body":
            sent.body = body === undefined
              ? { extra: 1 }
              : { ...body, extra: (body.extra as number | undefined ?? 0) + 1 };
            break;
          case "timestamp":
            setField(AUTH_HEADERS.timestamp, "timestamp", input.plan.timestampMs + 1);
            break;
          case "nonce":
            setField(AUTH_HEADERS.nonce, "nonce", `${input.plan.nonce}x`);
            break;
          case "wallet":
            if ("signers" in signer) return;
            setField(AUTH_HEADERS.wallet, "wallet", other(signer.address).address);
            break;
          case "signature":
            if ("signers" in signer) return;
            if (fieldsIn === "headers") {
              sent.headers[AUTH_HEADERS.sign] = flipLastHex(sent.headers[AUTH_HEADERS.sign]!);
            } else body!.sign = flipLastHex(body!.sign as string);
            break;
          case "drop_signer":
            if (!("signers" in signer) || signer.signers.length > signer.threshold) return;
            if (fieldsIn === "headers") {
              const signs = sent.headers[AUTH_HEADERS.multisigSigns]!.split(",");
              sent.headers[AUTH_HEADERS.multisigSigns] = signs.slice(1).join(",");
            } else body!.multisig_signs = (body!.multisig_signs as unknown[]).slice(1);
            break;
        }
        const read = () =>
          authFieldsFromHeaders(new Headers(sent.headers)) ?? authFieldsFromBody(sent.body);
        const verify = () =>
          verifyRequestAuth({
            request: { method: sent.method, pathAndQuery: sent.pathAndQuery, body: sent.body },
            fields: read(),
            now: NOW + input.skewMs,
            guards,
            config,
          });
        const outcome = await verify();
        const fresh = Math.abs(input.skewMs) <= CONFIG.timestampWindowMs;
        const enough = !("signers" in signer) || signer.signers.length >= signer.threshold;
        const edited = input.edit !== "none";
        if (edited || !fresh || !enough) {
          expect(
            !outcome.ok,
            () => `accepted: edited ${input.edit}, fresh ${fresh}, enough ${enough}`,
          );
          return;
        }
        expect(
          outcome.ok,
          () => `refused as signed: ${!outcome.ok && `${outcome.reason}: ${outcome.message}`}`,
        );
        expect(outcome.account === signer.address, "accepted for another account");
        const replay = await verify();
        expect(!replay.ok && replay.reason === "replayed", "a replayed request was not refused");
        expect(
          body === undefined || AUTH_BODY_FIELDS.some((field) => field in body) ||
            fieldsIn === "headers",
          "the fields travelled nowhere",
        );
      },
    };
  },
};

function flipLastHex(hex: string): string {
  const last = hex.at(-1)!;
  return hex.slice(0, -1) + (last === "0" ? "1" : "0");
}
