/** Limits and rules of the embedded ledger, in one place. */

/** At most this many validators check one machine in one round. */
export const MAX_VALIDATORS_PER_MACHINE = 3;
/** Each validator gets this many time slots in a round. */
export const SLOTS_PER_VALIDATOR = 3;
/**
 * A round's window is cut into this many equal slots, dealt out round-robin:
 * the validator at position p owns slots p, p+3 and p+6 (as the original
 * chain's online committee did with 9 slots over 36 hours).
 */
export const SLOTS_PER_ROUND = MAX_VALIDATORS_PER_MACHINE * SLOTS_PER_VALIDATOR;
/** A round needs this many reports for a verdict; with fewer it is inconclusive and starts again. */
export const MIN_REPORTS_FOR_VERDICT = 2;
/** A check VM sees a little less memory and disk than the host declares (firmware, file system). */
export const OBSERVED_CAPACITY_TOLERANCE = 0.95;
/** The longest a rental may run ahead of now, renewals included (the original chain: 60 days). */
export const MAX_RENTAL_AHEAD_MS = 60 * 86_400_000;

// The bridge to the seeds' ledger over the network (rpc.ts).

/** How long the ledger authority has to answer one ledger read. */
export const LEDGER_RPC_ATTEMPT_TIMEOUT_MS = 8_000;
/**
 * The largest ledger answer a seed sends over the network; a sealed reply
 * must fit the network's 160 KiB frame with its envelope.
 */
export const MAX_LEDGER_RPC_REPLY_BYTES = 128 * 1024;
/** Margin over a network request's own time-out for the worker call that carries it. */
export const NETWORK_CALL_MARGIN_MS = 2_000;
