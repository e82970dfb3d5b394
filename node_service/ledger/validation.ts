/**
 * Onboarding rules, pure: which time slots a validator owns, whether a
 * report matches the declared configuration, and when a round is over and
 * with which verdict.
 *
 * A round starts when the first validator grabs the machine and lasts the
 * verification window. The window is cut into {@link SLOTS_PER_ROUND} equal
 * slots; the validator at position p (0, 1, 2: the order of grabbing) owns
 * slots p, p+3 and p+6. A slot is the span of time in which that validator
 * may create its check VM on the machine and report; outside its slots its
 * report is refused, so the three validators check at different times and
 * cannot copy one another's result.
 *
 * The round is over when three validators have grabbed and all three have
 * reported, or when the window has passed. Then: with fewer than
 * {@link MIN_REPORTS_FOR_VERDICT} reports it is inconclusive (a new round
 * starts); otherwise the machine passes when a strict majority of the
 * reports confirm the declared configuration, and fails when not.
 */
import type { MachineConfig, TimeSlot, ValidatorReport } from "../../mod/mod.ts";
import {
  MAX_VALIDATORS_PER_MACHINE,
  MIN_REPORTS_FOR_VERDICT,
  OBSERVED_CAPACITY_TOLERANCE,
  SLOTS_PER_ROUND,
  SLOTS_PER_VALIDATOR,
} from "./constants.ts";

/** The slots of the validator at `position` in a round that started at `roundStartedAt`. */
export function validatorSlots(
  roundStartedAt: number,
  position: number,
  windowMs: number,
): TimeSlot[] {
  const slotMs = Math.floor(windowMs / SLOTS_PER_ROUND);
  const slots: TimeSlot[] = [];
  for (let turn = 0; turn < SLOTS_PER_VALIDATOR; turn++) {
    const index = position + turn * MAX_VALIDATORS_PER_MACHINE;
    slots.push({
      starts_at: roundStartedAt + index * slotMs,
      ends_at: index === SLOTS_PER_ROUND - 1
        ? roundStartedAt + windowMs
        : roundStartedAt + (index + 1) * slotMs,
    });
  }
  return slots;
}

/** Whether `now` falls in one of `slots` (start inclusive, end exclusive). */
export function inSlot(slots: readonly TimeSlot[], now: number): boolean {
  return slots.some((slot) => now >= slot.starts_at && now < slot.ends_at);
}

/** The ways what a validator saw differs from what the owner declared; empty when it matches. */
export function configMismatches(declared: MachineConfig, report: ValidatorReport): string[] {
  if (report.kind === "failed") return [`check failed: ${report.reason}`];
  const seen = report.observed;
  const mismatches: string[] = [];
  // A machine declared without GPUs has no model to name: whatever its declaration says there,
  // gpu_count alone is checked.
  if (
    declared.gpu_count > 0 && normalizeModel(seen.gpu_model) !== normalizeModel(declared.gpu_model)
  ) {
    mismatches.push(`gpu_model: declared ${declared.gpu_model}, seen ${seen.gpu_model}`);
  }
  if (seen.gpu_count !== declared.gpu_count) {
    mismatches.push(`gpu_count: declared ${declared.gpu_count}, seen ${seen.gpu_count}`);
  }
  if (seen.cpu_cores < declared.cpu_cores) {
    mismatches.push(`cpu_cores: declared ${declared.cpu_cores}, seen ${seen.cpu_cores}`);
  }
  if (
    seen.cpu_model !== undefined &&
    normalizeModel(seen.cpu_model) !== normalizeModel(declared.cpu_model)
  ) {
    mismatches.push(`cpu_model: declared ${declared.cpu_model}, seen ${seen.cpu_model}`);
  }
  for (const field of ["memory_gib", "disk_gib"] as const) {
    if (seen[field] < declared[field] * OBSERVED_CAPACITY_TOLERANCE) {
      mismatches.push(`${field}: declared ${declared[field]}, seen ${seen[field]}`);
    }
  }
  return mismatches;
}

export type RoundInput = {
  startedAt: number;
  windowMs: number;
  now: number;
  /** One entry per validator that grabbed; `confirms` null until it reported. */
  validators: ReadonlyArray<{ confirms: boolean | null }>;
};

export type RoundVerdict =
  | { over: false }
  | {
    over: true;
    verdict: "passed" | "failed" | "inconclusive";
    confirms: number;
    refusals: number;
  };

/** Whether the round is over, and its verdict. */
export function decideRound(input: RoundInput): RoundVerdict {
  const reported = input.validators.filter((validator) => validator.confirms !== null);
  const allIn = input.validators.length === MAX_VALIDATORS_PER_MACHINE &&
    reported.length === MAX_VALIDATORS_PER_MACHINE;
  if (!allIn && input.now < input.startedAt + input.windowMs) return { over: false };
  const confirms = reported.filter((validator) => validator.confirms === true).length;
  const refusals = reported.length - confirms;
  if (reported.length < MIN_REPORTS_FOR_VERDICT) {
    return { over: true, verdict: "inconclusive", confirms, refusals };
  }
  return { over: true, verdict: confirms > refusals ? "passed" : "failed", confirms, refusals };
}

function normalizeModel(model: string): string {
  return model.trim().replace(/\s+/g, " ").toLowerCase();
}
