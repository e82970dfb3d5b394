/**
 * Near-valid inputs: valid values with a few edits. Bugs hide next to the
 * valid shape (one field of the wrong type, a length one past its bound, a
 * byte flipped in a length prefix), where purely random input rarely lands.
 * Every edit is drawn by fast-check, so a failing input shrinks to the
 * fewest, smallest edits of the simplest valid value.
 *
 * @example
 * ```ts
 * const frames = mutatedBytes(validFrame); // a valid frame with up to 4 byte-level edits
 * const bodies = mutatedJson(validBody);   // a valid body with fields dropped, retyped, stretched
 * ```
 */
import fc from "fast-check";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Values that have broken parsers before: bounds, odd numbers, odd characters. */
export const ODD_NUMBERS: readonly number[] = [
  0,
  -0,
  1,
  -1,
  0.5,
  -1.5,
  255,
  256,
  65535,
  65536,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 50,
  2 ** 53 - 1,
  2 ** 53,
  -(2 ** 53),
  1e21,
  1e308,
  -1e308,
  Number.MIN_VALUE,
  Number.EPSILON,
];

export const ODD_STRINGS: readonly string[] = [
  "",
  " ",
  "\u0000",
  "\n",
  "\r\n",
  "\t",
  "\u007f",
  "\u2028",
  "\ufeff",
  "\ud800",
  "\udfff",
  "🦀",
  "é",
  "<>&\"'",
  "]]>",
  "../",
  "/..",
  "%00",
  "%zz",
  "\\",
  ",",
  ":",
  "=",
  "?",
  "#",
  "__proto__",
  "constructor",
  "toString",
  "0x",
  "NaN",
  "-0",
  "1e400",
  "null",
  "{}",
  "[]",
];

/** Any string, weighted towards the odd ones and towards printable ASCII. */
export function oddString(maxLength = 40): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...ODD_STRINGS), weight: 3 },
    { arbitrary: fc.string({ maxLength }), weight: 3 },
    { arbitrary: fc.string({ unit: "binary", maxLength }), weight: 2 },
    { arbitrary: fc.string({ unit: "binary-ascii", maxLength }), weight: 1 },
  );
}

/** Any number, weighted towards bounds and odd ones. */
export function oddNumber(): fc.Arbitrary<number> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...ODD_NUMBERS), weight: 3 },
    { arbitrary: fc.integer(), weight: 2 },
    { arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }), weight: 1 },
  );
}

/** Any JSON value, small, with odd leaves. */
export function oddJson(maxDepth = 3): fc.Arbitrary<Json> {
  const leaf: fc.Arbitrary<Json> = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    oddNumber(),
    oddString(),
  );
  return fc.letrec<{ value: Json }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small", maxDepth, withCrossShrink: true },
      leaf,
      fc.array(tie("value"), { maxLength: 4 }),
      fc.dictionary(oddString(8), tie("value"), { maxKeys: 4 }),
    ),
  })).value;
}

// --- JSON edits ---------------------------------------------------------------------------------

const JSON_EDITS = [
  "replace",
  "delete",
  "add",
  "string",
  "number",
  "retype",
  "repeat",
  "nest",
] as const;
type JsonEditKind = typeof JSON_EDITS[number];

export type JsonEdit = {
  /** Which node of the value (depth-first order, modulo their count). */
  at: number;
  kind: JsonEditKind;
  value: Json;
  key: string;
  count: number;
  text: string;
};

const jsonEdit: fc.Arbitrary<JsonEdit> = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom(...JSON_EDITS),
  value: oddJson(2),
  key: oddString(12),
  count: fc.nat({ max: 64 }),
  text: oddString(16),
});

/** A valid value (from `valid`) with up to `maxEdits` structural edits. */
export function mutatedJson<T extends Json>(
  valid: fc.Arbitrary<T>,
  maxEdits = 4,
): fc.Arbitrary<Json> {
  return fc.tuple(valid, fc.array(jsonEdit, { minLength: 1, maxLength: maxEdits }))
    .map(([value, edits]) => edits.reduce(applyJsonEdit, structuredClone(value) as Json));
}

type Slot = { get(): Json; set(value: Json): void; remove(): void; parent: Json | undefined };

/** Every node of `value` as a slot that can be read, replaced or removed. */
function slots(root: { value: Json }): Slot[] {
  const found: Slot[] = [];
  const visit = (get: () => Json, set: (v: Json) => void, remove: () => void, parent?: Json) => {
    found.push({ get, set, remove, parent });
    const node = get();
    if (Array.isArray(node)) {
      node.forEach((_, index) =>
        visit(
          () => node[index]!,
          (v) => (node[index] = v),
          () => node.splice(index, 1),
          node,
        )
      );
    } else if (node !== null && typeof node === "object") {
      for (const key of Object.keys(node)) {
        visit(() => node[key]!, (v) => (node[key] = v), () => delete node[key], node);
      }
    }
  };
  visit(() => root.value, (v) => (root.value = v), () => (root.value = null));
  return found;
}

function applyJsonEdit(value: Json, edit: JsonEdit): Json {
  const root = { value };
  const all = slots(root);
  const slot = all[edit.at % all.length]!;
  const node = slot.get();
  switch (edit.kind) {
    case "replace":
      slot.set(edit.value);
      break;
    case "delete":
      slot.remove();
      break;
    case "add":
      if (Array.isArray(node)) node.push(edit.value);
      else if (node !== null && typeof node === "object") node[edit.key] = edit.value;
      else slot.set(edit.value);
      break;
    case "string":
      slot.set(typeof node === "string" ? editString(node, edit) : edit.text);
      break;
    case "number":
      slot.set(
        typeof node === "number"
          ? editNumber(node, edit.count)
          : ODD_NUMBERS[edit.count % ODD_NUMBERS.length]!,
      );
      break;
    case "retype":
      slot.set(retype(node));
      break;
    case "repeat":
      if (Array.isArray(node) && node.length > 0) {
        const item = node[edit.count % node.length]!;
        for (let n = 0; n < edit.count; n++) node.push(structuredClone(item));
      } else if (typeof node === "string") {
        slot.set(node.repeat(Math.min(edit.count, 4096 / Math.max(1, node.length))));
      }
      break;
    case "nest":
      slot.set(edit.count % 2 === 0 ? [node] : { [edit.key]: node });
      break;
  }
  return root.value;
}

function editString(text: string, edit: JsonEdit): string {
  const at = text.length === 0 ? 0 : edit.count % (text.length + 1);
  switch (edit.count % 5) {
    case 0:
      return text.slice(0, at) + edit.text + text.slice(at);
    case 1:
      return text.slice(0, at);
    case 2:
      return text.slice(0, at) + edit.text + text.slice(at + 1);
    case 3:
      return text + text;
    default:
      return text.toUpperCase();
  }
}

function editNumber(value: number, count: number): number {
  switch (count % 6) {
    case 0:
      return value + 1;
    case 1:
      return value - 1;
    case 2:
      return -value;
    case 3:
      return value + 0.5;
    case 4:
      return value * 2 ** (count % 60);
    default:
      return ODD_NUMBERS[count % ODD_NUMBERS.length]!;
  }
}

function retype(value: Json): Json {
  if (value === null) return {};
  switch (typeof value) {
    case "boolean":
      return value ? 1 : 0;
    case "number":
      return String(value);
    case "string":
      return Number.isNaN(Number(value)) ? [value] : Number(value);
    default:
      return Array.isArray(value) ? (value.length > 0 ? value[0]! : null) : [value];
  }
}

// --- Byte and text edits ------------------------------------------------------------------------

const BYTE_EDITS = ["flip", "set", "insert", "delete", "truncate", "repeat", "splice"] as const;

export type ByteEdit = {
  at: number;
  kind: typeof BYTE_EDITS[number];
  byte: number;
  bytes: Uint8Array;
  count: number;
};

const byteEdit: fc.Arbitrary<ByteEdit> = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom(...BYTE_EDITS),
  byte: fc.oneof(fc.constantFrom(0x00, 0x7f, 0x80, 0xff, 0x0a, 0x22, 0x5c, 0x7b), fc.nat(255)),
  bytes: fc.uint8Array({ maxLength: 16 }),
  count: fc.nat({ max: 64 }),
});

/** Valid bytes (from `valid`) with up to `maxEdits` byte-level edits. */
export function mutatedBytes(
  valid: fc.Arbitrary<Uint8Array>,
  maxEdits = 4,
): fc.Arbitrary<Uint8Array> {
  return fc.tuple(valid, fc.array(byteEdit, { minLength: 1, maxLength: maxEdits }))
    .map(([bytes, edits]) => edits.reduce(applyByteEdit, bytes));
}

function applyByteEdit(bytes: Uint8Array, edit: ByteEdit): Uint8Array {
  const at = bytes.length === 0 ? 0 : edit.at % bytes.length;
  const out = [...bytes];
  switch (edit.kind) {
    case "flip":
      if (out.length > 0) out[at] = out[at]! ^ (1 << (edit.byte % 8));
      break;
    case "set":
      if (out.length > 0) out[at] = edit.byte;
      break;
    case "insert":
      out.splice(at, 0, ...edit.bytes);
      break;
    case "delete":
      out.splice(at, 1 + (edit.count % 8));
      break;
    case "truncate":
      out.length = at;
      break;
    case "repeat":
      out.splice(at, 0, ...out.slice(at, at + 1 + (edit.count % 16)));
      break;
    case "splice":
      out.splice(at, edit.bytes.length, ...edit.bytes);
      break;
  }
  return Uint8Array.from(out);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Valid text with up to `maxEdits` edits made on its UTF-8 bytes (so broken UTF-8 too). */
export function mutatedText(valid: fc.Arbitrary<string>, maxEdits = 4): fc.Arbitrary<string> {
  return mutatedBytes(valid.map((text) => encoder.encode(text)), maxEdits)
    .map((bytes) => decoder.decode(bytes));
}

/** Valid lines of text with lines dropped, repeated, cut or garbled. */
export function mutatedLines(valid: fc.Arbitrary<string>, maxEdits = 4): fc.Arbitrary<string> {
  const edit = fc.record({ at: fc.nat(), kind: fc.nat(4), text: oddString(60) });
  return fc.tuple(valid, fc.array(edit, { minLength: 1, maxLength: maxEdits })).map(
    ([text, edits]) => {
      const lines = text.split("\n");
      for (const { at, kind, text: extra } of edits) {
        const index = at % Math.max(1, lines.length);
        const line = lines[index] ?? "";
        if (kind === 0) lines.splice(index, 1);
        else if (kind === 1) lines.splice(index, 0, line, line);
        else if (kind === 2) lines[index] = line.slice(0, at % (line.length + 1));
        else if (kind === 3) lines[index] = line + extra;
        else lines.splice(index, 0, extra);
      }
      return lines.join("\n");
    },
  );
}

/** Near-valid and random inputs mixed: mostly mutations, some valid ones, some noise. */
export function nearValid<T>(
  valid: fc.Arbitrary<T>,
  mutated: fc.Arbitrary<T>,
  random: fc.Arbitrary<T>,
): fc.Arbitrary<T> {
  return fc.oneof(
    { arbitrary: valid, weight: 2 },
    { arbitrary: mutated, weight: 6 },
    { arbitrary: random, weight: 2 },
  );
}

/** Splits `bytes` into chunks at the given cut points (any order, any number). */
export function chunked(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.slice(start, point));
    start = point;
  }
  return chunks;
}
