/**
 * The JSON value check that replaces zod's `z.json()` (mod/schemas/json.ts): it must accept what
 * `z.json()` accepts and refuse what it refuses, on values built at random.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { z } from "zod";
import { isJsonValue, JsonValueSchema, MAX_JSON_DEPTH } from "../../mod/mod.ts";

const zodJson = z.json();

Deno.test("agrees with z.json() on JSON values and on values that are not JSON", () => {
  const notJson = fc.oneof(
    fc.constant(undefined),
    fc.constant(Number.NaN),
    fc.constant(Number.POSITIVE_INFINITY),
    fc.bigInt(),
    fc.date(),
    fc.constant(() => 1),
    fc.constant(new Map([["a", 1]])),
    fc.constant(new Uint8Array([1])),
  );
  const value = fc.letrec((tie) => ({
    any: fc.oneof(
      { maxDepth: 4 },
      fc.string(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      notJson,
      fc.array(tie("any"), { maxLength: 4 }),
      fc.dictionary(fc.string(), tie("any"), { maxKeys: 4 }),
    ),
  })).any;
  fc.assert(
    fc.property(value, (input) => {
      assert.equal(isJsonValue(input), zodJson.safeParse(input).success);
      assert.equal(JsonValueSchema.safeParse(input).success, zodJson.safeParse(input).success);
    }),
    { numRuns: 5_000 },
  );
});

Deno.test("a round trip through JSON text is always a JSON value; nesting past the bound is not", () => {
  fc.assert(fc.property(fc.jsonValue(), (input) => isJsonValue(JSON.parse(JSON.stringify(input)))));
  let deep: unknown = 1;
  for (let depth = 0; depth < MAX_JSON_DEPTH; depth++) deep = [deep];
  assert.equal(isJsonValue(deep), true);
  assert.equal(isJsonValue([deep]), false);
});
