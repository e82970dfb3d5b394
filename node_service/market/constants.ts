/**
 * Time-outs and limits of the GPU-node announcements and the market table, in one place.
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
