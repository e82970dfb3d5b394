/**
 * Cost of the node-to-node cryptography, noble against Deno's WebCrypto
 * where both exist: Ed25519 sign and verify, X25519 agreement, and a full
 * seal + open (ephemeral X25519, HKDF-SHA256, ChaCha20-Poly1305) of a 1 KiB
 * message. Each figure is the median of several timed runs.
 *
 *   deno run scripts/bench_crypto.ts [--runs 5] [--ms 1000]
 *
 * The last line is one JSON object with every figure (operations a second).
 */
import { parseArgs } from "node:util";
import { x25519 } from "@noble/curves/ed25519.js";
import {
  Ed25519Signer,
  generateNodeKeys,
  newEphemeralKey,
  open,
  seal,
  verifyEd25519,
  verifyEd25519Native,
  verifyEd25519Sync,
  x25519SecretFromEd25519,
} from "../mod/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "5" }, ms: { type: "string", default: "1000" } },
});
const RUNS = Number(values.runs);
const RUN_MS = Number(values.ms);

/** Operations a second: the median over RUNS runs of at least RUN_MS each. */
async function measure(name: string, operation: () => unknown | Promise<unknown>): Promise<number> {
  for (let warm = 0; warm < 50; warm++) await operation();
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    let count = 0;
    const started = performance.now();
    let elapsed = 0;
    while (elapsed < RUN_MS) {
      for (let batch = 0; batch < 20; batch++) await operation();
      count += 20;
      elapsed = performance.now() - started;
    }
    rates.push((count * 1000) / elapsed);
  }
  rates.sort((a, b) => a - b);
  const median = Math.round(rates[rates.length >> 1]!);
  console.log(`${name.padEnd(44)} ${String(median).padStart(8)} ops/s`);
  return median;
}

const keys = generateNodeKeys();
const signer = new Ed25519Signer(keys.privateKey);
const message = crypto.getRandomValues(new Uint8Array(200));
const signature = await signer.sign(message);
const plaintext = crypto.getRandomValues(new Uint8Array(1024));
const header = new TextEncoder().encode(
  '["dbc/sealed/1","dbc-mainnet","origin","target","nonce",0,"eph"]',
);
const x25519Secret = x25519SecretFromEd25519(keys.privateKey);
const x25519PublicKey = x25519.getPublicKey(x25519Secret);
const peer = newEphemeralKey();
const webcryptoX = await crypto.subtle.generateKey({ name: "X25519" }, false, [
  "deriveBits",
]) as CryptoKeyPair;
const webcryptoPeer = await crypto.subtle.generateKey({ name: "X25519" }, false, [
  "deriveBits",
]) as CryptoKeyPair;

console.log(
  `Deno ${Deno.version.deno}, ${RUNS} runs of ${RUN_MS} ms, median; 200-byte messages, 1 KiB sealed`,
);
const figures = {
  ed25519_sign_noble: await measure("Ed25519 sign (noble)", () => signer.signSync(message)),
  ed25519_sign_webcrypto: await measure("Ed25519 sign (WebCrypto)", () => signer.sign(message)),
  ed25519_sign_native: await measure(
    "Ed25519 sign (native, node:crypto)",
    () => signer.signNative(message),
  ),
  ed25519_verify_noble: await measure(
    "Ed25519 verify (noble)",
    () => verifyEd25519Sync(keys.publicKey, message, signature),
  ),
  ed25519_verify_webcrypto: await measure(
    "Ed25519 verify (WebCrypto)",
    () => verifyEd25519(keys.publicKey, message, signature),
  ),
  ed25519_verify_native: await measure(
    "Ed25519 verify (native, node:crypto)",
    () => verifyEd25519Native(keys.publicKey, message, signature),
  ),
  sign_verify_noble: await measure("Ed25519 sign + verify (noble)", () => {
    const sig = signer.signSync(message);
    return verifyEd25519Sync(keys.publicKey, message, sig);
  }),
  sign_verify_webcrypto: await measure("Ed25519 sign + verify (WebCrypto)", async () => {
    const sig = await signer.sign(message);
    return verifyEd25519(keys.publicKey, message, sig);
  }),
  x25519_noble: await measure(
    "X25519 agreement (noble)",
    () => x25519.getSharedSecret(x25519Secret, peer.publicKey),
  ),
  x25519_webcrypto: await measure(
    "X25519 agreement (WebCrypto)",
    () =>
      crypto.subtle.deriveBits(
        { name: "X25519", public: webcryptoPeer.publicKey },
        webcryptoX.privateKey,
        256,
      ),
  ),
  seal_open_1kib: await measure("seal + open, 1 KiB (noble X25519/HKDF/ChaCha)", () => {
    const ephemeral = newEphemeralKey();
    const ciphertext = seal({
      ephemeral,
      recipientPublicKey: keys.publicKey,
      associatedData: header,
      plaintext,
    });
    const opened = open({
      recipient: { x25519Secret, x25519PublicKey },
      ephemeralPublicKey: ephemeral.publicKey,
      associatedData: header,
      ciphertext,
    });
    if (!opened) throw new Error("seal/open round trip failed");
  }),
};
console.log(
  `WebCrypto verify is ${
    (figures.ed25519_verify_webcrypto / figures.ed25519_verify_noble).toFixed(1)
  }x noble; ` +
    `sign+verify ${(figures.sign_verify_webcrypto / figures.sign_verify_noble).toFixed(1)}x`,
);
console.log(JSON.stringify(figures));
