/**
 * Whether a new summary says something the last announced one did not: everything but the
 * time it was signed counts, so a GPU node announces when its machine, state or price
 * changes, and otherwise only at its slow refresh.
 *
 * @example
 * ```ts
 * offerChanged(last, next); // false when only signed_at differs
 * ```
 */
import type { ServiceSummary } from "../../mod/mod.ts";

export function offerChanged(last: ServiceSummary | undefined, next: ServiceSummary): boolean {
  if (!last) return true;
  const { signed_at: _lastSigned, ...lastOffer } = last;
  const { signed_at: _nextSigned, ...nextOffer } = next;
  return canonical(lastOffer) !== canonical(nextOffer);
}

/** JSON with object keys sorted, so key order never counts as a change. */
function canonical(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, item) =>
      item && typeof item === "object" && !Array.isArray(item)
        ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : item,
  );
}
