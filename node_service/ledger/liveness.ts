/**
 * Outages, pure: when a silent machine counts as down, and how much time a
 * rental is owed for it. A machine is down from the last heartbeat the
 * ledger received (the last moment it was known to answer), so a renter is
 * never billed for time the machine may already have been gone; the rental
 * is extended by the outage instead of refunded, which keeps payments as
 * they were made and gives the renter the time it paid for.
 */

/** Whether a machine last heard from at `lastSeenAt` is down at `now`. */
export function isSilent(lastSeenAt: number | null, now: number, timeoutMs: number): boolean {
  return lastSeenAt !== null && now - lastSeenAt >= timeoutMs;
}

export type Outage = { down_since: number; up_at: number | null };

/** What an outage owes a rental: its length so far (up to `now` while it lasts). */
export function outageCredit(outage: Outage, now: number): number {
  return Math.max(0, (outage.up_at ?? now) - outage.down_since);
}

/**
 * A rental's end as the renter is owed it: the stored end already holds every
 * finished outage; an outage still going on pushes it on with the clock.
 */
export function effectiveEndsAt(storedEndsAt: number, outages: readonly Outage[], now: number) {
  const ongoing = outages.find((outage) => outage.up_at === null);
  return ongoing ? storedEndsAt + outageCredit(ongoing, now) : storedEndsAt;
}
