/**
 * One GPU node: its machine, whether the wallet rents it (and a form to rent
 * it), and for its renter the forms that make containers and VMs, their
 * progress while they are made, and the renter's instances there.
 */
import type { Container, LeaseCheckResult, MarketNode, Vm } from "../../../../mod/mod.ts";
import { type Dashboard, errorText, poll, type View } from "../context.ts";
import { h, replace } from "../dom.ts";
import { formatRelative, type Reachability, shortId } from "../format.ts";
import { actionButtons, stateBadge } from "./actions.ts";
import { containerForm, nodeImages, vmForm } from "./create.ts";
import { availabilityBadge, leaseText, machineFacts, reach } from "./machine_facts.ts";
import { type Creation, progressPanel } from "./progress.ts";
import { rentForm } from "./rent.ts";

const MACHINE_REFRESH_MS = 15_000;
const INSTANCES_REFRESH_MS = 3_000;

export function machineView(dashboard: Dashboard, root: HTMLElement, nodeId: string): View {
  const summary = h("div", { class: "card" }, h("p", { class: "hint" }, "loading…"));
  const workspace = h("div", { class: "workspace" });
  const progress = h("div", { class: "progress-list" });
  const instances = h("div", { class: "instances" });
  replace(
    root,
    h(
      "section",
      { class: "machine" },
      h("h2", {}, "Machine ", h("span", { class: "id", title: nodeId }, shortId(nodeId))),
      summary,
      workspace,
      progress,
      instances,
    ),
  );
  let lease: LeaseCheckResult | undefined;
  let workspaceFor: string | undefined;
  let stopInstances: (() => void) | undefined;

  const refreshInstances = async () => {
    if (!dashboard.wallet || !lease?.renting) return replace(instances);
    try {
      const client = dashboard.signed();
      const [{ containers }, { tasks }] = await Promise.all([
        client.listContainers(nodeId),
        client.listVms(nodeId),
      ]);
      replace(
        instances,
        instanceTable(dashboard, nodeId, [...containers, ...tasks], () => void refreshInstances()),
      );
    } catch (error) {
      replace(
        instances,
        h("p", { class: "error" }, `cannot list your instances: ${errorText(error)}`),
      );
    }
  };

  const onCreated = (creation: Creation) => {
    progress.prepend(progressPanel(dashboard, creation, () => void refreshInstances()));
    void refreshInstances();
  };

  /** The rent form, or the create forms once the wallet rents the machine; drawn once per wallet. */
  const drawWorkspace = async () => {
    const key = `${dashboard.wallet?.address}:${lease?.renting}`;
    if (key === workspaceFor) return;
    workspaceFor = key;
    stopInstances?.();
    stopInstances = undefined;
    if (!dashboard.wallet) {
      return replace(
        workspace,
        h("p", { class: "hint" }, "Connect a wallet to rent this machine and use it."),
      );
    }
    if (!lease?.renting) {
      return replace(workspace, rentForm(dashboard, nodeId));
    }
    replace(workspace, h("p", { class: "hint" }, "reading the images this machine offers…"));
    try {
      const images = await nodeImages(dashboard, nodeId);
      replace(
        workspace,
        h(
          "div",
          { class: "forms" },
          containerForm(dashboard, nodeId, images, onCreated),
          vmForm(dashboard, nodeId, images, onCreated),
        ),
      );
    } catch (error) {
      replace(workspace, h("p", { class: "error" }, `cannot read the images: ${errorText(error)}`));
    }
    // A typed-in key signs silently, so the list keeps itself fresh; an extension would ask for
    // every read, so its user refreshes by hand.
    stopInstances = dashboard.mayPollSigned
      ? poll(refreshInstances, INSTANCES_REFRESH_MS)
      : (void refreshInstances(), undefined);
  };

  const refresh = async () => {
    let node: MarketNode;
    try {
      node = await dashboard.api.miningNode(nodeId);
    } catch (error) {
      replace(summary, h("p", { class: "error" }, `cannot read this machine: ${errorText(error)}`));
      return;
    }
    const reachability: Reachability = await reach(dashboard, nodeId);
    const account = dashboard.wallet?.address;
    lease = account ? await dashboard.api.lease(nodeId, account).catch(() => undefined) : undefined;
    const now = Date.now();
    replace(
      summary,
      h(
        "div",
        { class: "summary-head" },
        availabilityBadge(node, reachability, lease, now),
        " ",
        leaseText(lease, now),
      ),
      machineFacts(node),
    );
    await drawWorkspace();
  };

  const stopPolling = poll(refresh, MACHINE_REFRESH_MS);
  const stopWatching = dashboard.onWalletChange(() => void refresh());
  return {
    stop() {
      stopPolling();
      stopWatching();
      stopInstances?.();
    },
  };
}

function instanceTable(
  dashboard: Dashboard,
  nodeId: string,
  list: Array<Vm | Container>,
  changed: () => void,
): HTMLElement {
  const live = list.filter((instance) => instance.state !== "deleted")
    .sort((a, b) => b.created_at - a.created_at);
  const refresh = h("button", { class: "refresh", onclick: changed }, "Refresh");
  if (live.length === 0) {
    return h(
      "div",
      {},
      h("h3", {}, "Your instances here ", refresh),
      h("p", { class: "hint" }, "None yet."),
    );
  }
  const now = Date.now();
  return h(
    "div",
    {},
    h("h3", {}, "Your instances here ", refresh),
    h(
      "table",
      { class: "instance-table" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...["Instance", "Kind", "Image", "State", "Created", ""].map((title) =>
            h("th", {}, title)
          ),
        ),
      ),
      h(
        "tbody",
        {},
        ...live.map((instance) =>
          h(
            "tr",
            { "data-instance": instance.id },
            h(
              "td",
              {},
              h("a", { href: `#/machines/${nodeId}/${instance.kind}/${instance.id}` }, instance.id),
            ),
            h("td", {}, instance.kind === "vm" ? "VM" : "container"),
            h("td", {}, instance.image),
            h(
              "td",
              {},
              stateBadge(instance.state),
              instance.last_error ? h("div", { class: "small error" }, instance.last_error) : null,
            ),
            h("td", {}, formatRelative(instance.created_at, now)),
            h("td", {}, actionButtons(dashboard, nodeId, instance, changed)),
          )
        ),
      ),
    ),
  );
}
