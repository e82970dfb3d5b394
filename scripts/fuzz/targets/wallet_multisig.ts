/**
 * Multisig accounts from signatory lists a request names: valid lists, the
 * same with addresses edited, repeated or dropped, odd thresholds. Contract:
 * `multisigAccount` never throws; it derives an account only for 2 to 100
 * distinct SS58 signatories and a whole threshold within their count, and
 * then the same account whatever their order or prefix.
 */
import fc from "fast-check";
import { decodeSs58, encodeSs58, multisigAccount, normalizeAccount } from "../../../mod/mod.ts";
import { mutatedText, oddNumber } from "../mutate.ts";
import { expect, type FuzzTarget } from "../target.ts";

type Input = { addresses: string[]; threshold: number; order: number[]; prefix: number };

const address = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((id) => encodeSs58(id));
const inputs: fc.Arbitrary<Input> = fc.record({
  addresses: fc.oneof(
    fc.array(address, { minLength: 2, maxLength: 6 }),
    fc.array(fc.oneof(address, mutatedText(address, 2)), { maxLength: 6 }),
    fc.array(address, { minLength: 0, maxLength: 2 }).map((list) => [...list, ...list]),
    fc.array(address, { minLength: 99, maxLength: 102 }),
  ),
  threshold: fc.oneof(fc.integer({ min: 0, max: 7 }), oddNumber()),
  order: fc.array(fc.nat(), { maxLength: 6 }),
  prefix: fc.constantFrom(0, 2, 42, 64, 1000),
});

export const target: FuzzTarget<Input> = {
  name: "wallet.multisig",
  about: "multisigAccount never throws; it derives only from valid lists, the same for any order",
  property: () => ({
    arbitrary: inputs,
    check: ({ addresses, threshold, order, prefix }) => {
      const result = multisigAccount(addresses, threshold);
      const ids = addresses.map((text) => normalizeAccount(text));
      const wellFormed = addresses.length >= 2 && addresses.length <= 100 &&
        Number.isInteger(threshold) && threshold >= 1 && threshold <= addresses.length &&
        ids.every((id) => id !== undefined) && new Set(ids).size === ids.length;
      expect(
        result.ok === wellFormed,
        () =>
          `derived ${result.ok ? "an account" : `nothing (${!result.ok && result.reason})`} ` +
          `for a list that is ${wellFormed ? "" : "not "}well formed`,
      );
      if (!result.ok) {
        expect(typeof result.reason === "string" && result.reason !== "", "no reason given");
        return;
      }
      expect(normalizeAccount(result.address) === result.address, "not in the normal form");
      expect(result.signatories.length === addresses.length, "signatories lost or added");
      // Another order, another prefix: the same account.
      const shuffled = [...addresses];
      for (const [index, pick] of order.entries()) {
        const from = index % shuffled.length;
        const to = pick % shuffled.length;
        [shuffled[from], shuffled[to]] = [shuffled[to]!, shuffled[from]!];
      }
      const rewritten = shuffled.map((text) => encodeSs58(decodeSs58(text)!.accountId, prefix));
      const again = multisigAccount(rewritten, threshold);
      expect(again.ok && again.address === result.address, "another order gave another account");
    },
  }),
};
