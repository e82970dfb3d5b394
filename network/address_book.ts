/**
 * The nodes this node knows of, and the ones it knows have left.
 *
 * Entries sit in two bounded tables, in the spirit of Bitcoin's addrman:
 * "new" (heard of through exchange, never linked) and "tried" (linked at
 * least once). Gossip can fill the new table but cannot push out tried
 * entries, which makes it harder for a flood of made-up addresses to crowd
 * out peers that are known to work.
 *
 * What a peer says is hearsay and is treated so. Gossip adds nodes this
 * book does not know, and vouches that known ones are still about; it never
 * changes a known entry's address, role or incarnation, whatever incarnation
 * it claims: those come from the node itself, through a link whose hello it
 * signed ({@link AddressBook.noteLinked}). Otherwise one lie ("X restarted,
 * at my address") would send every dial for X to the liar.
 *
 * A departure (the node's own signed goodbye, or this node's own dial of it
 * that failed: never a peer's word) names the node and its incarnation;
 * entries of that incarnation or an older one are dropped and refused while
 * the record lives. A node that restarts, or that hears a false report of its
 * own death, comes back with a higher incarnation, which the record does not
 * cover.
 *
 * Everything here is pure: time comes in as `now`, randomness as `random`.
 */
import type { Role } from "../mod/mod.ts";
import {
  DIAL_BACKOFF_BASE_MS,
  DIAL_BACKOFF_MAX_MS,
  MAX_DEPARTURES,
  MAX_DIAL_FAILURES,
  MAX_NEW_ENTRIES,
  MAX_TRIED_ENTRIES,
} from "./constants.ts";
import type { Departure, PeerEntry } from "./wire.ts";

/** Addresses that mean "this machine" wherever they are dialled: never worth storing. */
const UNSPECIFIED_HOST = /^(0\.0\.0\.0|\[::\]|\[0*:0*:0*:0*:0*:0*:0*:0*\]):/;

export type BookEntry = {
  readonly id: string;
  /** `host:port` to dial. */
  address: string;
  role: Role;
  incarnation: number;
  /** Local time of the freshest evidence that the node was alive. */
  lastSeen: number;
  /** Linked at least once (the "tried" table). */
  tried: boolean;
  /** Failed dials in a row. */
  failures: number;
  /** No dial before this time. */
  retryAt: number;
};

export type DepartureRecord = {
  readonly id: string;
  incarnation: number;
  /** Local time the node was found gone. */
  at: number;
  /** Order in which this node learned departures; neighbours are sent those after their mark. */
  seq: number;
  /** The node's signed goodbye; without one, this node's own dial of it failed (passed on unsigned). */
  sig: string | undefined;
};

export type AddressBookOptions = {
  selfId: string;
  /** Entries nobody vouched for in this long are dropped. */
  expiryMs: number;
  /** Departures are passed on while younger than this... */
  departureAnnounceMs: number;
  /** ...and remembered (refusing stale entries) while younger than this. */
  departureTtlMs: number;
  /** True while a link to the node is open; linked entries are never evicted or expired. */
  isLinked: (id: string) => boolean;
  random?: () => number;
  maxNew?: number;
  maxTried?: number;
  maxDepartures?: number;
};

/** A departure record as it travels: its age instead of the local time it was learned. */
export function wireDeparture(record: DepartureRecord, now: number): Departure {
  return {
    id: record.id,
    inc: record.incarnation,
    age: Math.max(0, now - record.at),
    ...(record.sig ? { sig: record.sig } : {}),
  };
}

/** Departures that happened after one time and up to another, local (see {@link AddressBook.departuresSince}). */
export type DepartureGap = { after: number; upTo: number };

export type LearnOutcome = "added" | "updated" | "unchanged" | "refused";

/** A set that can also hand out a uniformly random member in O(1). */
class RandomSet {
  #items: string[] = [];
  #index = new Map<string, number>();

  get size(): number {
    return this.#items.length;
  }

  has(id: string): boolean {
    return this.#index.has(id);
  }

  add(id: string): void {
    if (this.#index.has(id)) return;
    this.#index.set(id, this.#items.length);
    this.#items.push(id);
  }

  delete(id: string): void {
    const position = this.#index.get(id);
    if (position === undefined) return;
    const last = this.#items.pop()!;
    this.#index.delete(id);
    if (last !== id) {
      this.#items[position] = last;
      this.#index.set(last, position);
    }
  }

  pick(random: () => number): string | undefined {
    return this.#items[Math.floor(random() * this.#items.length)];
  }
}

export class AddressBook {
  readonly selfId: string;
  #entries = new Map<string, BookEntry>();
  #new = new RandomSet();
  #tried = new RandomSet();
  #departures = new Map<string, DepartureRecord>();
  /** Departures in the order learned, as parallel seq/id columns; stale pairs are skipped on read. */
  #logSeqs: number[] = [];
  #logIds: string[] = [];
  #seq = 0;
  #options: Required<AddressBookOptions>;

  constructor(options: AddressBookOptions) {
    this.selfId = options.selfId;
    this.#options = {
      random: Math.random,
      maxNew: MAX_NEW_ENTRIES,
      maxTried: MAX_TRIED_ENTRIES,
      maxDepartures: MAX_DEPARTURES,
      ...options,
    };
  }

  get size(): number {
    return this.#entries.size;
  }

  get departureCount(): number {
    return this.#departures.size;
  }

  /** The newest departure sequence number; a mark at this value has seen everything. */
  get departureSeq(): number {
    return this.#seq;
  }

  get(id: string): BookEntry | undefined {
    return this.#entries.get(id);
  }

  entries(): IterableIterator<BookEntry> {
    return this.#entries.values();
  }

  departure(id: string): DepartureRecord | undefined {
    return this.#departures.get(id);
  }

  /** A link to the node just opened: the strongest evidence there is. */
  noteLinked(
    peer: { id: string; address: string; role: Role; incarnation: number },
    now: number,
  ): void {
    const record = this.#departures.get(peer.id);
    if (record && record.incarnation >= peer.incarnation) this.#departures.delete(peer.id);
    let entry = this.#entries.get(peer.id);
    if (!entry) {
      entry = {
        id: peer.id,
        address: peer.address,
        role: peer.role,
        incarnation: peer.incarnation,
        lastSeen: now,
        tried: true,
        failures: 0,
        retryAt: 0,
      };
      this.#entries.set(peer.id, entry);
    }
    // The node's own word: it replaces whatever gossip said (an incarnation heard of may be a lie).
    Object.assign(entry, {
      address: peer.address,
      role: peer.role,
      incarnation: peer.incarnation,
      lastSeen: now,
      failures: 0,
      retryAt: 0,
    });
    this.#promote(entry);
  }

  /** Refreshes linked entries (called each round, so they never look stale to the sample). */
  touch(id: string, now: number): void {
    const entry = this.#entries.get(id);
    if (entry) entry.lastSeen = now;
  }

  /** An entry a peer told us about: added when new, else only evidence that the node is about. */
  learn(peer: PeerEntry, now: number): LearnOutcome {
    if (peer.id === this.selfId) return "refused";
    const record = this.#departures.get(peer.id);
    if (record && peer.inc <= record.incarnation) return "refused";
    const lastSeen = now - peer.age;
    if (peer.age > this.#options.expiryMs) return "refused";
    const entry = this.#entries.get(peer.id);
    if (!entry) {
      if (UNSPECIFIED_HOST.test(peer.addr)) return "refused";
      this.#makeRoom(false);
      this.#entries.set(peer.id, {
        id: peer.id,
        address: peer.addr,
        role: peer.role,
        incarnation: peer.inc,
        lastSeen,
        tried: false,
        failures: 0,
        retryAt: 0,
      });
      this.#new.add(peer.id);
      return "added";
    }
    // A claimed restart (a higher incarnation) changes nothing here: unsigned, it may be a lie
    // aimed at the address. If the node did move, dials to the old address fail, the entry
    // goes, and the next report adds it afresh; a link to the node corrects it at once.
    if (peer.inc < entry.incarnation || lastSeen <= entry.lastSeen) return "unchanged";
    entry.lastSeen = lastSeen;
    // Except where ours no longer answers (a node that moved to another relay, or behind one):
    // fresher news of another address is worth a dial. The dial checks the id, so a false
    // address costs one failed dial, as the one we had did (and the back-off stays).
    if (entry.failures > 0 && peer.addr !== entry.address && !UNSPECIFIED_HOST.test(peer.addr)) {
      entry.address = peer.addr;
    }
    return "updated";
  }

  /** A dial failed; true when the entry was dropped after too many failures. */
  dialFailed(id: string, now: number): boolean {
    const entry = this.#entries.get(id);
    if (!entry) return false;
    entry.failures++;
    if (entry.failures >= MAX_DIAL_FAILURES && !this.#options.isLinked(id)) {
      this.#remove(id);
      return true;
    }
    const backoff = Math.min(DIAL_BACKOFF_MAX_MS, DIAL_BACKOFF_BASE_MS * 2 ** (entry.failures - 1));
    entry.retryAt = now + backoff * (0.5 + this.#options.random());
    return false;
  }

  /** Not before `until` (the peer was full, or asked us to go). */
  deferDial(id: string, until: number): void {
    const entry = this.#entries.get(id);
    if (entry) entry.retryAt = Math.max(entry.retryAt, until);
  }

  /** Forgets an entry without announcing anything (e.g. it spoke another network). */
  forget(id: string): void {
    this.#remove(id);
  }

  /**
   * `id` is gone: it said goodbye (`sig`), or this node's own dial of it failed; true when that
   * is news (to be passed on).
   */
  recordDeparture(id: string, incarnation: number, now: number, sig?: string): boolean {
    return this.#depart(id, incarnation, now, sig);
  }

  /**
   * A departure a neighbour passed on, whose goodbye signature the caller has checked (an
   * unsigned one is not for the book: see departure_reports.ts); true when it is news.
   */
  learnDeparture(departure: Departure, now: number): boolean {
    if (departure.id === this.selfId) return false;
    if (departure.age > this.#options.departureTtlMs) return false;
    return this.#depart(departure.id, departure.inc, now - departure.age, departure.sig);
  }

  /**
   * Departures learned after `mark` that are still announced, oldest first,
   * at most `limit`; `mark` is what to pass next time. Those that happened
   * within `skip` (after its first time, up to its second) are left out.
   */
  departuresSince(
    mark: number,
    now: number,
    limit: number,
    skip?: DepartureGap,
  ): { departures: Departure[]; mark: number } {
    const seqs = this.#logSeqs;
    let low = 0;
    let high = seqs.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (seqs[middle]! <= mark) low = middle + 1;
      else high = middle;
    }
    const departures: Departure[] = [];
    let newMark = mark;
    for (let index = low; index < seqs.length && departures.length < limit; index++) {
      const seq = seqs[index]!;
      const id = this.#logIds[index]!;
      newMark = seq;
      const record = this.#departures.get(id);
      if (!record || record.seq !== seq) continue;
      if (skip && record.at > skip.after && record.at <= skip.upTo) continue;
      if (now - record.at > this.#options.departureAnnounceMs) continue;
      departures.push(wireDeparture(record, now));
    }
    if (departures.length < limit) newMark = Math.max(newMark, this.#seq);
    return { departures, mark: newMark };
  }

  /** Up to `count` distinct entries seen within the expiry, chosen at random. */
  sample(count: number, now: number, skip?: (id: string) => boolean): BookEntry[] {
    const chosen = new Map<string, BookEntry>();
    const total = this.#entries.size;
    const attempts = Math.min(total, count) * 3;
    for (let attempt = 0; attempt < attempts && chosen.size < count; attempt++) {
      const id = this.#pickAny();
      if (id === undefined || chosen.has(id) || skip?.(id)) continue;
      const entry = this.#entries.get(id)!;
      if (now - entry.lastSeen <= this.#options.expiryMs) chosen.set(id, entry);
    }
    return [...chosen.values()];
  }

  /** Entries worth dialling now: half the time a tried one (known to work), else a new one. */
  dialCandidates(count: number, now: number, skip: (id: string) => boolean): BookEntry[] {
    const chosen = new Map<string, BookEntry>();
    const attempts = count * 8;
    for (let attempt = 0; attempt < attempts && chosen.size < count; attempt++) {
      const fromTried = this.#tried.size > 0 &&
        (this.#new.size === 0 || this.#options.random() < 0.5);
      const id = (fromTried ? this.#tried : this.#new).pick(this.#options.random);
      if (id === undefined || chosen.has(id) || skip(id)) continue;
      const entry = this.#entries.get(id)!;
      if (entry.retryAt <= now) chosen.set(id, entry);
    }
    return [...chosen.values()];
  }

  /** Drops entries nobody vouched for lately and departures past their lifetime. */
  expire(now: number): void {
    for (const entry of this.#entries.values()) {
      if (now - entry.lastSeen > this.#options.expiryMs && !this.#options.isLinked(entry.id)) {
        this.#remove(entry.id);
      }
    }
    for (const record of this.#departures.values()) {
      if (now - record.at > this.#options.departureTtlMs) this.#departures.delete(record.id);
    }
    let firstLive = 0;
    while (
      firstLive < this.#logSeqs.length &&
      this.#departures.get(this.#logIds[firstLive]!)?.seq !== this.#logSeqs[firstLive]
    ) firstLive++;
    this.#logSeqs.splice(0, firstLive);
    this.#logIds.splice(0, firstLive);
  }

  /** Restores entries saved earlier (only where nothing newer is known). */
  restore(entries: readonly BookEntry[], now: number): void {
    for (const saved of entries) {
      if (saved.id === this.selfId || this.#entries.has(saved.id)) continue;
      if (now - saved.lastSeen > this.#options.expiryMs) continue;
      this.#makeRoom(saved.tried);
      this.#entries.set(saved.id, { ...saved, failures: 0, retryAt: 0 });
      (saved.tried ? this.#tried : this.#new).add(saved.id);
    }
  }

  #depart(id: string, incarnation: number, at: number, sig: string | undefined): boolean {
    const existing = this.#departures.get(id);
    if (existing && existing.incarnation >= incarnation) return false;
    const entry = this.#entries.get(id);
    // An entry only heard of carries a hearsay incarnation, which must not shield it.
    if (entry && (!entry.tried || entry.incarnation <= incarnation)) this.#remove(id);
    if (existing) this.#departures.delete(id);
    while (this.#departures.size >= this.#options.maxDepartures) {
      this.#departures.delete(this.#departures.keys().next().value!);
    }
    const seq = ++this.#seq;
    this.#departures.set(id, { id, incarnation, at, seq, sig });
    this.#logSeqs.push(seq);
    this.#logIds.push(id);
    return true;
  }

  #pickAny(): string | undefined {
    const total = this.#new.size + this.#tried.size;
    if (total === 0) return undefined;
    const position = this.#options.random() * total;
    return position < this.#tried.size
      ? this.#tried.pick(this.#options.random)
      : this.#new.pick(this.#options.random);
  }

  #promote(entry: BookEntry): void {
    if (this.#tried.has(entry.id)) return;
    this.#new.delete(entry.id);
    this.#makeRoom(true);
    entry.tried = true;
    this.#tried.add(entry.id);
  }

  /** Frees a slot in a table: the stalest of a few random unlinked entries goes. */
  #makeRoom(tried: boolean): void {
    const table = tried ? this.#tried : this.#new;
    const limit = tried ? this.#options.maxTried : this.#options.maxNew;
    while (table.size >= limit) {
      let victim: BookEntry | undefined;
      for (let attempt = 0; attempt < 8; attempt++) {
        const id = table.pick(this.#options.random);
        const entry = id === undefined ? undefined : this.#entries.get(id);
        if (!entry || this.#options.isLinked(entry.id)) continue;
        if (!victim || entry.lastSeen < victim.lastSeen) victim = entry;
      }
      if (!victim) return; // Everything sampled is linked; let the table run over a little.
      if (tried) {
        // A tried entry pushed out goes back to the new table rather than away.
        this.#tried.delete(victim.id);
        victim.tried = false;
        this.#makeRoom(false);
        this.#new.add(victim.id);
      } else {
        this.#remove(victim.id);
      }
    }
  }

  #remove(id: string): void {
    this.#entries.delete(id);
    this.#new.delete(id);
    this.#tried.delete(id);
  }
}
