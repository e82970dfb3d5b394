/**
 * A machine's life in the ledger as one pure function:
 *
 * ```text
 * unverified --validator_grabbed--> verifying --validation_passed--> online --rented--> leased
 *      ^                               |  |                             ^                 |
 *      +----validation_inconclusive----+  +--validation_failed--> failed  +--rental_ended--+
 *      +------------------------------------resubmitted------------------+
 * ```
 *
 * Further grabs while verifying keep it verifying. A failed machine comes
 * back only when its owner registers it again (`resubmitted`).
 */
import type { MachineStatus } from "../../mod/mod.ts";

export type MachineState =
  | { status: "unverified"; since: number }
  | { status: "verifying"; since: number }
  | { status: "online"; since: number }
  | { status: "leased"; since: number; rentalId: number }
  | { status: "failed"; since: number; reason: string };

export type MachineEvent =
  | { type: "validator_grabbed" }
  | { type: "validation_passed" }
  | { type: "validation_failed"; reason: string }
  /** The round ended with too few reports for a verdict: a new round starts. */
  | { type: "validation_inconclusive" }
  | { type: "rented"; rentalId: number }
  | { type: "rental_ended"; rentalId: number }
  | { type: "resubmitted" };

export type MachineTransition =
  | { ok: true; state: MachineState }
  | { ok: false; reason: string };

/** The state after `event` at `now`, or why `event` cannot happen in `state`. */
export function nextMachineState(
  state: MachineState,
  event: MachineEvent,
  now: number,
): MachineTransition {
  const refuse = (): MachineTransition => ({
    ok: false,
    reason: `the machine is ${state.status}; ${event.type.replaceAll("_", " ")} cannot happen now`,
  });
  const to = (next: MachineState): MachineTransition => ({ ok: true, state: next });
  switch (event.type) {
    case "validator_grabbed":
      if (state.status === "unverified") return to({ status: "verifying", since: now });
      if (state.status === "verifying") return to(state);
      return refuse();
    case "validation_passed":
      return state.status === "verifying" ? to({ status: "online", since: now }) : refuse();
    case "validation_failed":
      return state.status === "verifying"
        ? to({ status: "failed", since: now, reason: event.reason })
        : refuse();
    case "validation_inconclusive":
      return state.status === "verifying" ? to({ status: "unverified", since: now }) : refuse();
    case "rented":
      return state.status === "online"
        ? to({ status: "leased", since: now, rentalId: event.rentalId })
        : refuse();
    case "rental_ended":
      if (state.status === "leased" && state.rentalId === event.rentalId) {
        return to({ status: "online", since: now });
      }
      return refuse();
    case "resubmitted":
      return state.status === "failed" || state.status === "unverified"
        ? to({ status: "unverified", since: now })
        : refuse();
  }
}

/** Whether a machine in `status` can be rented. */
export function isRentable(status: MachineStatus): boolean {
  return status === "online";
}
