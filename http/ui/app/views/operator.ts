/**
 * The operator's page of this node, for its own machine: the node's status,
 * its metrics at a glance (charts of peers, requests, memory and event-loop
 * lag from `GET /metrics`, read every few seconds) and the event log. The
 * operator endpoints answer only on the loopback interface, with the token
 * from `<data_dir>/operator.token`, which the operator types in; it stays in
 * this page's memory.
 */
import type { z } from "zod";
import type { EventListSchema } from "../../../../mod/mod.ts";
import { ApiClient } from "../../../client.ts";
import type { OperatorStatusSchema } from "../../../routes/operator.ts";
import { UsageChart } from "../charts.ts";
import { type Dashboard, errorText, poll, randomNonce, type View } from "../context.ts";
import { field, h, replace } from "../dom.ts";
import { formatBytes, formatDuration, formatNumber, formatTime } from "../format.ts";
import { largest, parseMetricsText, total } from "../metrics_text.ts";

const REFRESH_MS = 5_000;
const EVENTS_SHOWN = 50;
const HISTORY_POINTS = 120;

/** The token typed in, kept while the page is open (not stored anywhere). */
let operatorToken = "";

type Status = z.infer<typeof OperatorStatusSchema>;
type EventList = z.infer<typeof EventListSchema>;
type LoggedEvent = EventList["events"][number];

export function operatorView(dashboard: Dashboard, root: HTMLElement): View {
  const body = h("div", {});
  replace(
    root,
    h(
      "section",
      { class: "operator" },
      h("h2", {}, "This node (operator)"),
      h(
        "p",
        { class: "hint" },
        "Answers only on the node's loopback interface, with its operator token " +
          "(the content of <data_dir>/operator.token).",
      ),
      body,
    ),
  );
  let stop: (() => void) | undefined;
  const showLogin = (message = "") => {
    const form = h(
      "form",
      { class: "token" },
      h("input", {
        name: "token",
        type: "password",
        placeholder: "operator token",
        "aria-label": "operator token",
      }),
      h("button", { type: "submit", class: "primary" }, "Open"),
      h("span", { class: "status" }, message),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      operatorToken = field(form, "token");
      showPage();
    });
    replace(body, form);
  };
  const showPage = () => {
    stop?.();
    stop = operatorPage(dashboard, body, (message) => {
      stop?.();
      operatorToken = "";
      showLogin(message);
    });
  };
  if (operatorToken) showPage();
  else showLogin();
  return { stop: () => stop?.() };
}

function operatorPage(
  dashboard: Dashboard,
  body: HTMLElement,
  refused: (message: string) => void,
): () => void {
  const client = new ApiClient({ baseUrl: dashboard.baseUrl, nonce: randomNonce });
  const headers = { authorization: `Bearer ${operatorToken}` };
  const status = h("div", { class: "card" }, "loading…");
  const charts = {
    peers: new UsageChart("Peers", formatNumber),
    requests: new UsageChart("API requests", (value) => `${formatNumber(value)}/s`),
    memory: new UsageChart("Resident memory", formatBytes),
    lag: new UsageChart("Event-loop lag, p99", (value) => `${formatNumber(value * 1000)} ms`),
  };
  const events = h("div", { class: "events-wrap" });
  replace(
    body,
    status,
    h("h3", {}, "Metrics"),
    h("div", { class: "charts" }, ...Object.values(charts).map((chart) => chart.element)),
    h("h3", {}, "Event log"),
    events,
  );
  const times: number[] = [];
  const series = {
    peers: [] as (number | null)[],
    requests: [] as (number | null)[],
    memory: [] as (number | null)[],
    lag: [] as (number | null)[],
  };
  let lastRequests: { at: number; count: number } | undefined;

  const refresh = async () => {
    let state: Status;
    let log: EventList;
    try {
      [state, log] = await Promise.all([
        client.request<Status>("GET", "/api/v1/operator/status", { headers }),
        client.request<EventList>("GET", "/api/v1/operator/events", {
          headers,
          query: { limit: EVENTS_SHOWN },
        }),
      ]);
    } catch (error) {
      return refused(errorText(error));
    }
    replace(status, statusFacts(state));
    replace(events, eventTable(log.events));
    try {
      const response = await fetch(`${dashboard.baseUrl}/metrics`);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const samples = parseMetricsText(await response.text());
      const now = Date.now();
      const requests = total(samples, "dbc_http_requests_total");
      times.push(now / 1000);
      series.peers.push(total(samples, "dbc_p2p_peers"));
      series.requests.push(
        requests !== null && lastRequests
          ? (requests - lastRequests.count) / ((now - lastRequests.at) / 1000)
          : null,
      );
      series.memory.push(largest(samples, "process_resident_memory_bytes"));
      series.lag.push(largest(samples, "nodejs_eventloop_lag_p99_seconds"));
      if (requests !== null) lastRequests = { at: now, count: requests };
      if (times.length > HISTORY_POINTS) {
        times.shift();
        for (const values of Object.values(series)) values.shift();
      }
      for (const [name, chart] of Object.entries(charts)) {
        chart.update([times, series[name as keyof typeof series]]);
      }
    } catch (error) {
      charts.peers.element.title = `no metrics: ${errorText(error)}`;
    }
  };
  const stopPolling = poll(refresh, REFRESH_MS);
  return () => {
    stopPolling();
    for (const chart of Object.values(charts)) chart.destroy();
  };
}

function statusFacts(state: Status): HTMLElement {
  const counts = (byState: Partial<Record<string, number>>) =>
    Object.entries(byState).map(([name, count]) => `${count} ${name}`).join(", ") || "none";
  const workers = Object.entries(state.node.workers)
    .map(([name, worker]) =>
      `${name} ${worker.state}${worker.restarts ? ` (${worker.restarts} restarts)` : ""}`
    )
    .join(", ");
  const rows: Array<[string, string]> = [
    ["Node", state.node.node_id],
    ["Role", `${state.node.role}, ${state.node.network_id}, v${state.node.version}`],
    ["Up", formatDuration(state.node.uptime_s * 1000)],
    ["Workers", workers],
    [
      "Peers",
      state.network
        ? `${state.network.connected_peers} connected, ${state.network.known_peers ?? "?"} known`
        : "the network worker does not answer",
    ],
    ["VMs", counts(state.vms)],
    ["Containers", counts(state.containers)],
    ["GPUs in use", String(state.gpus_allocated)],
  ];
  return h(
    "dl",
    { class: "facts" },
    ...rows.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
  );
}

function eventTable(events: LoggedEvent[]): HTMLElement {
  if (events.length === 0) return h("p", { class: "hint" }, "No events yet.");
  return h(
    "table",
    { class: "event-table" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ...["Time", "Action", "Target", "Actor", "Result", "Detail"].map((title) =>
          h("th", {}, title)
        ),
      ),
    ),
    h(
      "tbody",
      {},
      ...events.map((event) =>
        h(
          "tr",
          { class: event.result === "error" ? "error" : "" },
          h("td", {}, formatTime(event.at)),
          h("td", {}, event.action),
          h("td", {}, event.target ?? ""),
          h("td", { class: "small" }, event.actor),
          h("td", {}, event.result),
          h("td", { class: "small detail" }, JSON.stringify(event.detail)),
        )
      ),
    ),
  );
}
