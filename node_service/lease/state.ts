/**
 * One lease (a renter's instance on this GPU node) as a pure function of what
 * the verification service says and the time:
 *
 * ```text
 * active --rental over--> expired --renewed within retention--> active
 *                            |
 *                            +--retention over--> deleted (final)
 * ```
 *
 * The retention period runs from the rental's end as the service reports it
 * (or from the first time no rental was found at all). When the service
 * cannot be reached nothing changes: an outage must never stop or delete a
 * renter's instance, and a deletion needs the service to confirm, at or after
 * the end of retention, that the rental is still over.
 */
import type { LeaseStatus } from "../../mod/mod.ts";

export type LeaseRecord =
  | { state: "active"; endsAt: number | null; rentalId: string | null }
  | { state: "expired"; expiredAt: number; rentalId: string | null }
  | { state: "deleted"; deletedAt: number; rentalId: string | null };

export type LeaseObservation =
  | { kind: "answer"; status: LeaseStatus }
  | { kind: "unreachable"; reason: string };

/** What must be done to the instance for the new record to hold. */
export type LeaseAction = "none" | "expire" | "renew" | "delete";

export type LeaseStep = { next: LeaseRecord; action: LeaseAction; why: string };

/** The lease after `observation` at `now`, and the action on the instance that goes with it. */
export function nextLease(
  lease: LeaseRecord,
  observation: LeaseObservation,
  now: number,
  retentionMs: number,
): LeaseStep {
  const stay = (why: string): LeaseStep => ({ next: lease, action: "none", why });
  if (lease.state === "deleted") return stay("deleted for good");
  if (observation.kind === "unreachable") {
    return stay(`verification service unreachable: ${observation.reason}`);
  }
  const status = observation.status;
  const rentalId = status.state === "none" ? lease.rentalId : status.rental_id;

  if (status.state === "active" && status.ends_at > now) {
    const next: LeaseRecord = { state: "active", endsAt: status.ends_at, rentalId };
    return lease.state === "expired"
      ? { next, action: "renew", why: `rental ${rentalId} renewed until ${iso(status.ends_at)}` }
      : { next, action: "none", why: `rental ${rentalId} runs until ${iso(status.ends_at)}` };
  }

  // The rental is over (or there is none): since when?
  const endedAt = lease.state === "expired"
    ? lease.expiredAt
    : status.state === "active"
    ? status.ends_at
    : status.state === "ended"
    ? status.ended_at
    : now;
  if (now >= endedAt + retentionMs) {
    return {
      next: { state: "deleted", deletedAt: now, rentalId },
      action: "delete",
      why: `rental over since ${iso(endedAt)}, past the retention period`,
    };
  }
  if (lease.state === "expired") return stay(`expired; kept until ${iso(endedAt + retentionMs)}`);
  return {
    next: { state: "expired", expiredAt: endedAt, rentalId },
    action: "expire",
    why: status.state === "none"
      ? "the verification service knows no rental of this machine by this renter"
      : `rental ${rentalId} ended at ${iso(endedAt)}; kept until ${iso(endedAt + retentionMs)}`,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
