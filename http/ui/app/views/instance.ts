/**
 * One of the renter's instances: its state and login details, its actions,
 * the tail of its console (a VM's serial port, a container's output) and its
 * usage over the last minutes as small charts, read every few seconds while
 * the page is open (with a typed-in key; an extension's user refreshes).
 */
import type { ContainerDetail, InstanceUsage, VmDetail } from "../../../../mod/mod.ts";
import { UsageChart } from "../charts.ts";
import { type Dashboard, errorText, poll, type View } from "../context.ts";
import { h, replace } from "../dom.ts";
import { formatBytes, formatMib, formatNumber, formatRelative, shortId } from "../format.ts";
import { UsageHistory } from "../usage.ts";
import { actionButtons, stateBadge } from "./actions.ts";

const DETAIL_REFRESH_MS = 3_000;
const USAGE_REFRESH_MS = 5_000;
const LOG_LINES = 100;
/** Addresses a node listens on for every interface: the renter connects to the machine's own. */
const ANY_ADDRESS = new Set(["0.0.0.0", "::", ""]);

export function instanceView(
  dashboard: Dashboard,
  root: HTMLElement,
  nodeId: string,
  kind: "vm" | "container",
  id: string,
): View {
  const details = h("div", { class: "card" }, h("p", { class: "hint" }, "loading…"));
  const log = h("pre", { class: "log" }, "");
  const charts = {
    cpu: new UsageChart("CPU", (value) => `${formatNumber(value)} %`),
    memory: new UsageChart("Memory", formatBytes),
    net: new UsageChart("Network", (value) => `${formatBytes(value)}/s`),
    disk: new UsageChart("Disk I/O", (value) => `${formatBytes(value)}/s`),
  };
  const usageNote = h("p", { class: "small usage-note" });
  const history = new UsageHistory();
  replace(
    root,
    h(
      "section",
      { class: "instance" },
      h("p", {}, h("a", { href: `#/machines/${nodeId}` }, `← machine ${shortId(nodeId)}`)),
      h("h2", {}, kind === "vm" ? "VM " : "Container ", h("span", { class: "id" }, id)),
      details,
      h("h3", {}, "Usage"),
      h("div", { class: "charts" }, ...Object.values(charts).map((chart) => chart.element)),
      usageNote,
      h(
        "h3",
        {},
        "Console ",
        h("button", { class: "refresh", onclick: () => void refreshLog() }, "Refresh"),
      ),
      log,
    ),
  );
  if (!dashboard.wallet) {
    replace(
      details,
      h("p", { class: "hint" }, "Connect the wallet that made this instance to see it."),
    );
    return { stop() {} };
  }

  const refreshDetails = async () => {
    try {
      const client = dashboard.signed();
      const instance = kind === "vm"
        ? await client.getVm(nodeId, id)
        : await client.getContainer(nodeId, id);
      replace(
        details,
        ...detailRows(instance),
        actionButtons(dashboard, nodeId, instance, () => void refreshDetails()),
      );
    } catch (error) {
      replace(details, h("p", { class: "error" }, errorText(error)));
    }
  };
  const refreshLog = async () => {
    try {
      const client = dashboard.signed();
      const range = { from: "tail" as const, lines: LOG_LINES };
      const text = kind === "vm"
        ? (await client.vmLogs(nodeId, id, range)).lines.join("\n")
        : (await client.containerLogs(nodeId, id, range)).lines.map((line) => line.text).join("\n");
      log.textContent = text || "(nothing yet)";
      log.scrollTop = log.scrollHeight;
    } catch (error) {
      log.textContent = `cannot read the console: ${errorText(error)}`;
    }
  };
  const refreshUsage = async () => {
    let reading: InstanceUsage;
    try {
      const client = dashboard.signed();
      reading = kind === "vm"
        ? await client.vmUsage(nodeId, id)
        : await client.containerUsage(nodeId, id);
    } catch (error) {
      usageNote.textContent = `no reading: ${errorText(error)}`;
      return;
    }
    history.add(reading);
    charts.cpu.update(history.columns((point) => point.cpuPercent));
    charts.memory.update(history.columns((point) => point.memoryBytes));
    charts.net.update(history.columns((point) => point.netBytesPerS));
    charts.disk.update(history.columns((point) => point.diskBytesPerS));
    usageNote.textContent =
      `${history.points.length} readings, one every ${USAGE_REFRESH_MS / 1000} s; ` +
      `CPU in percent of one core (${reading.cpus ?? "?"} available), memory of ${
        formatBytes(reading.memory_limit_bytes)
      }`;
  };

  const stops = dashboard.mayPollSigned
    ? [
      poll(refreshDetails, DETAIL_REFRESH_MS),
      poll(refreshUsage, USAGE_REFRESH_MS),
      poll(refreshLog, USAGE_REFRESH_MS),
    ]
    : [];
  if (!dashboard.mayPollSigned) {
    void refreshDetails().then(refreshLog).then(refreshUsage);
  }
  return {
    stop() {
      for (const stop of stops) stop();
      for (const chart of Object.values(charts)) chart.destroy();
    },
  };
}

function detailRows(instance: VmDetail | ContainerDetail): HTMLElement[] {
  const now = Date.now();
  const rows: Array<[string, Node | string]> = [
    ["State", stateBadge(instance.state)],
    ["Image", instance.image],
    ["Created", formatRelative(instance.created_at, now)],
    [
      "CPU",
      instance.cpu_cores === null
        ? "as the host allows"
        : `${instance.cpu_cores} ${instance.cpu_cores === 1 ? "core" : "cores"}`,
    ],
    [
      "Memory",
      instance.memory_mib === null ? "as the host allows" : formatMib(instance.memory_mib),
    ],
    ["GPUs", instance.gpus.length === 0 ? "none" : instance.gpus.join(", ")],
  ];
  if (instance.last_error) rows.push(["Last error", instance.last_error]);
  rows.push(...(instance.kind === "vm" ? vmLogin(instance) : containerLogin(instance)));
  return [
    h(
      "dl",
      { class: "facts" },
      ...rows.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
    ),
  ];
}

function where(host: string): string {
  return ANY_ADDRESS.has(host) ? "<machine address>" : host;
}

function vmLogin(vm: VmDetail): Array<[string, Node | string]> {
  const rows: Array<[string, Node | string]> = [];
  if (vm.login) {
    const command = vm.login.protocol === "ssh"
      ? `ssh -p ${vm.login.port} ${vm.credentials?.user ?? "<user>"}@${where(vm.login.host)}`
      : `RDP to ${where(vm.login.host)}:${vm.login.port}`;
    rows.push(["Log in", h("code", { class: "login" }, command)]);
  }
  if (vm.credentials) {
    rows.push(["User", vm.credentials.user]);
    rows.push(["Password", secret(vm.credentials.password)]);
    rows.push([
      "SSH",
      vm.credentials.password_ssh ? "password or key" : "keys only",
    ]);
  }
  if (vm.hypervisor.state === "present" && vm.hypervisor.addresses.length > 0) {
    rows.push(["Guest addresses", vm.hypervisor.addresses.join(", ")]);
  }
  return rows;
}

function containerLogin(container: ContainerDetail): Array<[string, Node | string]> {
  if (container.ports.length === 0) return [["Ports", "none published"]];
  return [[
    "Ports",
    h(
      "ul",
      { class: "ports" },
      ...container.ports.map((port) =>
        h(
          "li",
          {},
          h("code", {}, `<machine address>:${port.host_port}`),
          ` → ${port.container_port}/${port.protocol}`,
          port.container_port === 22
            ? h("code", { class: "login" }, ` ssh -p ${port.host_port} root@<machine address>`)
            : null,
        )
      ),
    ),
  ]];
}

/** A secret shown only when asked. */
function secret(value: string): HTMLElement {
  const text = h("code", { class: "secret" }, "••••••••");
  const button = h("button", {
    class: "reveal",
    onclick: () => {
      const shown = text.textContent === value;
      text.textContent = shown ? "••••••••" : value;
      button.textContent = shown ? "show" : "hide";
    },
  }, "show");
  return h("span", {}, text, " ", button);
}
