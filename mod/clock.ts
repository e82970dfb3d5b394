/**
 * Time as a dependency. Lease, retention, back-off and time-out logic take a
 * {@link Clock} instead of calling `Date.now()` or `setTimeout` directly, so
 * tests can drive days of behaviour in microseconds with {@link ManualClock}.
 *
 * @example
 * ```ts
 * const clock = new ManualClock(0);
 * let fired = false;
 * clock.setTimeout(() => (fired = true), 1_000);
 * clock.advance(1_000); // fired === true
 * ```
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `callback` once after `delayMs`; returns a handle for {@link Clock.clearTimeout}. */
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** Resolves after `delayMs`; rejects with the signal's reason when aborted first. */
  sleep(delayMs: number, signal?: AbortSignal): Promise<void>;
}

/** Opaque timer handle; only the clock that issued it understands it. */
export type TimerHandle = { readonly timerId: unknown };

/** The real clock, backed by the runtime's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => ({ timerId: setTimeout(callback, delayMs) }),
  clearTimeout: (handle) => clearTimeout(handle.timerId as number),
  sleep: (delayMs, signal) => sleepWith(systemClock, delayMs, signal),
};

function sleepWith(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, delayMs);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

type PendingTimer = { id: number; dueAt: number; callback: () => void };

/**
 * A clock that moves only when told to. Timers fire in due order (ties in
 * creation order) during {@link ManualClock.advance}, with `now()` equal to
 * each timer's due time while its callback runs.
 */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers = new Map<number, PendingTimer>();

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { id, dueAt: this.#now + Math.max(0, delayMs), callback });
    return { timerId: id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle.timerId as number);
  }

  sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, delayMs, signal);
  }

  /** Number of timers not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `deltaMs`, firing every timer that falls due, including ones set by callbacks. */
  advance(deltaMs: number): void {
    if (deltaMs < 0) throw new RangeError("a clock cannot go backwards");
    const target = this.#now + deltaMs;
    for (;;) {
      const next = this.#earliestDue();
      if (next === undefined || next.dueAt > target) break;
      this.#timers.delete(next.id);
      this.#now = next.dueAt;
      next.callback();
    }
    this.#now = target;
  }

  /** Like {@link advance}, but lets promise continuations run between timers. */
  async advanceAsync(deltaMs: number): Promise<void> {
    if (deltaMs < 0) throw new RangeError("a clock cannot go backwards");
    const target = this.#now + deltaMs;
    for (;;) {
      await flushMicrotasks();
      const next = this.#earliestDue();
      if (next === undefined || next.dueAt > target) break;
      this.#timers.delete(next.id);
      this.#now = next.dueAt;
      next.callback();
    }
    this.#now = target;
    await flushMicrotasks();
  }

  #earliestDue(): PendingTimer | undefined {
    let earliest: PendingTimer | undefined;
    for (const timer of this.#timers.values()) {
      if (earliest === undefined || timer.dueAt < earliest.dueAt) earliest = timer;
    }
    return earliest;
  }
}

function flushMicrotasks(): Promise<void> {
  return new Promise<void>((resolve) => queueMicrotask(() => resolve())).then(() =>
    new Promise((r) => setTimeout(r, 0))
  );
}
