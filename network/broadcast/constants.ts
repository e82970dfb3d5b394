/**
 * Plumtree's timings and bounds (the wire limits are in ../constants.ts).
 *
 * A broadcast is pushed in full along a tree (the "eager" links) and announced by id on the
 * other links (the "lazy" ones); a node that hears of an id but has not had the message
 * after {@link GRAFT_TIMEOUT_MS} asks an announcer for it, which also adds that link to the
 * tree. The timeout is well above the eager path's delay (hops of tens of milliseconds plus
 * the announcement's batching), so an intact tree is never second-guessed, and short enough
 * that a broken one is mended within a second or two.
 */

/**
 * A new link joins the tree only while this node has fewer tree links than this; otherwise it
 * starts lazy (both ends: a `prune` says so). Without it, every new link carries the next
 * broadcast in full once, so the first broadcast after a join costs as many copies as links
 * (16 a node here, 40 at a full hub); with it, at most this many. A node whose links all start
 * lazy (its peers have enough) joins the tree at its first repair.
 */
export const MAX_EAGER_ON_OPEN = 4;
/** Announcements to a lazy link wait this long to be sent together. */
export const IHAVE_BATCH_MS = 100;
/** After the first announcement of an id that has not arrived, ask for it this much later. */
export const GRAFT_TIMEOUT_MS = 1_000;
/** An asked announcer that has not delivered by then: ask the next one. */
export const GRAFT_RETRY_MS = 500;
/** Announcers remembered per missing id (the first ones are asked first). */
export const MAX_ANNOUNCERS = 8;
/** Missing ids tracked at once; announcements beyond it are ignored until some arrive. */
export const MAX_MISSING = 4_096;
/**
 * How long a relayed broadcast is kept to answer repair requests: a repair comes within a
 * few seconds of the announcement, so a minute is ample; the byte bound caps the worst case
 * (bodies of 64 KiB), the count the common one.
 */
export const MESSAGE_CACHE_MS = 60_000;
export const MAX_CACHED_MESSAGES = 16_384;
export const MAX_CACHED_BYTES = 32 * 1024 * 1024;
/**
 * Origins whose latest retained broadcast (the market's topic) a node keeps to hand to a node
 * that joins: the market's own cap on GPU nodes.
 */
export const MAX_RETAINED_ORIGINS = 65_536;
/**
 * A retained broadcast handed over at join may be this old: twice the market's 600 s refresh,
 * so the latest announcement of every live GPU node qualifies (a live node has announced
 * again within one refresh) and a departed node's falls out within two.
 */
export const RETAINED_MAX_AGE_MS = 2 * 600_000;
/** Room left in a page of retained broadcasts for the frame's own fields. */
export const RETAINED_PAGE_SLACK_BYTES = 1_024;
/** Neighbours asked in turn for the retained broadcasts when links close before the answer. */
export const MAX_RETAINED_ASKS = 8;
/**
 * An asked neighbour's answer not complete by then (no page marked last): the next neighbour
 * is asked as well, without blame, since a slow or lying neighbour would otherwise hold the
 * hand-over until its link closed. Pages of the first still count when they come.
 */
export const RETAINED_ANSWER_MS = 30_000;
