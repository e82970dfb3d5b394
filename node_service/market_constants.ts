/**
 * Time-outs and limits of the GPU-node announcements, the market table and
 * the bridge to the seeds' ledger, in one place.
 */

/** The first announcement goes out this soon after start (the network needs a moment to link). */
export const ANNOUNCE_FIRST_DELAY_MS = 2_000;
/** While an announcement reached no neighbour, the next one comes this soon (at most the interval). */
export const ANNOUNCE_RETRY_MS = 3_000;
/** How long an announcement waits for the ledger's word on the machine's state; then it says `unknown`. */
export const ANNOUNCE_STATE_TIMEOUT_MS = 5_000;

/** A summary is forgotten after this many of its announce intervals without a newer one. */
export const SUMMARY_LIFETIME_INTERVALS = 3;
/** GPU nodes a market table holds at most; beyond it the one closest to expiry goes. */
export const MAX_MARKET_NODES = 4_096;
/** A summary signed further than this in the future is refused (the network refuses stale ones). */
export const MAX_SUMMARY_CLOCK_SKEW_MS = 5 * 60_000;

/** How long one long poll of `network.receive` waits for a first message. */
export const RECEIVE_WAIT_MS = 20_000;
/** Margin over the long poll for the worker call that carries it. */
export const RECEIVE_CALL_MARGIN_MS = 10_000;
/** Messages taken per poll. */
export const RECEIVE_BATCH = 128;
/** Back-off between failed polls (network worker starting or restarting): from, to. */
export const SUBSCRIPTION_RETRY_MIN_MS = 500;
export const SUBSCRIPTION_RETRY_MAX_MS = 10_000;

/** How long one seed has to answer a ledger read before the next seed is tried. */
export const LEDGER_RPC_ATTEMPT_TIMEOUT_MS = 8_000;
/** Seeds tried for one ledger read; three attempts stay within the default 30 s request time-out. */
export const LEDGER_RPC_MAX_ATTEMPTS = 3;
/**
 * The largest ledger answer a seed sends over the network; a sealed reply
 * must fit the network's 160 KiB frame with its envelope.
 */
export const MAX_LEDGER_RPC_REPLY_BYTES = 128 * 1024;
/** Margin over a network request's own time-out for the worker call that carries it. */
export const NETWORK_CALL_MARGIN_MS = 2_000;
