/**
 * An instance being made, as it happens: the operation's events (server-sent,
 * through the client-end, signed once), the time it has taken, and the
 * instance's own state as the GPU node reports it.
 */
import type { Operation } from "../../../client.ts";
import { type Dashboard, errorText } from "../context.ts";
import { h, replace } from "../dom.ts";
import { formatDuration } from "../format.ts";

const TICK_MS = 1_000;

export type Creation = {
  kind: "vm" | "container";
  nodeId: string;
  taskId: string;
  operationId: string;
};

/** A panel that follows `creation` until its operation ends; `onEnd` is called then. */
export function progressPanel(
  dashboard: Dashboard,
  creation: Creation,
  onEnd: (state: "done" | "failed") => void,
): HTMLElement {
  const started = Date.now();
  const state = h("span", { class: "badge busy" }, "running");
  const elapsed = h("span", { class: "elapsed" }, "0 s");
  const bar = h("div", { class: "bar running" });
  const events = h("ol", { class: "events" });
  const link = h("span", {});
  const panel = h(
    "div",
    { class: "progress", "data-task": creation.taskId },
    h(
      "div",
      {},
      h("strong", {}, `Creating ${creation.kind} ${creation.taskId}`),
      " ",
      state,
      " ",
      elapsed,
    ),
    h("div", { class: "track" }, bar),
    events,
    link,
  );
  const timer = setInterval(
    () => (elapsed.textContent = formatDuration(Date.now() - started)),
    TICK_MS,
  );
  const show = (operation: Operation) => {
    replace(
      events,
      ...operation.events.map((event) =>
        h("li", {}, `${formatDuration(event.at - operation.started_at)}  ${event.message}`)
      ),
    );
  };
  const finish = (final: "done" | "failed", message?: string) => {
    clearInterval(timer);
    state.textContent = final;
    state.className = `badge ${final === "done" ? "good" : "bad"}`;
    bar.className = `bar ${final}`;
    if (message) events.append(h("li", { class: "error" }, message));
    replace(
      link,
      h(
        "a",
        { href: `#/machines/${creation.nodeId}/${creation.kind}/${creation.taskId}` },
        `Open ${creation.taskId}`,
      ),
    );
    onEnd(final);
  };
  void (async () => {
    try {
      for await (
        const event of dashboard.signed().operationEvents(creation.nodeId, creation.operationId)
      ) {
        let operation: Operation | undefined;
        try {
          operation = JSON.parse(event.data) as Operation;
        } catch {
          continue;
        }
        if (event.event === "error" || !operation?.events) {
          return finish("failed", `cannot follow the operation: ${event.data}`);
        }
        show(operation);
        if (operation.state !== "running") {
          return finish(operation.state, operation.error?.message);
        }
      }
      finish("failed", "the progress stream ended early");
    } catch (error) {
      finish("failed", errorText(error));
    }
  })();
  return panel;
}
