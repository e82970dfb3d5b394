/**
 * Valid values of a zod schema, drawn by fast-check: the schema is written
 * as JSON Schema (`z.toJSONSchema`, zod's documented export) and each part
 * becomes an arbitrary (patterns through `fc.stringMatching`). What JSON
 * Schema cannot say (refinements, a pattern together with lengths) can make
 * a drawn value invalid, so {@link schemaValues} parses each one with the
 * schema itself and yields `undefined` for the few that fail: the values it
 * yields are exactly what the schema accepts (and returns, defaults filled).
 *
 * @example
 * ```ts
 * const results = schemaValues(METHODS["vm.get"].result); // Arbitrary<VmDetail | undefined>
 * ```
 */
import fc from "fast-check";
import { z } from "zod";

type JsonSchema = {
  "x-fuzz"?: number;
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema | false;
  prefixItems?: JsonSchema[];
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  default?: unknown;
};

/** Arrays and records hold at most this many items unless the schema asks for more. */
const MAX_ITEMS = 4;
/** Unconstrained strings stay this short, so values stay small. */
const MAX_STRING = 24;
/** `$ref`s followed this deep before a recursive schema bottoms out. */
const MAX_REF_DEPTH = 4;

/**
 * Arbitraries for parts of a schema that JSON Schema cannot describe (a string refined to be an
 * SS58 address, say), by the zod schema object they stand for.
 */
export type CustomValues = ReadonlyMap<z.ZodType, fc.Arbitrary<unknown>>;

/** Values `schema` accepts, as it returns them; `undefined` for a drawn value it refused. */
export function schemaValues<S extends z.ZodType>(
  schema: S,
  custom: CustomValues = new Map(),
): fc.Arbitrary<z.output<S> | undefined> {
  return rawSchemaValues(schema, custom).map((value) => {
    const parsed = schema.safeParse(value);
    return parsed.success ? parsed.data : undefined;
  });
}

/** Values shaped after `schema`'s JSON Schema, not checked against the schema itself. */
export function rawSchemaValues(
  schema: z.ZodType,
  custom: CustomValues = new Map(),
): fc.Arbitrary<unknown> {
  const customs = [...custom.values()];
  const indexes = new Map([...custom.keys()].map((key, index) => [key as unknown, index]));
  const document = z.toJSONSchema(schema, {
    unrepresentable: "any",
    io: "input",
    override: (context) => {
      const index = indexes.get(context.zodSchema);
      if (index === undefined) return;
      for (const key of Object.keys(context.jsonSchema)) {
        delete (context.jsonSchema as Record<string, unknown>)[key];
      }
      (context.jsonSchema as JsonSchema)["x-fuzz"] = index;
    },
  }) as JsonSchema;
  return build(document, document.$defs ?? {}, 0, customs);
}

function build(
  schema: JsonSchema,
  defs: Record<string, JsonSchema>,
  depth: number,
  customs: readonly fc.Arbitrary<unknown>[],
): fc.Arbitrary<unknown> {
  if (schema["x-fuzz"] !== undefined) return customs[schema["x-fuzz"]]!;
  if (schema.$ref !== undefined) {
    const target = defs[schema.$ref.replace(/^#\/\$defs\//, "")];
    if (!target || depth >= MAX_REF_DEPTH) return fc.constant(null);
    return build(target, defs, depth + 1, customs);
  }
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) {
    return fc.oneof(...alternatives.map((part) => build(part, defs, depth, customs)));
  }
  if (schema.allOf && schema.allOf.length > 0) return build(schema.allOf[0]!, defs, depth, customs);
  if (Array.isArray(schema.type)) {
    return fc.oneof(...schema.type.map((type) => build({ ...schema, type }, defs, depth, customs)));
  }
  switch (schema.type) {
    case "null":
      return fc.constant(null);
    case "boolean":
      return fc.boolean();
    case "integer":
      return integer(schema);
    case "number":
      return fc.oneof(integer(schema), number(schema));
    case "string":
      return string(schema);
    case "array":
      return array(schema, defs, depth, customs);
    case "object":
      return object(schema, defs, depth, customs);
    default:
      // `{}`: anything (zod's unknown, or what JSON Schema cannot say).
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function bounds(schema: JsonSchema, integral: boolean): { min: number; max: number } {
  const step = integral ? 1 : Number.EPSILON;
  let min = schema.minimum ?? -Number.MAX_SAFE_INTEGER;
  let max = schema.maximum ?? Number.MAX_SAFE_INTEGER;
  if (schema.exclusiveMinimum !== undefined) min = schema.exclusiveMinimum + step;
  if (schema.exclusiveMaximum !== undefined) max = schema.exclusiveMaximum - step;
  min = Math.max(min, -Number.MAX_SAFE_INTEGER);
  max = Math.min(max, Number.MAX_SAFE_INTEGER);
  return integral ? { min: Math.ceil(min), max: Math.floor(max) } : { min, max };
}

function integer(schema: JsonSchema): fc.Arbitrary<number> {
  const { min, max } = bounds(schema, true);
  if (min > max) return fc.constant(min);
  // Small values most of the time (counts, ports, sizes), the bounds now and then.
  const small = fc.integer({ min: Math.max(min, -1000), max: Math.min(max, 100_000) });
  const valid = min <= 100_000 && max >= -1000;
  return fc.oneof(
    { arbitrary: valid ? small : fc.constant(min), weight: 4 },
    { arbitrary: fc.constantFrom(min, max), weight: 1 },
    { arbitrary: fc.integer({ min, max }), weight: 1 },
  );
}

function number(schema: JsonSchema): fc.Arbitrary<number> {
  const { min, max } = bounds(schema, false);
  return fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
}

function string(schema: JsonSchema): fc.Arbitrary<string> {
  const minLength = schema.minLength ?? 0;
  const maxLength = Math.min(schema.maxLength ?? MAX_STRING, minLength + MAX_STRING);
  if (schema.pattern !== undefined) {
    try {
      return fc.stringMatching(new RegExp(schema.pattern));
    } catch {
      // A pattern fast-check cannot generate from: the parse decides.
    }
  }
  switch (schema.format) {
    case "uri":
    case "url":
      return fc.webUrl();
    case "uuid":
      return fc.uuid();
    case "email":
      return fc.emailAddress();
    case "ipv4":
      return fc.ipV4();
    case "date-time":
      return fc.date({ noInvalidDate: true }).map((date) => date.toISOString());
  }
  return fc.string({ minLength, maxLength });
}

function array(
  schema: JsonSchema,
  defs: Record<string, JsonSchema>,
  depth: number,
  customs: readonly fc.Arbitrary<unknown>[],
): fc.Arbitrary<unknown[]> {
  if (schema.prefixItems) {
    return fc.tuple(...schema.prefixItems.map((item) => build(item, defs, depth, customs)));
  }
  const minLength = schema.minItems ?? 0;
  const maxLength = Math.min(schema.maxItems ?? MAX_ITEMS, minLength + MAX_ITEMS);
  const items = schema.items
    ? build(schema.items, defs, depth, customs)
    : fc.jsonValue({ maxDepth: 1 });
  return fc.array(items, { minLength, maxLength });
}

function object(
  schema: JsonSchema,
  defs: Record<string, JsonSchema>,
  depth: number,
  customs: readonly fc.Arbitrary<unknown>[],
): fc.Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {};
  const names = Object.keys(properties);
  const additional = schema.additionalProperties;
  if (names.length === 0 && additional !== undefined && additional !== false) {
    const keys = schema.propertyNames ? string(schema.propertyNames) : fc.string({ maxLength: 12 });
    const values = additional === true
      ? fc.jsonValue({ maxDepth: 1 })
      : build(additional, defs, depth, customs);
    return fc.dictionary(keys, values, { maxKeys: MAX_ITEMS });
  }
  const model = Object.fromEntries(
    names.map((name) => [name, build(properties[name]!, defs, depth, customs)]),
  );
  return fc.record(model, {
    requiredKeys: (schema.required ?? []).filter((name) => name in model),
  });
}
