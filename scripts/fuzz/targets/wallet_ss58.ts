/**
 * SS58 addresses: valid ones under every prefix form (one byte, two bytes),
 * the same with characters edited, and any text. Contract: `decodeSs58` and
 * `normalizeAccount` never throw; what decodes is a 32-byte account whose
 * address, written again under its prefix, decodes to the same account and
 * prefix; the normal form is a fixed point; every valid address decodes to
 * what was encoded. `encodeSs58` refuses a bad account id or prefix with a
 * RangeError, nothing else.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeSs58, encodeSs58, normalizeAccount } from "../../../mod/mod.ts";
import { mutatedText, oddString } from "../mutate.ts";
import { expect, type FuzzTarget, thrownBy } from "../target.ts";

const MAX_PREFIX = 16383;
type Valid = { accountId: Uint8Array; prefix: number };
type Input = { text: string; valid?: Valid; encode: { id: Uint8Array; prefix: number } };

const valid: fc.Arbitrary<Valid> = fc.record({
  accountId: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  prefix: fc.oneof(fc.constantFrom(0, 2, 42, 63, 64, 255, MAX_PREFIX), fc.nat(MAX_PREFIX)),
});
const encodeInputs = fc.record({
  id: fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 40 })),
  prefix: fc.oneof(fc.nat(MAX_PREFIX), fc.integer(), fc.constantFrom(-1, 0.5, MAX_PREFIX + 1, NaN)),
});

const inputs: fc.Arbitrary<Input> = fc.record({
  encode: encodeInputs,
  address: fc.oneof(
    {
      arbitrary: valid.map((v) => ({ text: encodeSs58(v.accountId, v.prefix), valid: v })),
      weight: 2,
    },
    {
      arbitrary: mutatedText(valid.map((v) => encodeSs58(v.accountId, v.prefix))).map((text) => ({
        text,
      })),
      weight: 5,
    },
    {
      arbitrary: fc.oneof(oddString(60), fc.stringMatching(/^[1-9A-HJ-NP-Za-km-z]{0,60}$/))
        .map((text) => ({ text })),
      weight: 3,
    },
  ),
}).map(({ encode, address }) => ({ ...address, encode }));

export const target: FuzzTarget<Input> = {
  name: "wallet.ss58",
  about: "decodeSs58 never throws; what decodes round-trips; encodeSs58 throws only RangeError",
  property: () => ({
    arbitrary: inputs,
    check: ({ text, valid, encode }) => {
      const decoded = decodeSs58(text);
      const normal = normalizeAccount(text);
      if (valid) {
        expect(decoded !== undefined, "a valid address did not decode");
        assert.deepEqual([...decoded.accountId], [...valid.accountId]);
        expect(
          decoded.prefix === valid.prefix,
          `prefix ${decoded.prefix}, encoded ${valid.prefix}`,
        );
      }
      expect((decoded === undefined) === (normal === undefined), "decode and normalise disagree");
      if (decoded) {
        expect(decoded.accountId.length === 32, "an account id not of 32 bytes");
        expect(
          Number.isInteger(decoded.prefix) && decoded.prefix >= 0 && decoded.prefix <= MAX_PREFIX,
          `prefix ${decoded.prefix}`,
        );
        const again = decodeSs58(encodeSs58(decoded.accountId, decoded.prefix));
        expect(again !== undefined, "its own address does not decode");
        assert.deepEqual([...again.accountId], [...decoded.accountId]);
        expect(again.prefix === decoded.prefix, "the prefix changed on the way round");
        expect(normalizeAccount(normal!) === normal, "the normal form is not a fixed point");
      }
      thrownBy(() => encodeSs58(encode.id, encode.prefix), [RangeError]);
    },
  }),
};
