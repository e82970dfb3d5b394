/**
 * Who waits for a create's record. A renter's create is answered (202) at
 * once and built in the background; the HTTP API answers only once the
 * instance's record is written (`vm.recorded`, `container.recorded`), so an
 * id the renter was given survives a crash right after: the record, not the
 * answer, is what a restart keeps and repairs. Shared by VMs and containers.
 *
 * @example
 * ```ts
 * const waiters = new RecordWaiters((id) => store.get(id) !== undefined);
 * const recorded = waiters.when("vm-abc");   // in the vm.recorded handler
 * waiters.settle("vm-abc");                  // after the record's insert, and when the create ends
 * ```
 */

/** A wait for a create that never comes (its request was refused on the way) ends after this. */
export const RECORD_WAIT_MS = 60_000;

export class RecordWaiters {
  readonly #waiting = new Map<string, ((recorded: boolean) => void)[]>();

  constructor(private readonly recorded: (id: string) => boolean) {}

  /** True once the record of `id` is written; false when its create ends without one. */
  when(id: string, timeoutMs = RECORD_WAIT_MS): Promise<boolean> {
    if (this.recorded(id)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (recorded: boolean) => {
        clearTimeout(timer);
        const left = (this.#waiting.get(id) ?? []).filter((waiter) => waiter !== done);
        if (left.length > 0) this.#waiting.set(id, left);
        else this.#waiting.delete(id);
        resolve(recorded);
      };
      this.#waiting.set(id, [...(this.#waiting.get(id) ?? []), done]);
    });
  }

  /** Answers everyone waiting for `id` with whether its record is there now. */
  settle(id: string): void {
    const waiting = this.#waiting.get(id);
    if (!waiting) return;
    const recorded = this.recorded(id);
    for (const waiter of waiting) waiter(recorded);
  }
}
