/**
 * `validate <machine_id>`: a validator checks a machine that awaits
 * validation, from end to end. It grabs the order (unless it holds it),
 * waits for its next slot, has the GPU node make a check VM of the size the
 * owner declared with the image given, waits for the guest's facts, deletes
 * the VM, and posts the signed report to the ledger: what the guest saw, or
 * `failed` with the reason when the VM could not be made or never reported.
 *
 * Every input is a flag or the environment (DBC_API: a client-end, or the
 * GPU node itself; DBC_WALLET_URI: the validator), so it runs unattended.
 * Each step prints a line (under --json a JSON object); the last line is
 * always one JSON object: `{machine_id, check_id, report, machine}`.
 *
 * Exit status: 0 when the guest's facts were reported; 1 when a `failed`
 * report was posted or something refused (no report then), 2 usage.
 */
import type { ApiClient } from "../../http/mod.ts";
import { ApiClientError } from "../../http/mod.ts";
import {
  type CheckVm,
  CheckVmDetailSchema,
  CheckVmSchema,
  type Machine,
  MachineSchema,
  normalizeAccount,
  type ValidatorReport,
} from "../../mod/mod.ts";
import { type Command, type CommandContext, EXIT, UsageError } from "./command_types.ts";
import { planSlot, reportFromObserved } from "./validate_report.ts";

/** How long the guest has to report by default. */
export const DEFAULT_FACTS_TIMEOUT_S = 300;
/** The report must reach the ledger before the slot ends: stop waiting this much earlier. */
const REPORT_MARGIN_MS = 3_000;
/** Clocks differ a little: start this long after the slot opens. */
const SLOT_START_MARGIN_MS = 1_000;
const POLL_MS = 1_000;
/** The serial console, which the check script writes to, for a kernel booted directly. */
const DEFAULT_CMDLINE = "console=ttyS0";

export function validateCommands(): Command[] {
  return [{
    words: ["validate"],
    args: ["machine_id"],
    flags: ["image", "kernel", "initrd", "cmdline", "timeout-s", "slot-wait-s"],
    required: ["image"],
    summary: "check a machine awaiting validation: grab its order, wait for your slot, make a " +
      "check VM of its declared size on it (--image, or --kernel/--initrd to boot directly), " +
      "report what the guest saw to the ledger; the last line is JSON",
    wallet: "required",
    run: validate,
  }];
}

type Step = (step: string, text: string, data?: Record<string, unknown>) => void;

async function validate(context: CommandContext): Promise<number> {
  const { client, flags } = context;
  const machineId = context.args.machine_id!;
  const validator = normalizeAccount(context.wallet!.address) ?? context.wallet!.address;
  const timeoutMs = ((flags["timeout-s"] as number | undefined) ?? DEFAULT_FACTS_TIMEOUT_S) * 1_000;
  const slotWaitMs = flags["slot-wait-s"] === undefined
    ? undefined
    : (flags["slot-wait-s"] as number) * 1_000;
  if (flags.initrd !== undefined && flags.kernel === undefined) {
    throw new UsageError("--initrd boots with --kernel: give both");
  }
  if (flags.cmdline !== undefined && flags.kernel === undefined) {
    throw new UsageError("--cmdline is the kernel's: give --kernel too");
  }
  const say: Step = (step, text, data = {}) =>
    context.line(context.json ? JSON.stringify({ step, ...data }) : `${step}: ${text}`);

  // 1. The order.
  let machine = MachineSchema.parse(await client.ledgerMachine(machineId));
  if (machine.status !== "unverified" && machine.status !== "verifying") {
    throw new Error(`machine ${machineId} is ${machine.status}, not awaiting validation`);
  }
  let order = orderOf(machine, validator);
  if (!order) {
    machine = MachineSchema.parse(
      await client.request("POST", `/api/v1/ledger/machines/${enc(machineId)}/grab`, { body: {} }),
    );
    order = orderOf(machine, validator);
    if (!order) throw new Error("the ledger took the grab but lists no order of this wallet");
    say(
      "grab",
      `took the order for round ${machine.validation.round}, position ${order.position}`,
      {
        round: machine.validation.round,
        position: order.position,
        slots: order.slots,
      },
    );
  } else {
    say("grab", `holds the order for round ${machine.validation.round}`, {
      round: machine.validation.round,
      position: order.position,
    });
  }
  if (order.reported_at !== null) {
    throw new Error(`this wallet already reported on machine ${machineId} in this round`);
  }

  // 2. The slot.
  const plan = planSlot(order.slots, Date.now());
  if (plan.kind === "none") throw new Error("none of this wallet's slots in this round is left");
  const slotName = `slot ${plan.index + 1} of ${order.slots.length}`;
  if (plan.kind === "wait") {
    if (slotWaitMs !== undefined && plan.inMs > slotWaitMs) {
      throw new Error(
        `${slotName} opens at ${iso(plan.slot.starts_at)}, beyond --slot-wait-s ${
          slotWaitMs / 1_000
        }`,
      );
    }
    say("slot", `waiting for ${slotName}: opens ${iso(plan.slot.starts_at)}`, {
      opens_at: plan.slot.starts_at,
    });
    await sleep(plan.slot.starts_at - Date.now() + SLOT_START_MARGIN_MS);
  }
  say("slot", `${slotName} is open until ${iso(plan.slot.ends_at)}`, {
    open_until: plan.slot.ends_at,
  });
  const deadline = Math.min(Date.now() + timeoutMs, plan.slot.ends_at - REPORT_MARGIN_MS);

  // 3. The check VM, its facts, its end.
  const node = { node_id: machineId };
  const created = await client.request<{ check: unknown; operation_id: string }>(
    "POST",
    "/api/v1/validation/checks",
    { query: node, body: createBody(flags) },
  );
  const check = CheckVmSchema.parse(created.check);
  say("create", `check VM ${check.check_id}: ${describeSize(check)}`, {
    check_id: check.check_id,
    operation_id: created.operation_id,
    size: check.size,
  });
  let report: ValidatorReport;
  try {
    report = await factsReport(client, machineId, check.check_id, created.operation_id, {
      deadline,
      say,
    });
  } finally {
    await client.request("POST", `/api/v1/validation/checks/${enc(check.check_id)}/delete`, {
      query: node,
      body: {},
    }).then(
      () => say("delete", `check VM ${check.check_id} deleted`, { check_id: check.check_id }),
      (error) =>
        say("delete", `could not delete check VM ${check.check_id}: ${message(error)}`, {
          check_id: check.check_id,
          error: message(error),
        }),
    );
  }

  // 4. The report.
  const answer = MachineSchema.parse(
    await client.request("POST", `/api/v1/ledger/machines/${enc(machineId)}/report`, {
      body: { report },
    }),
  );
  const mine = orderOf(answer, validator);
  say("report", report.kind === "observed" ? "reported what the guest saw" : report.reason, {
    confirms: mine?.confirms ?? null,
    mismatches: mine?.mismatches ?? [],
  });
  context.line(JSON.stringify({
    machine_id: machineId,
    check_id: check.check_id,
    report,
    machine: {
      status: answer.status,
      round: answer.validation.round,
      failure_reason: answer.failure_reason,
      confirms: mine?.confirms ?? null,
      mismatches: mine?.mismatches ?? [],
    },
  }));
  return report.kind === "observed" ? EXIT.ok : EXIT.failed;
}

/** Follows the create, then the guest's facts, until `deadline`; any failure is a `failed` report. */
async function factsReport(
  client: ApiClient,
  machineId: string,
  checkId: string,
  operationId: string,
  options: { deadline: number; say: Step },
): Promise<ValidatorReport> {
  const { deadline, say } = options;
  const failed = (reason: string): ValidatorReport => {
    say("facts", reason, { failed: reason });
    return { kind: "failed", reason: reason.slice(0, 1_000) };
  };
  for (;;) {
    const operation = await client.operation(machineId, operationId);
    if (operation.state === "failed") {
      return failed(`the check VM could not be made: ${operation.error?.message ?? "no reason"}`);
    }
    if (operation.state === "done") break;
    if (Date.now() >= deadline) return failed("the check VM was not made in time");
    await sleep(POLL_MS);
  }
  say("boot", `check VM ${checkId} runs; waiting for its guest's report`);
  for (;;) {
    const detail = CheckVmDetailSchema.parse(
      await client.request("GET", `/api/v1/validation/checks/${enc(checkId)}`, {
        query: { node_id: machineId },
      }),
    );
    if (detail.check.state === "deleted") {
      return failed(`the check VM was deleted (${detail.check.reason}) before its guest reported`);
    }
    if (detail.facts?.state === "ready") {
      const report = reportFromObserved(detail.facts.observed);
      if (report.kind === "observed") {
        say("facts", describeObserved(report.observed), { observed: detail.facts.observed });
        return report;
      }
      return failed(report.reason);
    }
    if (Date.now() >= deadline) {
      return failed("the check VM's guest did not report in time");
    }
    await sleep(POLL_MS);
  }
}

function createBody(flags: CommandContext["flags"]): Record<string, unknown> {
  const kernel = flags.kernel as string | undefined;
  return {
    image_name: flags.image as string,
    ...(kernel === undefined ? {} : {
      direct_boot: {
        kernel_image: kernel,
        ...(flags.initrd === undefined ? {} : { initrd_image: flags.initrd as string }),
        cmdline: (flags.cmdline as string | undefined) ?? DEFAULT_CMDLINE,
      },
    }),
  };
}

function orderOf(machine: Machine, validator: string) {
  return machine.validation.validators.find((order) =>
    normalizeAccount(order.validator) === validator
  );
}

function describeSize(check: CheckVm): string {
  const { size } = check;
  return `${size.cpu_cores} CPU cores, ${size.memory_gib} GiB memory, ${size.disk_gib} GiB disk, ` +
    `${size.gpu_count} GPUs, image ${check.image}`;
}

function describeObserved(observed: Extract<ValidatorReport, { kind: "observed" }>["observed"]) {
  return `${observed.cpu_cores} CPU cores (${observed.cpu_model ?? "model unknown"}), ` +
    `${observed.memory_gib} GiB memory, ${observed.disk_gib} GiB disk, ` +
    `${observed.gpu_count} GPUs (${observed.gpu_model})`;
}

function message(error: unknown): string {
  if (error instanceof ApiClientError) return `${error.message} (HTTP ${error.status})`;
  return (error as Error)?.message ?? String(error);
}

const enc = encodeURIComponent;
const iso = (ms: number) => new Date(ms).toISOString();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
