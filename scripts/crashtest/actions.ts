/**
 * Fires a run's scenarios at the GPU node through its renter API, each step
 * once the one before it answered, and notes what the node acknowledged: the
 * creates it answered 202 with an instance id, and the operations it reported
 * done (a 200 answer, or a create's operation ending `done`). After the
 * restart, each acknowledged create must have a record and each acknowledged
 * operation its event in the log. A step refused or cut off by the kill ends
 * its scenario.
 */
import { ApiClientError } from "../../http/mod.ts";
import type { ApiClient } from "../../http/mod.ts";
import type { VmImages } from "./cluster.ts";
import { CONTAINER_IMAGE } from "./cluster.ts";
import type { Scenario, Step } from "./plan.ts";

const OPERATION_POLL_MS = 200;
/** A create's operation is followed at most this long (a kill ends it much sooner). */
const CREATE_FOLLOW_MS = 120_000;

/** An operation the node said it had done, as its event log must name it. */
export type Acknowledged = { action: string; target: string };

export type RunLedger = {
  /** Instance ids the node answered a create for (202). */
  createsAnswered: string[];
  /** Operations the node reported done. */
  done: Acknowledged[];
  /** One line per step: what was sent and how it ended. */
  lines: string[];
};

export type FireContext = {
  client: ApiClient;
  nodeId: string;
  images: VmImages;
  /** Set once the node is killed: a step failing after it was cut off, not refused. */
  killed: () => boolean;
  started: number;
};

/** The event-log action of each step that acts on an instance. */
const EVENT_ACTION: Record<Exclude<Step["op"], "then">, string> = {
  "vm.create": "vm.create",
  "vm.start": "vm.start",
  "vm.stop": "vm.stop",
  "vm.restart": "vm.restart",
  "vm.reset": "vm.reset",
  "vm.delete": "vm.delete",
  "vm.snapshot_create": "vm.snapshot_create",
  "vm.snapshot_delete": "vm.snapshot_delete",
  "vm.snapshot_restore": "vm.snapshot_revert",
  "vm.modify": "vm.modify",
  "container.create": "container.create",
  "container.start": "container.start",
  "container.stop": "container.stop",
  "container.restart": "container.restart",
  "container.delete": "container.delete",
};

/** Runs every scenario at once; resolves when each has ended (done, refused or cut off). */
export async function fireScenarios(
  context: FireContext,
  scenarios: readonly Scenario[],
  ledger: RunLedger,
): Promise<void> {
  await Promise.all(scenarios.map((scenario) => fireSteps(context, scenario.steps, ledger)));
}

async function fireSteps(context: FireContext, steps: readonly Step[], ledger: RunLedger) {
  let created: string | undefined;
  for (const step of steps) {
    if (step.op === "then") {
      if (created === undefined) return;
      await fireSteps(context, step.steps(created), ledger);
      return;
    }
    const label = describe(step);
    const at = () => `+${Date.now() - context.started} ms`;
    try {
      const target = await fire(context, step, ledger);
      ledger.done.push({ action: EVENT_ACTION[step.op], target });
      ledger.lines.push(`${at()} ${label}: done${target !== label ? ` (${target})` : ""}`);
      if (step.op === "vm.create" || step.op === "container.create") created = target;
    } catch (error) {
      const how = context.killed() ? "cut off by the kill" : "refused";
      ledger.lines.push(`${at()} ${label}: ${how}: ${errorText(error)}`);
      return;
    }
  }
}

/** Sends one step and waits for its outcome; the instance it acted on. */
async function fire(context: FireContext, step: Exclude<Step, { op: "then" }>, ledger: RunLedger) {
  const { client, nodeId, images } = context;
  switch (step.op) {
    case "vm.create": {
      const accepted = await client.createVm(nodeId, {
        image_name: images.disk,
        cpu_cores: 1,
        mem_size: 0.25,
        gpu_count: step.gpus,
        direct_boot: {
          kernel_image: images.kernel,
          initrd_image: images.initrd,
          cmdline: images.cmdline,
        },
      });
      ledger.createsAnswered.push(accepted.task_id);
      await follow(client, nodeId, accepted.operation_id);
      return accepted.task_id;
    }
    case "container.create": {
      const accepted = await client.createContainer(nodeId, {
        image: CONTAINER_IMAGE,
        command: ["sleep", "86400"],
        gpu_count: step.gpus,
      });
      ledger.createsAnswered.push(accepted.task_id);
      await follow(client, nodeId, accepted.operation_id);
      return accepted.task_id;
    }
    case "vm.start":
    case "vm.restart":
    case "vm.reset":
    case "vm.delete":
      await client.vmAction(nodeId, step.id, step.op.slice("vm.".length) as "start");
      return step.id;
    case "vm.stop":
      await client.vmAction(nodeId, step.id, "stop", { force: step.force });
      return step.id;
    case "vm.snapshot_create":
      await client.createSnapshot(nodeId, step.id, { name: step.name, description: "crashtest" });
      return step.id;
    case "vm.snapshot_delete":
      await client.snapshotAction(nodeId, step.id, step.name, "delete");
      return step.id;
    case "vm.snapshot_restore":
      await client.snapshotAction(nodeId, step.id, step.name, "restore");
      return step.id;
    case "vm.modify":
      await client.modifyVm(nodeId, step.id, {
        cpu_cores: step.cpuCores,
        mem_size: step.memGib,
        ...(step.diskGib === undefined ? {} : { disk_size: step.diskGib }),
      });
      return step.id;
    case "container.start":
    case "container.stop":
    case "container.restart":
    case "container.delete":
      await client.containerAction(
        nodeId,
        step.id,
        step.op.slice("container.".length) as "start",
      );
      return step.id;
  }
}

/** Polls a create's operation until it ends; throws when it failed. */
async function follow(client: ApiClient, nodeId: string, operationId: string): Promise<void> {
  const deadline = Date.now() + CREATE_FOLLOW_MS;
  while (Date.now() < deadline) {
    const operation = await client.operation(nodeId, operationId);
    if (operation.state === "done") return;
    if (operation.state === "failed") {
      throw new Error(`operation failed: ${operation.error?.message ?? "no reason given"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, OPERATION_POLL_MS));
  }
  throw new Error(`operation ${operationId} still running after ${CREATE_FOLLOW_MS} ms`);
}

export function describe(step: Step): string {
  switch (step.op) {
    case "then":
      return "then";
    case "vm.create":
    case "container.create":
      return `${step.op}${step.gpus > 0 ? ` (${step.gpus} GPU)` : ""}`;
    case "vm.stop":
      return `vm.stop ${step.id}${step.force ? " (forced)" : ""}`;
    case "vm.snapshot_create":
    case "vm.snapshot_delete":
    case "vm.snapshot_restore":
      return `${step.op} ${step.id} ${step.name}`;
    case "vm.modify":
      return `vm.modify ${step.id} cpu ${step.cpuCores} mem ${step.memGib} GiB${
        step.diskGib === undefined ? "" : ` disk ${step.diskGib} GiB`
      }`;
    default:
      return `${step.op} ${step.id}`;
  }
}

function errorText(error: unknown): string {
  if (error instanceof ApiClientError) return `${error.status} ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
