/**
 * One "rentable instance" notion for virtual machines and containers: the
 * same states and the same transitions, in one pure function, so the HTTP
 * API and the lease loop can drive either kind through {@link InstanceDriver}
 * without knowing which it is. The schemas (kinds, states, summary) live in
 * `mod/schemas/instance.ts` because they cross worker boundaries.
 */
import type { InstanceKind, InstanceState, InstanceSummary } from "../mod/mod.ts";

/** What can happen to an instance; the lease loop sends `expire` and `renew`. */
export type InstanceEvent =
  | { type: "created" }
  | { type: "create_failed" }
  | { type: "start" }
  | { type: "stop" }
  | { type: "restart" }
  | { type: "expire" }
  | { type: "renew" }
  | { type: "delete" };

export type Transition =
  | { ok: true; state: InstanceState }
  | { ok: false; reason: string };

/**
 * The state after `event`, or why the event is refused in `state`. Stopping a
 * stopped instance or starting a running one is allowed and changes nothing,
 * so a retried request does no harm.
 */
export function nextInstanceState(state: InstanceState, event: InstanceEvent): Transition {
  const refuse = (why: string): Transition => ({ ok: false, reason: why });
  const to = (next: InstanceState): Transition => ({ ok: true, state: next });
  if (state === "deleted") return refuse("it is deleted");
  switch (event.type) {
    case "created":
      return state === "creating" ? to("running") : refuse(`it is ${state}, not creating`);
    case "create_failed":
      return state === "creating" ? to("failed") : refuse(`it is ${state}, not creating`);
    case "start":
    case "restart":
      if (state === "running" || state === "stopped") return to("running");
      return refuse(startRefusal(state));
    case "stop":
      if (state === "running" || state === "stopped") return to("stopped");
      return refuse(startRefusal(state));
    case "expire":
      if (state === "running" || state === "stopped" || state === "expired") return to("expired");
      return refuse(`it is ${state}`);
    case "renew":
      return state === "expired" ? to("running") : refuse(`it is ${state}, not expired`);
    case "delete":
      return state === "creating" ? refuse("it is still being created") : to("deleted");
  }
}

/** Why an instance in `state` cannot be started (or changed): what the renter should do instead. */
export function startRefusal(state: InstanceState): string {
  switch (state) {
    case "expired":
      return "its lease has expired; renew it first";
    case "failed":
      return "its creation failed; delete it";
    case "creating":
      return "it is still being created";
    default:
      return `it is ${state}`;
  }
}

/**
 * What the lease loop and the HTTP API need from each kind of instance. The
 * VM and container services each implement it; callers pick the driver by
 * `kind` and otherwise treat both alike.
 */
export interface InstanceDriver {
  readonly kind: InstanceKind;
  /** Every instance of this kind that is not deleted. */
  summaries(): InstanceSummary[];
  start(actor: string, id: string): Promise<InstanceSummary>;
  stop(actor: string, id: string): Promise<InstanceSummary>;
  /** Lease over: stop it and keep it (and its data) for the retention period. */
  expire(actor: string, id: string): Promise<InstanceSummary>;
  /** Lease renewed within the retention period: bring it back. */
  renew(actor: string, id: string): Promise<InstanceSummary>;
  /** Gone for good, with its data unless `keepData`. */
  remove(actor: string, id: string, options: { keepData: boolean }): Promise<InstanceSummary>;
}
