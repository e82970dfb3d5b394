/**
 * Every time-out, limit and protocol name of the network layer, in one place.
 * Values an operator may want to change are configuration (`p2p_*` fields in
 * mod/config.ts); these are the ones that shape the protocol itself.
 */

/** The libp2p protocol of a link: handshake, peer exchange, broadcast, lookups and requests. */
export const LINK_PROTOCOL = "/dbc/link/1.0.0";
/** Checked in every handshake; a peer speaking another version is refused. */
export const PROTOCOL_VERSION = 3; // 3: Plumtree (ihave, graft, prune)

// --- Wire limits (every byte from a peer is hostile) ---------------------------------------
/** The largest frame a peer may send; a longer length prefix closes the link at once. */
export const MAX_FRAME_BYTES = 256 * 1024;
/** Most peer entries (and, separately, departures) one exchange message may carry. */
export const MAX_EXCHANGE_ENTRIES = 64;
export const MAX_EXCHANGE_DEPARTURES = 256;
/** A broadcast's topic and body limits. */
export const MAX_TOPIC_LENGTH = 64;
export const MAX_BROADCAST_BODY_BYTES = 64 * 1024;
/** A request to one node, as JSON (its reply may take a whole frame, {@link MAX_FRAME_BYTES}). */
export const MAX_REQUEST_BYTES = 159 * 1024;
/**
 * Incarnations and time stamps are milliseconds since the epoch. 2^50 ms is past the year
 * 37000, far below 2^53, so a node that steps its incarnation (max(own + 1, now)) never leaves
 * the range its own schema accepts, while a peer's "2^53 - 1" is refused at the wire.
 */
export const MAX_INCARNATION = 2 ** 50;
export const MAX_TIMESTAMP_MS = 2 ** 50;
/** An age (ms since the last evidence) on the wire: above the longest expiry any configuration gives. */
export const MAX_AGE_MS = 2 ** 32;
/** Bytes a link may queue towards a slow peer before it is dropped. */
export const MAX_LINK_SEND_BUFFER_BYTES = 4 * 1024 * 1024;

// --- Links ---------------------------------------------------------------------------------
/** A link that has not finished its handshake by then is closed. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** How far a handshake or message time stamp may differ from our clock. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
/** Links still in their handshake, at most; more inbound ones are refused. */
export const MAX_HANDSHAKING_LINKS = 32;
/** Messages a peer may send while its hello is being verified. */
export const MAX_QUEUED_DURING_HANDSHAKE = 16;
/** A dial (connect, encrypt, open the link stream) that takes longer has failed. */
export const DIAL_TIMEOUT_MS = 10_000;
/** A ping without a pong by then counts as missed. */
export const PING_TIMEOUT_MS = 5_000;
/** Byte budget per peer per second (and its burst, four seconds' worth), at the least. */
export const RATE_LIMIT_BYTES_PER_S = 2 * 1024 * 1024;
/**
 * Bytes of a peer's byte budget per message of its message budget: an operator who lets a peer
 * send more messages (`p2p_rate_limit_per_s`) lets it send their bytes too. At the default 200
 * messages a second this stays under {@link RATE_LIMIT_BYTES_PER_S}.
 */
export const RATE_LIMIT_BYTES_PER_MESSAGE = 8 * 1024;

/** A link's byte budget a second for a message budget of `messagesPerS`. */
export function linkByteBudget(messagesPerS: number): number {
  return Math.max(RATE_LIMIT_BYTES_PER_S, messagesPerS * RATE_LIMIT_BYTES_PER_MESSAGE);
}
/** How long a misbehaving peer stays refused. */
export const BAN_MS = 10 * 60_000;
export const MAX_BANNED = 4096;

// --- Dialer --------------------------------------------------------------------------------
/** How often the dialer tops up outbound links (also right after a link is lost). */
export const DIAL_TICK_MS = 1_000;
export const MAX_PARALLEL_DIALS = 4;
/** Back-off after failed dials: base doubled per failure up to the cap. */
export const DIAL_BACKOFF_BASE_MS = 2_000;
export const DIAL_BACKOFF_MAX_MS = 10 * 60_000;
/** An address that failed this many times in a row is forgotten. */
export const MAX_DIAL_FAILURES = 5;
/** A peer that refused us because it was full is not retried for this many exchange rounds. */
export const FULL_BACKOFF_ROUNDS = 2;

// --- Address book --------------------------------------------------------------------------
/** Entries never connected ("new") and once connected ("tried"), at most (Bitcoin addrman's split). */
export const MAX_NEW_ENTRIES = 1024;
export const MAX_TRIED_ENTRIES = 256;
/** An entry nobody has vouched for in this many exchange rounds is dropped. */
export const PEER_EXPIRY_ROUNDS = 60;
/** Departures are passed on for this many rounds, and remembered a little longer than entries live. */
export const DEPARTURE_ANNOUNCE_ROUNDS = 20;
export const MAX_DEPARTURES = 8192;
/** Exchange timers run at the interval plus or minus this share, so nodes do not move in lockstep. */
export const EXCHANGE_JITTER = 0.2;
/** Entries in one exchange message: ourselves, up to half of it our neighbours, the rest a sample. */
export const EXCHANGE_SAMPLE_SIZE = 32;
/** New departures are passed on after this short delay (batched), not at the next round. */
export const DEPARTURE_PUSH_DELAY_MS = 500;
/**
 * ...and at most once in this long: under churn a link carries one departure message per
 * interval however many nodes leave (each flooded to every node), not one per departure.
 */
export const DEPARTURE_PUSH_INTERVAL_MS = 2_000;
/** Departures a neighbour sent since our last push to it, remembered so as not to echo them. */
export const MAX_GONE_HEARD = 1_024;
/**
 * A peer's unsigned word that a node left is only a reason to dial that node ourselves (a
 * check). Checks a second, on average, and in a burst: a flood of such reports costs a bounded
 * number of dials, and the nodes named are never dropped on the report alone.
 */
export const DEPARTURE_CHECKS_PER_S = 4;
export const DEPARTURE_CHECK_BURST = 32;
/** Reports (of who left, unsigned) remembered at once, so each is passed on once per round. */
export const MAX_DEPARTURE_REPORTS = 4096;
/** Departed nodes a neighbour listed as if about, told back to it with the next push, at most. */
export const MAX_STALE_TOLD = 64;
/** Entries sent in a refusal because we are full: somewhere else to go. */
export const REFUSAL_SAMPLE_SIZE = 16;

// --- Broadcast and routing -----------------------------------------------------------------
/**
 * Hops a broadcast may travel. Plumtree relays along a tree (network/broadcast/), whose paths
 * are longer than the shortest ones (up to twice its depth); duplicates end a broadcast anyway,
 * so this only bounds a forged hop count.
 */
export const MAX_BROADCAST_HOPS = 64;
/** Message ids in one lazy-push announcement (`ihave`) or repair request (`graft`). */
export const MAX_IHAVE_IDS = 64;
/**
 * Broadcasts in one page of retained ones (`retained`, network/broadcast/retained.ts); the
 * sender also keeps each page under {@link MAX_FRAME_BYTES}. The smallest signed broadcast
 * takes about 300 bytes, so a full frame never holds more.
 */
export const MAX_RETAINED_PAGE = 1_024;
/** Contacts in one lookup answer (`found`): Kademlia's k (network/routing/). */
export const MAX_FOUND_ENTRIES = 20;
/** Requests this node waits on at once; more are refused with `unavailable`. */
export const MAX_PENDING_REQUESTS = 1024;
/** Replies this node owes to other workers' handlers, at most. */
export const MAX_PENDING_REPLIES = 1024;

// --- Inbox for other workers ---------------------------------------------------------------
export const MAX_SUBSCRIPTIONS = 32;
export const MAX_INBOX_MESSAGES = 1024;
/** A subscription that nobody polled for this long is dropped. */
export const SUBSCRIPTION_IDLE_MS = 120_000;
export const MAX_RECEIVE_WAIT_MS = 25_000;

// --- Persistence ---------------------------------------------------------------------------
/** How often the address book is written to network.db. */
export const SAVE_INTERVAL_MS = 60_000;
