/**
 * Whether a validator may create a check VM on this machine now, decided
 * from what the ledger says of the machine (`ledger.machine_get`) and what
 * the node already made. Pure.
 *
 * Allowed only while the machine awaits validation, to a signer that holds
 * an order in the round the ledger is in, has not reported in it, is inside
 * one of its slots now, and has no live check VM of that round here. The
 * VM's size is not the validator's to choose: it is what the owner declared,
 * so the validator checks the declared whole.
 */
import { type CheckSize, type Machine, normalizeAccount, type TimeSlot } from "../../mod/mod.ts";
import { inSlot } from "../ledger/mod.ts";

export type CheckDecisionInput = {
  /** The machine as the ledger answered. */
  machine: Machine;
  /** This node's machine id: the ledger must have answered about it. */
  machineId: string;
  /** The signer's account (any SS58 prefix). */
  validator: string;
  now: number;
  /** The signer's check VMs on this node that are live now, with their rounds. */
  live: ReadonlyArray<{ checkId: string; round: number }>;
};

export type CheckDecision =
  | { allowed: true; validator: string; round: number; slot: TimeSlot; size: CheckSize }
  | { allowed: false; code: "forbidden" | "conflict"; reason: string };

export function checkDecision(input: CheckDecisionInput): CheckDecision {
  const { machine, now } = input;
  const refuse = (code: "forbidden" | "conflict", reason: string): CheckDecision => ({
    allowed: false,
    code,
    reason,
  });
  if (machine.machine_id !== input.machineId) {
    return refuse(
      "conflict",
      `the ledger answered about machine ${machine.machine_id}, not this one (${input.machineId})`,
    );
  }
  if (machine.status !== "unverified" && machine.status !== "verifying") {
    return refuse(
      "conflict",
      `machine ${machine.machine_id} is ${machine.status}, not awaiting validation`,
    );
  }
  const validator = normalizeAccount(input.validator);
  const round = machine.validation.round;
  const order = validator === undefined
    ? undefined
    : machine.validation.validators.find((candidate) =>
      normalizeAccount(candidate.validator) === validator
    );
  if (validator === undefined || !order) {
    return refuse(
      "forbidden",
      `${input.validator} holds no order for machine ${machine.machine_id} in round ${round}: ` +
        "grab it first (POST /api/v1/ledger/machines/{id}/grab)",
    );
  }
  if (order.reported_at !== null) {
    return refuse(
      "conflict",
      `${validator} already reported on machine ${machine.machine_id} in round ${round}`,
    );
  }
  const slot = order.slots.find((candidate) => inSlot([candidate], now));
  if (!slot) {
    const next = order.slots.find((candidate) => candidate.starts_at > now);
    return refuse(
      "forbidden",
      `not within one of ${validator}'s time slots for machine ${machine.machine_id}${
        next ? `; the next opens at ${new Date(next.starts_at).toISOString()}` : "; none is left"
      }`,
    );
  }
  const live = input.live.find((check) => check.round === round);
  if (live) {
    return refuse(
      "conflict",
      `${validator} already has check VM ${live.checkId} on this machine in round ${round}: ` +
        "delete it first",
    );
  }
  const { config } = machine;
  return {
    allowed: true,
    validator,
    round,
    slot: { starts_at: slot.starts_at, ends_at: slot.ends_at },
    size: {
      cpu_cores: config.cpu_cores,
      memory_gib: config.memory_gib,
      disk_gib: config.disk_gib,
      gpu_count: config.gpu_count,
    },
  };
}
