/**
 * The replay guard under any sequence of claims: a few accounts and nonces
 * (so replays are common), signed times around now, in the past and in the
 * future, time moving on, small bounds (so they are hit). Contract: `claim`
 * never throws and answers one of its verdicts; the guard never holds more
 * than its bounds; with `whenFull: "refuse"`, a request once fresh is never
 * fresh again while its signed time is inside the window, whatever came
 * between (evictions, floods, other accounts).
 */
import fc from "fast-check";
import { ReplayGuard } from "../../../mod/mod.ts";
import { expect, type FuzzTarget } from "../target.ts";

const VERDICTS = ["fresh", "replayed", "too_old", "busy"];
type Claim = {
  account: number;
  nonce: number;
  signedOffset: number;
  advance: number;
  /** Plays an earlier claim again (same account, nonce and signed time) instead. */
  replay: number | null;
};
type Input = {
  maxAccounts: number;
  maxPerAccount: number;
  windowMs: number;
  whenFull: "refuse" | "forget_least_recent";
  claims: Claim[];
};

const inputs: fc.Arbitrary<Input> = fc.record({
  maxAccounts: fc.integer({ min: 1, max: 4 }),
  maxPerAccount: fc.integer({ min: 1, max: 4 }),
  windowMs: fc.constantFrom(1_000, 60_000),
  whenFull: fc.constantFrom("refuse" as const, "forget_least_recent" as const),
  claims: fc.array(
    fc.record({
      account: fc.nat(5),
      nonce: fc.nat(6),
      signedOffset: fc.integer({ min: -120_000, max: 120_000 }),
      advance: fc.oneof(fc.constant(0), fc.nat(2_000), fc.nat(120_000)),
      replay: fc.option(fc.nat(), { freq: 3 }),
    }),
    { maxLength: 40 },
  ),
});

export const target: FuzzTarget<Input> = {
  name: "wallet.replay_guard",
  about: "ReplayGuard never throws, stays bounded, and never takes a replay inside the window",
  property: () => ({
    arbitrary: inputs,
    check: (input) => {
      const guard = new ReplayGuard(input);
      let now = 1_767_225_600_000;
      const fresh = new Map<string, number>();
      const made: { account: string; nonce: string; signedAt: number }[] = [];
      for (const claim of input.claims) {
        now += claim.advance;
        const earlier = claim.replay === null || made.length === 0
          ? undefined
          : made[claim.replay % made.length];
        const { account, nonce, signedAt } = earlier ?? {
          account: `account-${claim.account}`,
          nonce: `nonce-${claim.nonce}`,
          signedAt: now + claim.signedOffset,
        };
        made.push({ account, nonce, signedAt });
        const verdict = guard.claim(account, nonce, signedAt, now);
        expect(VERDICTS.includes(verdict), `verdict ${verdict}`);
        const key = `${account} ${nonce} ${signedAt}`;
        if (
          input.whenFull === "refuse" && fresh.has(key) && now - signedAt <= input.windowMs
        ) {
          expect(verdict !== "fresh", `a replay of ${key} was fresh again`);
        }
        if (verdict === "fresh") fresh.set(key, signedAt);
        expect(guard.accounts <= input.maxAccounts, `${guard.accounts} accounts held`);
        expect(
          guard.size <= input.maxAccounts * input.maxPerAccount && guard.size >= 0,
          `${guard.size} entries held`,
        );
      }
    },
  }),
};
