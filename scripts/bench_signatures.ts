/**
 * Wallet signature verifications per second, as the node checks them:
 *
 * - sr25519 with @scure/sr25519 (what the node uses), and with
 *   @polkadot/util-crypto's WebAssembly build for comparison;
 * - ed25519 with WebCrypto (what the node uses) and with noble (the reference);
 * - a whole signed request through `verifyRequestAuth` (canonical message,
 *   body digest, SS58 decoding, replay guard): an sr25519 and an ed25519
 *   wallet, both signing the `<Bytes>`-wrapped message as browser extensions
 *   do and neither naming its scheme (the worst and the usual case).
 *
 * Each measure runs `--count` verifications, `--runs` times, interleaved with
 * the others so drift on a shared machine hits them alike; the median rate is
 * printed with the spread (min-max) and ratios.
 *
 * Usage: deno run -A scripts/bench_signatures.ts [--runs 7] [--count 400]
 */
import { parseArgs } from "node:util";
import { Keyring } from "@polkadot/keyring";
import { u8aToHex, u8aWrapBytes } from "@polkadot/util";
import { cryptoWaitReady, sr25519Verify } from "@polkadot/util-crypto";
import * as sr25519 from "@scure/sr25519";
import { ed25519 } from "@noble/curves/ed25519.js";
import {
  authFieldsFromHeaders,
  canonicalRequestMessage,
  newReplayGuards,
  verifyRequestAuth,
  verifyWalletSignature,
} from "../mod/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "7" }, count: { type: "string", default: "400" } },
});
const runs = Number(values.runs);
const count = Number(values.count);

await cryptoWaitReady();
const srPair = new Keyring({ type: "sr25519" }).addFromUri("//Alice");
const edPair = new Keyring({ type: "ed25519" }).addFromUri("//Alice");
const message = new Uint8Array(200).map((_, index) => index);
const srSignature = srPair.sign(message);
const edSignature = edPair.sign(message);
const edKey = await crypto.subtle.importKey(
  "raw",
  new Uint8Array(edPair.publicKey),
  "Ed25519",
  false,
  [
    "verify",
  ],
);

const now = Date.now();
const path = "/api/v1/ledger/rentals";
const body = { machine_id: "12D3KooWBench", unit: "hour", count: 3 };
let nonce = 0;
function signedHeaders(pair: typeof srPair): Headers {
  const thisNonce = `bench-${nonce++}`;
  const text = canonicalRequestMessage({
    method: "POST",
    pathAndQuery: path,
    account: pair.address,
    body,
    timestampMs: now,
    nonce: thisNonce,
  });
  return new Headers({
    "x-dbc-wallet": pair.address,
    "x-dbc-nonce": thisNonce,
    "x-dbc-timestamp": String(now),
    "x-dbc-sign": u8aToHex(pair.sign(u8aWrapBytes(new TextEncoder().encode(text)))),
  });
}
const guards = newReplayGuards(300_000);
const config = { timestampWindowMs: 300_000, allowLegacyNonce: false };
// Requests are signed ahead, so only the checking is timed.
const requests = {
  sr: Array.from({ length: (runs + 1) * count }, () => signedHeaders(srPair)),
  ed: Array.from({ length: (runs + 1) * count }, () => signedHeaders(edPair)),
};
const used = { sr: 0, ed: 0 };

async function request(kind: "sr" | "ed") {
  const outcome = await verifyRequestAuth({
    request: { method: "POST", pathAndQuery: path, body },
    fields: authFieldsFromHeaders(requests[kind][used[kind]++]!),
    now,
    guards,
    config,
  });
  if (!outcome.ok) throw new Error(`benchmark request refused: ${outcome.message}`);
}

const measures: Record<string, () => unknown> = {
  "sr25519 @scure/sr25519": () => sr25519.verify(message, srSignature, srPair.publicKey),
  "sr25519 polkadot WASM": () => sr25519Verify(message, srSignature, srPair.publicKey),
  "ed25519 WebCrypto": () =>
    crypto.subtle.verify("Ed25519", edKey, new Uint8Array(edSignature), message),
  "ed25519 noble": () => ed25519.verify(edSignature, message, edPair.publicKey),
  "ed25519 via verifyWalletSignature": () =>
    verifyWalletSignature(edPair.publicKey, message, { bytes: edSignature, scheme: "ed25519" }),
  "request, sr25519 wallet (wrapped)": () => request("sr"),
  "request, ed25519 wallet (wrapped)": () => request("ed"),
};

const rates = new Map<string, number[]>(Object.keys(measures).map((name) => [name, []]));
for (const run of [-1, ...Array.from({ length: runs }, (_, index) => index)]) {
  for (const [name, verify] of Object.entries(measures)) {
    const n = run === -1 ? Math.min(20, count) : count; // run -1 warms up
    const started = performance.now();
    for (let index = 0; index < n; index++) {
      const result = await verify();
      if (result === false) throw new Error(`${name}: a valid signature did not verify`);
    }
    const seconds = (performance.now() - started) / 1_000;
    if (run >= 0) rates.get(name)!.push(n / seconds);
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
console.log(
  `Deno ${Deno.version.deno}, ${runs} runs of ${count} verifications of a 200-byte message (requests: canonical message)`,
);
console.log(`${"".padEnd(36)}${"median /s".padStart(12)}${"min-max /s".padStart(20)}`);
for (const [name, values] of rates) {
  const low = Math.min(...values).toFixed(0);
  const high = Math.max(...values).toFixed(0);
  console.log(
    `${name.padEnd(36)}${median(values).toFixed(0).padStart(12)}${`${low}-${high}`.padStart(20)}`,
  );
}
const ratio = (a: string, b: string) => (median(rates.get(a)!) / median(rates.get(b)!)).toFixed(2);
console.log(`ed25519 WebCrypto / noble: ${ratio("ed25519 WebCrypto", "ed25519 noble")}x`);
console.log(
  `sr25519 scure / polkadot WASM: ${ratio("sr25519 @scure/sr25519", "sr25519 polkadot WASM")}x`,
);
console.log(
  `request sr25519 / bare sr25519: ${
    ratio("request, sr25519 wallet (wrapped)", "sr25519 @scure/sr25519")
  }x`,
);
