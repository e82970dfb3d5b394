/**
 * Time-outs and limits of the GPU-node announcements and the market table, in one place.
 */

/** The first announcement goes out this soon after start (the network needs a moment to link). */
export const ANNOUNCE_FIRST_DELAY_MS = 2_000;
/** While an announcement reached no neighbour, the next one comes this soon (at most the interval). */
export const ANNOUNCE_RETRY_MS = 3_000;
/**
 * After the first announcement that reached a neighbour, again this long after it: the nodes
 * around are still linking up then, and a broadcast reaches only the part already linked.
 */
export const JOIN_REANNOUNCE_MS = [5_000, 20_000] as const;
/**
 * How often a GPU node looks whether its offer changed (GPUs, disk, the ledger's state, price),
 * announcing at once when it did; at most the announce interval. Each look asks the
 * verification service once, so this is also the load a GPU node puts on it.
 */
export const CHANGE_CHECK_MS = 15_000;
/** How long an announcement waits for the ledger's word on the machine's state; then it says `unknown`. */
export const ANNOUNCE_STATE_TIMEOUT_MS = 5_000;

/** A summary is forgotten after this many of its announce intervals without a newer one. */
export const SUMMARY_LIFETIME_INTERVALS = 3;
/**
 * GPU nodes a market table holds at most; beyond it the one closest to expiry goes. A held
 * summary is about 1 KiB, so this is at most about 64 MiB per node: far past any network this
 * software has met. Its refreshes stay within what one link of the broadcast tree may carry
 * (each broadcast crosses every tree link once): 65,536 nodes / 600 s (the default announce
 * interval) = 109 broadcasts a second, half a peer's default message budget of 200.
 */
export const MAX_MARKET_NODES = 65_536;
/** A summary signed further than this in the future is refused (the network refuses stale ones). */
export const MAX_SUMMARY_CLOCK_SKEW_MS = 5 * 60_000;
