/**
 * The request-routing layer's time-outs and limits (Kademlia peer routing and
 * request links), in one place. Wire limits shared with wire.ts
 * (`MAX_FOUND_ENTRIES`) live in ../constants.ts.
 */

/** Contacts per k-bucket, and contacts a lookup tries to hear from (Kademlia's k). */
export const BUCKET_SIZE = 20;
/** Queries a lookup keeps in flight at once (Kademlia's alpha). */
export const LOOKUP_PARALLELISM = 3;
/** Queries one lookup may make in all, whatever the answers say: a liar cannot make it run on. */
export const MAX_LOOKUP_QUERIES = 48;
/** Different addresses one lookup will dial the target at (answers may lie about it). */
export const MAX_TARGET_ADDRESSES = 4;
/** Lookups this node runs at once; more requests wait for a running one or are refused. */
export const MAX_CONCURRENT_LOOKUPS = 64;
/** A query (dial included) without an answer by then counts as failed. */
export const QUERY_TIMEOUT_MS = 3_000;
/** A contact in a full bucket not heard from for this long gives way to a new one. */
export const CONTACT_STALE_MS = 10 * 60_000;

/** Request links this node keeps open to the nodes it sends requests to (least recent closed first). */
export const MAX_REQUEST_LINKS = 64;
/** A request link nobody used for this long is closed. */
export const REQUEST_LINK_IDLE_MS = 120_000;
/** Links other nodes opened to this one for requests and queries, at most; more are refused. */
export const MAX_INBOUND_SIDE_LINKS = 256;
/** An inbound request link closes after a little longer than its dialler's idle time-out. */
export const INBOUND_SIDE_IDLE_MS = REQUEST_LINK_IDLE_MS + 30_000;
/** Calls waiting for an answer on one link, at most. */
export const MAX_CALLS_PER_LINK = 256;
/** A call unanswered this long after its request's own time-out is forgotten. */
export const CALL_CLEANUP_SLACK_MS = 1_000;
/** Replies this node owes to callers at once; more are answered `unavailable`. */
export const MAX_PENDING_ANSWERS = 1024;

/** First self-lookup (which puts this node into the tables of those near it) after start. */
export const JOIN_LOOKUP_DELAY_MS = 5_000;
/** Self-lookups repeat this many exchange rounds apart, so tables follow churn. */
export const REFRESH_LOOKUP_ROUNDS = 20;
/** Routing keys cached (a SHA-256 per node id); the cache is cleared when it grows past this. */
export const MAX_CACHED_KEYS = 65_536;
