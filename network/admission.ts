/**
 * Whether a signed message from another node (a broadcast) is let in: not our own, not seen before, fresh, and signed by its
 * origin. The cheap checks come first, so a flood of duplicates or replays
 * costs no cryptography; the nonce is recorded only once the signature
 * checked out, so a forged copy cannot shut out the genuine message after it.
 *
 * What happens to an admitted message (delivery, relaying) and
 * whom to blame for a dropped one stay with the caller.
 */
import type { Clock } from "../mod/mod.ts";
import { andThen, type Authenticator, type MaybePromise } from "./authenticator.ts";
import { MAX_CLOCK_SKEW_MS } from "./constants.ts";
import type { CounterName, Counters } from "./counters.ts";
import { isFresh, type NonceCache } from "./nonce_cache.ts";

export type AdmissionDeps = {
  selfId: string;
  clock: Clock;
  auth: Pick<Authenticator, "verify">;
  nonces: NonceCache;
  counters: Counters;
  /**
   * Nonces whose signature is being checked right now (an asynchronous verify), with the
   * outcome to come: a copy that arrives meanwhile waits for it instead of verifying again, and
   * is checked itself only if that one turned out forged. Without it, such a copy is verified too.
   */
  verifying?: Map<string, Promise<boolean>>;
};

/** The fields admission reads from every signed message. */
export type SignedEnvelope = { origin: string; nonce: string; ts: number };

/** A signature and the bytes it covers, decoded from the wire. */
export type SignedParts = { signature: Uint8Array; signed: Uint8Array };

/**
 * - `own`: our own message come back.
 * - `duplicate`: its nonce is known (also when another copy won the race through verification).
 * - `stale`: its time stamp is too old or too far ahead.
 * - `malformed`: it could not be decoded; not counted, as the caller alone knows whether that
 *   is a forgery or a sender's bug.
 * - `forged`: its signature does not verify.
 */
export type DropReason = "own" | "duplicate" | "stale" | "malformed" | "forged";

export type Admitted<Parts extends SignedParts> = {
  outcome: "admitted";
  /** The time after verification, which may have taken a while. */
  at: number;
  parts: Parts;
};
export type Dropped = { outcome: "dropped"; reason: DropReason };
export type Admission<Parts extends SignedParts> = Admitted<Parts> | Dropped;

/**
 * Runs the checks on `message` and counts a drop. `decode` runs only once the
 * cheap checks passed; it returns the signed parts (anything the caller wants
 * back on admission may ride along) or why they could not be had.
 *
 * @example
 * ```ts
 * andThen(
 *   admit(deps, message, () => {
 *     const signature = decodeBase64(message.sig);
 *     return signature ? { signature, signed: signedBytes(message) } : "forged";
 *   }),
 *   (admission) => {
 *     if (admission.outcome === "dropped") return;
 *     deliver(message, admission.at);
 *   },
 * );
 * ```
 */
export function admit<Parts extends SignedParts>(
  deps: AdmissionDeps,
  message: SignedEnvelope,
  decode: () => Parts | "malformed" | "forged",
): MaybePromise<Admission<Parts>> {
  const { selfId, clock, auth, nonces, verifying } = deps;
  const now = clock.now();
  if (message.origin === selfId) return drop(deps, "own");
  if (nonces.has(message.nonce, now)) return drop(deps, "duplicate");
  const earlier = verifying?.get(message.nonce);
  if (earlier) {
    return earlier.then((genuine) =>
      genuine ? drop(deps, "duplicate") : admit(deps, message, decode)
    );
  }
  if (!isFresh(message.ts, now, nonces.ttlMs, MAX_CLOCK_SKEW_MS)) return drop(deps, "stale");
  const parts = decode();
  if (typeof parts === "string") return drop(deps, parts);
  const verified = auth.verify(message.origin, parts.signed, parts.signature);
  if (verifying && verified instanceof Promise) {
    const outcome = verified.catch(() => false);
    verifying.set(message.nonce, outcome);
    // Registered first, so the entry is gone by the time a waiting copy looks again.
    void outcome.then(() => verifying.delete(message.nonce));
  }
  return andThen(
    verified,
    (verified): Admission<Parts> => {
      if (!verified) return drop(deps, "forged");
      const at = clock.now();
      if (!nonces.add(message.nonce, at)) return drop(deps, "duplicate");
      return { outcome: "admitted", at, parts };
    },
  );
}

function drop(deps: AdmissionDeps, reason: DropReason): Dropped {
  const counter = dropCounter(reason);
  if (counter) deps.counters[counter]++;
  return { outcome: "dropped", reason };
}

function dropCounter(reason: DropReason): CounterName | undefined {
  switch (reason) {
    case "own":
    case "duplicate":
      return "broadcast_duplicates";
    case "stale":
      return "stale_dropped";
    case "forged":
      return "forged_dropped";
    case "malformed":
      return undefined;
  }
}
