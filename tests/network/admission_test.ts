import assert from "node:assert/strict";
import { ManualClock } from "../../mod/mod.ts";
import { type AdmissionDeps, admit, type SignedParts } from "../../network/admission.ts";
import type { MaybePromise } from "../../network/authenticator.ts";
import { createCounters } from "../../network/counters.ts";
import { NonceCache } from "../../network/mod.ts";

const TTL_MS = 600_000;
const START_MS = 1_000_000_000;
const PARTS: SignedParts = { signature: new Uint8Array(64), signed: new Uint8Array([1, 2, 3]) };

/** Admission deps whose verifier answers with `verdict` and records every call. */
function setup(verdict: (origin: string) => MaybePromise<boolean> = () => true) {
  const clock = new ManualClock(START_MS);
  const verified: string[] = [];
  const decoded: string[] = [];
  const deps: AdmissionDeps = {
    selfId: "self",
    clock,
    auth: {
      verify: (origin) => {
        verified.push(origin);
        return verdict(origin);
      },
    },
    nonces: new NonceCache({ maxEntries: 100, ttlMs: TTL_MS }),
    counters: createCounters(),
  };
  const message = (nonce: string, origin = "origin", ts = clock.now()) => ({ origin, nonce, ts });
  const decode = (nonce: string) => () => {
    decoded.push(nonce);
    return PARTS;
  };
  return { clock, deps, verified, decoded, message, decode };
}

Deno.test("a fresh, well-signed message is admitted once and its nonce remembered", () => {
  const { deps, verified, message, decode } = setup();
  const first = admit(deps, message("a"), decode("a"));
  assert.deepEqual(first, { outcome: "admitted", at: START_MS, parts: PARTS });
  assert.equal(deps.nonces.has("a", START_MS), true);
  assert.deepEqual(verified, ["origin"]);

  const again = admit(deps, message("a"), decode("a"));
  assert.deepEqual(again, { outcome: "dropped", reason: "duplicate" });
  assert.equal(deps.counters.broadcast_duplicates, 1);
});

Deno.test("our own message coming back is dropped unverified and counted as a duplicate", () => {
  const { deps, verified, decoded, message, decode } = setup();
  const own = admit(deps, message("a", "self"), decode("a"));
  assert.deepEqual(own, { outcome: "dropped", reason: "own" });
  assert.equal(deps.counters.broadcast_duplicates, 1);
  assert.deepEqual(verified, []);
  assert.deepEqual(decoded, []);
});

Deno.test("a known nonce costs neither decoding nor a signature check", () => {
  const { deps, verified, decoded, message, decode } = setup();
  deps.nonces.add("seen", START_MS);
  for (let index = 0; index < 1_000; index++) {
    assert.deepEqual(admit(deps, message("seen"), decode("seen")), {
      outcome: "dropped",
      reason: "duplicate",
    });
  }
  assert.equal(deps.counters.broadcast_duplicates, 1_000);
  assert.deepEqual(verified, []);
  assert.deepEqual(decoded, []);
});

Deno.test("a stale or future-dated message is dropped unverified, and its nonce not taken", () => {
  const { clock, deps, verified, decoded, message, decode } = setup();
  const old = admit(deps, message("old", "origin", clock.now() - TTL_MS), decode("old"));
  const early = admit(deps, message("early", "origin", clock.now() + TTL_MS), decode("early"));
  assert.deepEqual(old, { outcome: "dropped", reason: "stale" });
  assert.deepEqual(early, { outcome: "dropped", reason: "stale" });
  assert.equal(deps.counters.stale_dropped, 2);
  assert.deepEqual(verified, []);
  assert.deepEqual(decoded, []);
  assert.equal(deps.nonces.has("old", clock.now()), false);
});

Deno.test("undecodable parts are dropped unverified; only a bad signature counts as forged", () => {
  const { deps, verified, message } = setup();
  const malformed = admit(deps, message("a"), () => "malformed");
  assert.deepEqual(malformed, { outcome: "dropped", reason: "malformed" });
  const badSignature = admit(deps, message("b"), () => "forged");
  assert.deepEqual(badSignature, { outcome: "dropped", reason: "forged" });
  assert.deepEqual(verified, []);
  assert.equal(deps.counters.forged_dropped, 1);
  assert.equal(deps.counters.broadcast_duplicates + deps.counters.stale_dropped, 0);
});

Deno.test("a forged copy is dropped without taking the nonce from the genuine one", () => {
  const { deps, verified, message, decode } = setup((origin) => origin === "genuine");
  const forged = admit(deps, message("a", "impostor"), decode("a"));
  assert.deepEqual(forged, { outcome: "dropped", reason: "forged" });
  assert.equal(deps.counters.forged_dropped, 1);
  const genuine = admit(deps, message("a", "genuine"), decode("a"));
  assert.ok(!(genuine instanceof Promise) && genuine.outcome === "admitted");
  assert.deepEqual(verified, ["impostor", "genuine"]);
});

Deno.test("with a slow verifier, the copy that finishes second is a duplicate", async () => {
  const { clock, deps, message, decode } = setup();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  deps.auth = { verify: () => gate.then(() => true) };
  const first = admit(deps, message("a"), decode("a"));
  const second = admit(deps, message("a"), decode("a"));
  assert.ok(first instanceof Promise && second instanceof Promise);
  clock.advance(250);
  release();
  assert.deepEqual(await first, { outcome: "admitted", at: START_MS + 250, parts: PARTS });
  assert.deepEqual(await second, { outcome: "dropped", reason: "duplicate" });
  assert.equal(deps.counters.broadcast_duplicates, 1);
});

Deno.test("with a slow verifier, a copy that comes while one is being checked is not verified again", async () => {
  const { deps, verified, message, decode } = setup();
  deps.verifying = new Map();
  let release!: (verdict: boolean) => void;
  const verdicts: Array<Promise<boolean>> = [];
  deps.auth = {
    verify: (origin) => {
      verified.push(origin);
      const verdict = new Promise<boolean>((resolve) => release = resolve);
      verdicts.push(verdict);
      return verdict;
    },
  };
  const first = admit(deps, message("a"), decode("a"));
  const second = admit(deps, message("a"), decode("a"));
  release(true);
  assert.equal((await first).outcome, "admitted");
  assert.deepEqual(await second, { outcome: "dropped", reason: "duplicate" });
  assert.deepEqual(verified, ["origin"]);
  assert.equal(deps.verifying.size, 0);

  // A forged copy first: the genuine one that waited on it is then checked itself, and let in.
  const forged = admit(deps, message("b", "impostor"), decode("b"));
  const genuine = admit(deps, message("b", "genuine"), decode("b"));
  release(false);
  assert.deepEqual(await forged, { outcome: "dropped", reason: "forged" });
  await verdicts[1];
  // Its own check has started: the impostor's verdict did not shut it out.
  await new Promise((resolve) => setTimeout(resolve, 0));
  release(true);
  assert.equal((await genuine).outcome, "admitted");
  assert.deepEqual(verified, ["origin", "impostor", "genuine"]);
  assert.equal(deps.verifying.size, 0);
});
