/**
 * One iterative Kademlia lookup, as pure state: which contacts to ask next,
 * and when to stop. The driver (request_router.ts) does the asking. Contacts
 * are asked nearest first, {@link LOOKUP_PARALLELISM} at a time; the lookup
 * pauses when an answer names the target itself (an address to dial), and
 * ends when the `bucketSize` nearest contacts not known to have failed have
 * all answered (Kademlia's end), or after {@link MAX_LOOKUP_QUERIES} queries,
 * whatever the answers claim. An address for the target that fails its dial
 * was a lie or is stale: the driver takes the next, and when none is left
 * the lookup goes on, so one liar cannot make a request fail.
 */
import {
  BUCKET_SIZE,
  LOOKUP_PARALLELISM,
  MAX_LOOKUP_QUERIES,
  MAX_TARGET_ADDRESSES,
} from "./constants.ts";
import { compareDistance, type RoutingKey, routingKey } from "./key.ts";
import type { Contact } from "./table.ts";

type State = "new" | "asking" | "answered" | "failed";
type Candidate = { contact: Contact; key: RoutingKey; state: State };

export type LookupOptions = {
  selfId: string;
  targetId: string;
  bucketSize?: number;
  parallelism?: number;
  maxQueries?: number;
};

export class Lookup {
  readonly targetId: string;
  readonly targetKey: RoutingKey;
  #selfId: string;
  #bucketSize: number;
  #parallelism: number;
  #maxQueries: number;
  /** Nearest first. */
  #candidates: Candidate[] = [];
  #byId = new Map<string, Candidate>();
  #inFlight = 0;
  #queries = 0;
  /** Addresses answers gave for the target, not yet taken; and every one ever offered. */
  #targetAddresses: string[] = [];
  #offered = new Set<string>();

  constructor(options: LookupOptions, initial: readonly Contact[]) {
    this.targetId = options.targetId;
    this.targetKey = routingKey(options.targetId);
    this.#selfId = options.selfId;
    this.#bucketSize = options.bucketSize ?? BUCKET_SIZE;
    this.#parallelism = options.parallelism ?? LOOKUP_PARALLELISM;
    this.#maxQueries = options.maxQueries ?? MAX_LOOKUP_QUERIES;
    this.add(initial);
  }

  /** Queries made so far. */
  get queries(): number {
    return this.#queries;
  }

  /** Whether some answer named the target (with an address not yet taken). */
  get found(): boolean {
    return this.#targetAddresses.length > 0;
  }

  /** The next address to dial the target at, if an answer gave one not taken yet. */
  takeTargetAddress(): string | undefined {
    return this.#targetAddresses.shift();
  }

  /** Paused with an address to try, or ended. */
  get done(): boolean {
    if (this.found) return true;
    if (this.#inFlight > 0) return false;
    return this.#queries >= this.#maxQueries || this.#nextCandidate() === undefined;
  }

  /** Contacts learned (from the table, the address book or an answer); each is only something to dial. */
  add(contacts: readonly Contact[]): void {
    let added = false;
    for (const contact of contacts) {
      if (contact.id === this.#selfId || this.#byId.has(contact.id)) continue;
      if (contact.id === this.targetId) {
        if (!this.#offered.has(contact.address) && this.#offered.size < MAX_TARGET_ADDRESSES) {
          this.#offered.add(contact.address);
          this.#targetAddresses.push(contact.address);
        }
        continue;
      }
      const candidate: Candidate = { contact, key: routingKey(contact.id), state: "new" };
      this.#byId.set(contact.id, candidate);
      this.#candidates.push(candidate);
      added = true;
    }
    if (added) {
      this.#candidates.sort((a, b) => compareDistance(a.key, b.key, this.targetKey));
    }
  }

  /** The contacts to ask now; each is then `asking` until {@link answered} or {@link failed}. */
  next(): Contact[] {
    const picked: Contact[] = [];
    while (
      !this.found && this.#inFlight < this.#parallelism && this.#queries < this.#maxQueries
    ) {
      const candidate = this.#nextCandidate();
      if (!candidate) break;
      candidate.state = "asking";
      this.#inFlight++;
      this.#queries++;
      picked.push(candidate.contact);
    }
    return picked;
  }

  answered(id: string, contacts: readonly Contact[]): void {
    this.#settle(id, "answered");
    this.add(contacts);
  }

  failed(id: string): void {
    this.#settle(id, "failed");
  }

  #settle(id: string, state: "answered" | "failed"): void {
    const candidate = this.#byId.get(id);
    if (candidate?.state !== "asking") return;
    candidate.state = state;
    this.#inFlight--;
  }

  /** The nearest contact not yet asked among the `bucketSize` nearest that have not failed. */
  #nextCandidate(): Candidate | undefined {
    let considered = 0;
    for (const candidate of this.#candidates) {
      if (candidate.state === "failed") continue;
      if (candidate.state === "new") return candidate;
      if (++considered >= this.#bucketSize) return undefined;
    }
    return undefined;
  }
}
