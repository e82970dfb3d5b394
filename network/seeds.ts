/**
 * Which nodes are seeds, as far as this node is concerned. A hello's role is
 * the sender's own claim, and anyone can claim "seed"; the claim holds only
 * for the ids the operator configured (`host:port/p2p/<id>`, or a multiaddr
 * with its `/p2p/<id>`) or, for a bare `host:port`, the id that answered
 * there first (trust on first use, pinned in network.db so that a restart
 * keeps it; a seed that changed its key needs its row removed, or its id
 * configured). A pinned or configured address is dialled expecting that id
 * only, so whoever takes the address over later is not reached through it.
 *
 * Pure: the pins come in and go out through the caller.
 */
import { parseSeedAddress, type Role } from "../mod/mod.ts";
import { joinAddress } from "./address.ts";

export type SeedSpec = { address: string; id: string | undefined };

/** The configured seeds as addresses to dial (`host:port`, IPv6 in brackets) and ids. */
export function parseSeeds(texts: readonly string[]): SeedSpec[] {
  return texts.map((text) => {
    const parsed = parseSeedAddress(text);
    if (!parsed) throw new RangeError(`not a seed address: ${text}`);
    return { address: joinAddress(parsed.host, parsed.port), id: parsed.id };
  });
}

export class SeedTrust {
  /** address -> the id it must answer as, once known. */
  #ids = new Map<string, string | undefined>();
  #seedIds = new Set<string>();

  /** `pins`: address -> id, saved by earlier runs; pins of addresses no longer configured are ignored. */
  constructor(seeds: readonly SeedSpec[], pins: ReadonlyMap<string, string> = new Map()) {
    for (const seed of seeds) {
      const id = seed.id ?? pins.get(seed.address);
      this.#ids.set(seed.address, id);
      if (id) this.#seedIds.add(id);
    }
  }

  get addresses(): string[] {
    return [...this.#ids.keys()];
  }

  /** The id a seed address must answer as; `undefined` until a bare address is first met. */
  idOf(address: string): string | undefined {
    return this.#ids.get(address);
  }

  /** A bare seed address answered as `id` (hello checked): true when this pinned it (save it). */
  pin(address: string, id: string): boolean {
    if (!this.#ids.has(address) || this.#ids.get(address) !== undefined) return false;
    this.#ids.set(address, id);
    this.#seedIds.add(id);
    return true;
  }

  isSeed(id: string): boolean {
    return this.#seedIds.has(id);
  }

  /**
   * The role to go by for a node that claims `claimed`: a claim of "seed" from anyone else counts
   * as "client", the role that claims nothing (it serves no machines and keeps no ledger).
   */
  roleOf(id: string, claimed: Role): Role {
    return claimed === "seed" && !this.isSeed(id) ? "client" : claimed;
  }
}
