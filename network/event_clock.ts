/**
 * A virtual clock for simulations and multi-node tests: timers live in a
 * binary heap (so a hundred thousand pending timers cost nothing extra), fire
 * in due order with ties in creation order, and `runFor` lets promise
 * continuations run between timers, so code that awaits a transport behaves
 * as it would on the real clock, only without waiting.
 *
 * @example
 * ```ts
 * const clock = new EventClock(0);
 * clock.setTimeout(() => console.log(clock.now()), 1_000);
 * await clock.runFor(5_000); // prints 1000
 * ```
 */
import type { Clock, TimerHandle } from "../mod/mod.ts";

type Timer = { due: number; seq: number; callback: () => void; cancelled: boolean };

/** Microtask turns granted after each timer: enough for the protocol's short promise chains. */
const SETTLE_TURNS = 6;
/** Every this much virtual time, a full macrotask turn drains whatever is still queued. */
const DRAIN_EVERY_MS = 100;

export class EventClock implements Clock {
  #now: number;
  #seq = 0;
  #heap: Timer[] = [];
  #live = 0;
  #fired = 0;

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  /** Timers not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#live;
  }

  /** Timers fired so far (the simulation's event count). */
  get firedTimers(): number {
    return this.#fired;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer: Timer = {
      due: this.#now + Math.max(0, delayMs),
      seq: this.#seq++,
      callback,
      cancelled: false,
    };
    this.#push(timer);
    this.#live++;
    return { timerId: timer };
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = handle.timerId as Timer;
    if (timer.cancelled) return;
    timer.cancelled = true;
    this.#live--;
  }

  sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const handle = this.setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, delayMs);
      const onAbort = () => {
        this.clearTimeout(handle);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Advances virtual time by `deltaMs`, firing every timer that falls due. */
  async runFor(deltaMs: number): Promise<void> {
    const target = this.#now + deltaMs;
    const nextDrain = this.#now + DRAIN_EVERY_MS;
    const drainer = new Drainer();
    try {
      await drainer.turn();
      await this.#run(target, nextDrain, drainer);
      this.#now = target;
      await drainer.turn();
    } finally {
      drainer.close();
    }
  }

  async #run(target: number, nextDrain: number, drainer: Drainer): Promise<void> {
    for (;;) {
      const timer = this.#heap[0];
      if (!timer || timer.due > target) break;
      this.#pop();
      if (timer.cancelled) continue;
      timer.cancelled = true;
      this.#live--;
      if (timer.due >= nextDrain) {
        await drainer.turn();
        nextDrain = timer.due + DRAIN_EVERY_MS;
      }
      this.#now = timer.due;
      this.#fired++;
      timer.callback();
      for (let turn = 0; turn < SETTLE_TURNS; turn++) await null;
    }
  }

  /** Runs until `condition()` holds (checked every `stepMs`) or `maxMs` passes; the time it took. */
  async runUntil(
    condition: () => boolean,
    stepMs: number,
    maxMs: number,
  ): Promise<number | undefined> {
    const start = this.#now;
    while (this.#now - start < maxMs) {
      if (condition()) return this.#now - start;
      await this.runFor(stepMs);
    }
    return condition() ? this.#now - start : undefined;
  }

  #push(timer: Timer): void {
    const heap = this.#heap;
    heap.push(timer);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!earlier(heap[index]!, heap[parent]!)) break;
      [heap[index], heap[parent]] = [heap[parent]!, heap[index]!];
      index = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < heap.length && earlier(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && earlier(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === index) return;
      [heap[index], heap[smallest]] = [heap[smallest]!, heap[index]!];
      index = smallest;
    }
  }
}

function earlier(a: Timer, b: Timer): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

/** Macrotask turns (not clamped like setTimeout): every queued microtask has run by then. */
class Drainer {
  #channel = new MessageChannel();
  #waiting: Array<() => void> = [];

  constructor() {
    this.#channel.port1.onmessage = () => this.#waiting.shift()?.();
  }

  turn(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      this.#channel.port2.postMessage(0);
    });
  }

  close(): void {
    this.#channel.port1.close();
    this.#channel.port2.close();
  }
}
