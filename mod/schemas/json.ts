/**
 * A JSON value, checked by a walk of its own instead of zod's `z.json()`.
 *
 * Why: `z.json()` is a recursive union that zod tries member by member at every node of the
 * value; on the routed request path every API request and answer is checked this way several
 * times (the wire message on arrival, the call between workers), and the profile of the network
 * workers under load put zod at an eighth of their time. This walk does the same check (plain
 * objects and arrays of strings, finite numbers, booleans and null) about twenty times faster
 * (`z.json()` 1.6 µs, this 0.08 µs for a renter's request), and bounds the nesting.
 */
import { z } from "zod";

export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/** Nesting deeper than this is refused (JSON from the wire is parsed long before this matters). */
export const MAX_JSON_DEPTH = 64;

/** Whether `value` is a JSON value: what `JSON.stringify` writes and `JSON.parse` gives back. */
export function isJsonValue(value: unknown, depth = 0): value is JsonValue {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (value === null) return true;
      if (depth >= MAX_JSON_DEPTH) return false;
      if (Array.isArray(value)) {
        for (const item of value) if (!isJsonValue(item, depth + 1)) return false;
        return true;
      }
      const prototype = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) return false;
      for (const key of Object.keys(value)) {
        if (!isJsonValue((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

export const JsonValueSchema = z.custom<JsonValue>((value) => isJsonValue(value), {
  message: "expected a JSON value",
});
