/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="dom.asynciterable" />
/// <reference lib="esnext" />
/**
 * The dashboard's entry point (bundled by `deno task ui:build`): the page's
 * frame (this node, the wallet, messages) and the views, chosen by the
 * address's fragment: `#/` the market, `#/machines/<node>` a machine,
 * `#/machines/<node>/<vm|container>/<id>` an instance, `#/operator` the
 * operator's page of this node.
 */
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { Dashboard, type Tone, type View } from "./context.ts";
import { h, replace } from "./dom.ts";
import { shortId } from "./format.ts";
import { instanceView } from "./views/instance.ts";
import { machineView } from "./views/machine.ts";
import { marketView } from "./views/market.ts";
import { operatorView } from "./views/operator.ts";
import { walletPanel } from "./views/wallet_panel.ts";

/** How long a message stays on screen. */
const MESSAGE_MS = 8_000;

function start(): void {
  const app = document.getElementById("app")!;
  const messages = h("div", { class: "messages", role: "status", "aria-live": "polite" });
  const notify = (text: string, tone: Tone = "info") => {
    const message = h("div", { class: `message ${tone}` }, text);
    messages.append(message);
    setTimeout(() => message.remove(), MESSAGE_MS);
  };
  const dashboard = new Dashboard(location.origin, notify);
  const nodeLine = h("span", { class: "node" });
  const main = h("main", {});
  replace(
    app,
    h(
      "header",
      {},
      h("h1", {}, h("a", { href: "#/" }, "DBC")),
      h("nav", {}, h("a", { href: "#/" }, "Market"), h("a", { href: "#/operator" }, "Operator")),
      nodeLine,
      walletPanel(dashboard),
    ),
    messages,
    main,
  );
  dashboard.api.node().then(
    (node) => {
      nodeLine.textContent = `${node.role} ${
        shortId(node.node_id)
      } · ${node.network_id} · v${node.version}`;
      nodeLine.title = node.node_id;
    },
    () => (nodeLine.textContent = "this node does not answer"),
  );

  let view: View | undefined;
  const route = () => {
    view?.stop();
    const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(
      decodeURIComponent,
    );
    const [section, nodeId, kind, id] = parts;
    document.body.dataset.view = section ?? "market";
    if (section === "machines" && nodeId && (kind === "vm" || kind === "container") && id) {
      view = instanceView(dashboard, main, nodeId, kind, id);
    } else if (section === "machines" && nodeId) {
      view = machineView(dashboard, main, nodeId);
    } else if (section === "operator") {
      view = operatorView(dashboard, main);
    } else {
      view = marketView(dashboard, main);
    }
  };
  addEventListener("hashchange", route);
  route();
}

start();
