/**
 * Which addresses to dial next, so that this node keeps its target number of
 * outbound links. Entries come from the address book; the configured seeds
 * are used while the book has too few candidates (always at the start), and
 * are backed off like any other address when they fail or are full.
 */
import { DIAL_BACKOFF_BASE_MS, DIAL_BACKOFF_MAX_MS, MAX_PARALLEL_DIALS } from "./constants.ts";
import type { AddressBook } from "./address_book.ts";

export type DialTarget =
  | { kind: "peer"; address: string; expectedId: string }
  | { kind: "seed"; address: string; expectedId: string | undefined }
  /** A former neighbour whose link broke: does it still answer? */
  | { kind: "probe"; address: string; expectedId: string; incarnation: number }
  /** A peer says this node left: is it there? Closed as soon as it answers (no link is made). */
  | { kind: "check"; address: string; expectedId: string; incarnation: number };

type SeedState = { address: string; failures: number; retryAt: number };

export type DialPlanInput = {
  now: number;
  targetOutbound: number;
  /** Open outbound links. */
  outbound: number;
  /** Dials under way (probes included), which count towards the target until they end. */
  pending: number;
  book: AddressBook;
  /** True for ids not to dial: linked, being dialled, banned, ourselves. */
  busy: (id: string) => boolean;
  /** Seed addresses being dialled now. */
  seedsInFlight: ReadonlySet<string>;
};

export class Dialer {
  #seeds: SeedState[];
  #seedId: (address: string) => string | undefined;
  #random: () => number;

  /** `seedId`: the id a seed address must answer as, once known (configured or pinned). */
  constructor(
    seeds: readonly string[],
    seedId: (address: string) => string | undefined,
    random: () => number = Math.random,
  ) {
    this.#seeds = seeds.map((address) => ({ address, failures: 0, retryAt: 0 }));
    this.#seedId = seedId;
    this.#random = random;
  }

  /** The dials to start now (possibly none). */
  plan(input: DialPlanInput): DialTarget[] {
    const room = Math.min(
      input.targetOutbound - input.outbound - input.pending,
      MAX_PARALLEL_DIALS - input.pending,
    );
    if (room <= 0) return [];
    const targets: DialTarget[] = input.book.dialCandidates(room, input.now, input.busy).map((
      entry,
    ) => ({ kind: "peer", address: entry.address, expectedId: entry.id }));
    if (targets.length < room) {
      for (const seed of this.#shuffledSeeds()) {
        if (targets.length >= room) break;
        if (seed.retryAt > input.now || input.seedsInFlight.has(seed.address)) continue;
        const id = this.#seedId(seed.address);
        if (id !== undefined && input.busy(id)) continue;
        targets.push({ kind: "seed", address: seed.address, expectedId: id });
      }
    }
    return targets;
  }

  /** A seed answered. */
  seedReached(address: string): void {
    const seed = this.#seed(address);
    if (seed) seed.failures = 0;
  }

  seedFailed(address: string, now: number): void {
    const seed = this.#seed(address);
    if (!seed) return;
    seed.failures++;
    const backoff = Math.min(DIAL_BACKOFF_MAX_MS, DIAL_BACKOFF_BASE_MS * 2 ** (seed.failures - 1));
    seed.retryAt = now + backoff * (0.5 + this.#random());
  }

  /** The seed is up but would not take us (full): try it again later. */
  seedDeferred(address: string, until: number): void {
    const seed = this.#seed(address);
    if (seed) seed.retryAt = Math.max(seed.retryAt, until);
  }

  #seed(address: string): SeedState | undefined {
    return this.#seeds.find((seed) => seed.address === address);
  }

  #shuffledSeeds(): SeedState[] {
    const seeds = [...this.#seeds];
    for (let index = seeds.length - 1; index > 0; index--) {
      const other = Math.floor(this.#random() * (index + 1));
      [seeds[index], seeds[other]] = [seeds[other]!, seeds[index]!];
    }
    return seeds;
  }
}
