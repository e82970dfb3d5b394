/**
 * The pure parts of `validate`: which of the validator's slots to use, and
 * the report a check VM's facts make.
 */
import type { CheckObserved, TimeSlot, ValidatorReport } from "../../mod/mod.ts";

/** A slot with less than this left is not started in: the VM would not boot and report in time. */
export const MIN_SLOT_LEFT_MS = 15_000;

export type SlotPlan =
  /** In slot `index` (0-based among the validator's) now. */
  | { kind: "now"; index: number; slot: TimeSlot }
  /** Slot `index` opens in `inMs`. */
  | { kind: "wait"; index: number; slot: TimeSlot; inMs: number }
  | { kind: "none" };

/** The slot to check in: the one open now if enough of it is left, else the next. */
export function planSlot(slots: readonly TimeSlot[], now: number): SlotPlan {
  for (const [index, slot] of slots.entries()) {
    if (slot.ends_at - MIN_SLOT_LEFT_MS <= now) continue;
    if (slot.starts_at <= now) return { kind: "now", index, slot };
    return { kind: "wait", index, slot, inMs: slot.starts_at - now };
  }
  return { kind: "none" };
}

/**
 * The report the guest's facts make: what it saw, or `failed` when it left
 * out what a report must say. The GPU model is nvidia-smi's name for each GPU
 * where it ran, else the PCI `vendor:device` of each display controller; the
 * distinct ones, in order. "none" when there is no GPU (the ledger then
 * checks only the count).
 */
export function reportFromObserved(observed: CheckObserved): ValidatorReport {
  const required = observed.missing.filter((fact) => fact !== "cpu_model");
  const empty = (["cpu_cores", "memory_gib", "disk_gib"] as const).filter((field) =>
    observed[field] < 1 && !required.includes(field)
  );
  if (required.length > 0 || empty.length > 0) {
    const what = [
      ...required.map((fact) => `no ${fact}`),
      ...empty.map((field) => `${field} 0`),
    ];
    return { kind: "failed", reason: `the check VM's guest reported ${what.join(", ")}` };
  }
  const labels = observed.gpus.map((gpu) =>
    gpu.name ?? `${gpu.vendor_id.replace(/^0x/, "")}:${gpu.device_id.replace(/^0x/, "")}`
  );
  const model = [...new Set(labels)].join(", ").slice(0, 128) || "none";
  return {
    kind: "observed",
    observed: {
      gpu_model: model,
      gpu_count: observed.gpus.length,
      ...(observed.cpu_model ? { cpu_model: observed.cpu_model.slice(0, 128) } : {}),
      cpu_cores: observed.cpu_cores,
      memory_gib: observed.memory_gib,
      disk_gib: observed.disk_gib,
    },
  };
}
