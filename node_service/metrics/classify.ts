/**
 * Which metric an event of the node service's log counts toward, from its action alone. Pure, so
 * the mapping is tested without a registry. Actions are fixed strings in the code (`vm.start`,
 * `lease.expire`), never a renter's words, so the label sets stay bounded.
 */

/** The operation families that get counts by action and result, and durations. */
export const OPERATION_KINDS = ["vm", "container"] as const;
export type OperationKind = typeof OPERATION_KINDS[number];

export type EventSeries =
  /** A VM or container operation: `vm.start` -> kind `vm`, action `start`. */
  | { family: "operation"; kind: OperationKind; action: string }
  /** A step of the lease loop: `lease.expire` -> action `expire`. */
  | { family: "lease"; action: string }
  /** Counted only among all events. */
  | { family: "other" };

export function classifyEvent(action: string): EventSeries {
  const dot = action.indexOf(".");
  if (dot <= 0) return { family: "other" };
  const prefix = action.slice(0, dot);
  const rest = action.slice(dot + 1);
  if (prefix === "lease") return { family: "lease", action: rest };
  const kind = OPERATION_KINDS.find((candidate) => candidate === prefix);
  return kind ? { family: "operation", kind, action: rest } : { family: "other" };
}
