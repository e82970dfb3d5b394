/** Start, stop, restart and delete of a VM or a container: buttons the machine and instance pages share. */
import type { Container, Vm } from "../../../../mod/mod.ts";
import {
  CONTAINER_ACTIONS,
  type ContainerAction,
  VM_ACTIONS,
  type VmAction,
} from "../../../client.ts";
import { type Dashboard, errorText } from "../context.ts";
import { h } from "../dom.ts";

export type Instance = Vm | Container;
type Action = VmAction | ContainerAction;

/** The actions that make sense in `state` (a deleted instance has none). */
export function actionsFor(instance: Instance): Action[] {
  const all: readonly Action[] = instance.kind === "vm" ? VM_ACTIONS : CONTAINER_ACTIONS;
  switch (instance.state) {
    case "running":
      return all.filter((action) => action !== "start");
    case "stopped":
    case "expired":
    case "failed":
      return all.filter((action) => action === "start" || action === "delete");
    case "creating":
      return ["delete"];
    case "deleted":
      return [];
  }
}

/** Runs `action` on the instance (asking first for a delete); calls `done` after, either way. */
export async function runAction(
  dashboard: Dashboard,
  nodeId: string,
  instance: Instance,
  action: Action,
  done: () => void,
): Promise<void> {
  if (
    action === "delete" &&
    !confirm(`Delete ${instance.kind} ${instance.id}? Its disk goes with it.`)
  ) {
    return;
  }
  dashboard.notify(`${action} ${instance.id}…`);
  try {
    const client = dashboard.signed();
    const after = instance.kind === "vm"
      ? await client.vmAction(nodeId, instance.id, action as VmAction)
      : await client.containerAction(nodeId, instance.id, action as ContainerAction);
    dashboard.notify(`${instance.id} is ${after.state}`, "good");
  } catch (error) {
    dashboard.notify(`${action} ${instance.id}: ${errorText(error)}`, "bad");
  } finally {
    done();
  }
}

export function actionButtons(
  dashboard: Dashboard,
  nodeId: string,
  instance: Instance,
  done: () => void,
): HTMLElement {
  return h(
    "span",
    { class: "buttons" },
    ...actionsFor(instance).map((action) =>
      h("button", {
        class: action === "delete" ? "danger" : "",
        "data-action": action,
        onclick: (event: Event) => {
          (event.currentTarget as HTMLButtonElement).disabled = true;
          void runAction(dashboard, nodeId, instance, action, done);
        },
      }, action)
    ),
  );
}

export function stateBadge(state: string): HTMLElement {
  const tone = state === "running"
    ? "good"
    : state === "creating"
    ? "busy"
    : state === "failed"
    ? "bad"
    : "idle";
  return h("span", { class: `badge ${tone}`, "data-state": state }, state);
}
