/**
 * Ids a node heard announced (`ihave`) but has not received: for each, who announced it, in
 * order, and when to ask next. Pure bookkeeping; the caller runs the timer and sends.
 *
 * @example
 * ```ts
 * const missing = new MissingIds({ maxIds: 4096, maxAnnouncers: 8 });
 * missing.announce("q2Y…", "peer-a"); // true: new, start its timer
 * missing.nextAnnouncer("q2Y…", (id) => linked(id)); // "peer-a": ask it
 * missing.received("q2Y…"); // it came: forget it
 * ```
 */
export type MissingOptions = { maxIds: number; maxAnnouncers: number };

export class MissingIds<Timer = unknown> {
  readonly options: MissingOptions;
  #ids = new Map<string, { announcers: string[]; timer: Timer | undefined }>();

  constructor(options: MissingOptions) {
    this.options = options;
  }

  get size(): number {
    return this.#ids.size;
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /**
   * `from` has `id`. True when the id is newly missing (the caller arms its timer); false when
   * it was already tracked (the announcer is queued) or the table is full (ignored).
   */
  announce(id: string, from: string): boolean {
    const known = this.#ids.get(id);
    if (known) {
      if (
        known.announcers.length < this.options.maxAnnouncers && !known.announcers.includes(from)
      ) {
        known.announcers.push(from);
      }
      return false;
    }
    if (this.#ids.size >= this.options.maxIds) return false;
    this.#ids.set(id, { announcers: [from], timer: undefined });
    return true;
  }

  setTimer(id: string, timer: Timer | undefined): void {
    const entry = this.#ids.get(id);
    if (entry) entry.timer = timer;
  }

  /** The next announcer still `usable` (taken off the list), or nothing: then the id is dropped. */
  nextAnnouncer(id: string, usable: (peer: string) => boolean): string | undefined {
    const entry = this.#ids.get(id);
    if (!entry) return undefined;
    while (entry.announcers.length > 0) {
      const peer = entry.announcers.shift()!;
      if (usable(peer)) return peer;
    }
    this.#ids.delete(id);
    return undefined;
  }

  /** The message arrived (or is given up): forgets the id; returns its timer to clear. */
  received(id: string): Timer | undefined {
    const entry = this.#ids.get(id);
    if (!entry) return undefined;
    this.#ids.delete(id);
    return entry.timer;
  }

  /** Every timer, for a node that stops. */
  clear(): Timer[] {
    const timers = [...this.#ids.values()].flatMap((entry) => entry.timer ? [entry.timer] : []);
    this.#ids.clear();
    return timers;
  }
}
