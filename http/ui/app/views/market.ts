/**
 * The market: every GPU node this client-end has heard announce itself, with
 * its GPUs, CPU, memory, disk, price, ledger state and whether it can be had
 * now (the state, a ping through the network, the announcement's age, and
 * whether the connected wallet rents it), refreshed every few seconds.
 */
import type { LeaseCheckResult, MarketNode } from "../../../../mod/mod.ts";
import { type Dashboard, errorText, poll, type View } from "../context.ts";
import { h, replace } from "../dom.ts";
import { formatGpus, formatMib, type Reachability, shortId } from "../format.ts";
import {
  availabilityBadge,
  cpuText,
  diskText,
  leaseText,
  priceText,
  reach,
} from "./machine_facts.ts";
import { rentForm } from "./rent.ts";

const REFRESH_MS = 10_000;

type Row = { node: MarketNode; reach: Reachability; lease?: LeaseCheckResult };

export function marketView(dashboard: Dashboard, root: HTMLElement): View {
  const table = h("div", { class: "table-wrap" }, h("p", { class: "hint" }, "loading…"));
  const panel = h("div", { class: "panel-slot" });
  replace(
    root,
    h(
      "section",
      { class: "market" },
      h("h2", {}, "Market"),
      h(
        "p",
        { class: "hint" },
        "GPU nodes announced on the network. Availability combines the machine's ledger state, a " +
          "ping through the network and how recently it announced itself.",
      ),
      table,
      panel,
    ),
  );
  let rows: Row[] = [];
  const openRent = (nodeId: string) =>
    replace(panel, rentForm(dashboard, nodeId, () => replace(panel)));
  const draw = () => replace(table, marketTable(rows, Date.now(), dashboard, openRent));

  const refresh = async () => {
    try {
      const { nodes } = await dashboard.api.miningNodes();
      const account = dashboard.wallet?.address;
      rows = await Promise.all(nodes.map(async (node): Promise<Row> => ({
        node,
        reach: await reach(dashboard, node.node_id),
        lease: account
          ? await dashboard.api.lease(node.node_id, account).catch(() => undefined)
          : undefined,
      })));
      draw();
    } catch (error) {
      replace(table, h("p", { class: "error" }, `cannot read the market: ${errorText(error)}`));
    }
  };
  const stopPolling = poll(refresh, REFRESH_MS);
  const stopWatching = dashboard.onWalletChange(() => void refresh());
  return {
    stop() {
      stopPolling();
      stopWatching();
    },
  };
}

function marketTable(
  rows: Row[],
  nowMs: number,
  dashboard: Dashboard,
  openRent: (nodeId: string) => void,
): HTMLElement {
  if (rows.length === 0) {
    return h("p", { class: "hint" }, "No GPU node has announced itself yet.");
  }
  const head = ["Machine", "GPU", "CPU", "Memory", "Disk", "Price", "State", "Availability", ""];
  return h(
    "table",
    { class: "market-table" },
    h("thead", {}, h("tr", {}, ...head.map((title) => h("th", {}, title)))),
    h(
      "tbody",
      {},
      ...rows.map(({ node, reach, lease }) =>
        h(
          "tr",
          { "data-node": node.node_id },
          h(
            "td",
            { class: "id", title: node.node_id },
            h("a", { href: `#/machines/${node.node_id}` }, shortId(node.node_id)),
          ),
          h("td", {}, formatGpus(node)),
          h("td", {}, cpuText(node)),
          h("td", { class: "num" }, formatMib(node.memory_total_mib)),
          h("td", { class: "num" }, diskText(node)),
          h("td", { class: "num" }, priceText(node)),
          h("td", { class: "state" }, node.state),
          h(
            "td",
            { class: "availability" },
            availabilityBadge(node, reach, lease, nowMs),
            lease?.renting ? h("div", { class: "small" }, leaseText(lease, nowMs)) : null,
          ),
          h(
            "td",
            { class: "actions" },
            dashboard.wallet && node.state === "online" && !lease?.renting
              ? h("button", { class: "rent-open", onclick: () => openRent(node.node_id) }, "Rent…")
              : null,
            h("a", { class: "button", href: `#/machines/${node.node_id}` }, "Open"),
          ),
        )
      ),
    ),
  );
}
