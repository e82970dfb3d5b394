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
      // `__proto__` is the one key the two read apart: the test after this one.
      fc.dictionary(fc.string().filter((key) => key !== "__proto__"), tie("any"), { maxKeys: 4 }),
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

Deno.test("an own __proto__ key is checked like any other (z.json() skips it, and drops it)", () => {
  // JSON.parse makes such keys; a value that is not JSON cannot hide behind one.
  const withKey = (value: unknown) => {
    const object: Record<string, unknown> = {};
    Object.defineProperty(object, "__proto__", {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
    return object;
  };
  assert.equal(isJsonValue(withKey(() => 1)), false);
  assert.equal(JsonValueSchema.safeParse(withKey(() => 1)).success, false);
  assert.equal(zodJson.safeParse(withKey(() => 1)).success, true, "zod skips the key");
  assert.equal(isJsonValue(withKey({ a: 1 })), true);
  assert.equal(isJsonValue(JSON.parse('{"__proto__": {"x": [1, null]}, "b": 2}')), true);
});

Deno.test("a round trip through JSON text is always a JSON value; nesting past the bound is not", () => {
  fc.assert(fc.property(fc.jsonValue(), (input) => isJsonValue(JSON.parse(JSON.stringify(input)))));
  let deep: unknown = 1;
  for (let depth = 0; depth < MAX_JSON_DEPTH; depth++) deep = [deep];
  assert.equal(isJsonValue(deep), true);
  assert.equal(isJsonValue([deep]), false);
});
