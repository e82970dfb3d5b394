/**
 * Incarnation numbers: a node's is the time it started, in milliseconds, and
 * grows only when it refutes a report of its own departure. So no honest
 * incarnation is ahead of the clock by more than clocks disagree, which is
 * what lets a receiver drop a made-up one (the wire schema only bounds the
 * range), and a node steps its own from its own number and clock, never from
 * a number a peer sent: a peer cannot push it out of the range.
 */
import { MAX_CLOCK_SKEW_MS, MAX_INCARNATION } from "./constants.ts";

/** False for an incarnation no running node can have yet: it is dropped, not acted on. */
export function plausibleIncarnation(incarnation: number, now: number): boolean {
  return incarnation <= now + MAX_CLOCK_SKEW_MS && incarnation <= MAX_INCARNATION;
}

/** The incarnation after `own` (a refutation); `undefined` where it would leave the range. */
export function nextIncarnation(own: number, now: number): number | undefined {
  const next = Math.max(own + 1, now);
  return next <= MAX_INCARNATION ? next : undefined;
}
