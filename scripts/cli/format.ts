/**
 * How the renter CLI shows answers to a person: aligned tables for lists,
 * `key  value` lines for one object (nested fields dotted), times in ISO
 * form. Pure text functions; `--json` bypasses them all. Answers of routes
 * served by other nodes (GPU node listings, VMs) are read leniently, by the
 * field names they are known or likely to use, so an older or newer node
 * still prints something sensible.
 */
import type { ServerSentEvent } from "../../http/mod.ts";

type Json = { [field: string]: unknown };
const NONE = "(none)";
const EMPTY_CELL = "-";

/** Columns padded to their widest cell, two spaces apart; `(none)` for no rows. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return NONE;
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length))
  );
  const line = (cells: readonly string[]) =>
    cells.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/** `key  value` lines of an object, nested objects flattened to `a.b`, arrays of scalars joined. */
export function keyValues(object: unknown): string {
  const pairs: [string, string][] = [];
  const walk = (value: unknown, prefix: string) => {
    if (isObject(value) && Object.keys(value).length > 0) {
      for (const [key, item] of Object.entries(value)) {
        walk(item, prefix ? `${prefix}.${key}` : key);
      }
      return;
    }
    if (Array.isArray(value) && value.some((item) => isObject(item) || Array.isArray(item))) {
      value.forEach((item, index) => walk(item, `${prefix}[${index}]`));
      return;
    }
    pairs.push([prefix || "value", cell(value, prefix)]);
  };
  walk(object, "");
  if (pairs.length === 0) return NONE;
  const width = Math.max(...pairs.map(([key]) => key.length));
  return pairs.map(([key, value]) => `${key.padEnd(width)}  ${value}`.trimEnd()).join("\n");
}

/** A scalar as a cell: times (fields ending `_at`, `since`) in ISO form, null as `-`. */
export function cell(value: unknown, field = ""): string {
  if (value === null || value === undefined || value === "") return EMPTY_CELL;
  if (typeof value === "number" && /(_at|since|^at)$/.test(field) && value > 1e11) {
    return new Date(value).toISOString();
  }
  if (Array.isArray(value)) {
    return value.length === 0 ? EMPTY_CELL : value.map((v) => cell(v)).join(",");
  }
  if (isObject(value)) return JSON.stringify(value);
  return String(value);
}

/** `GET /api/v1/node`. */
export function formatNode(info: Json): string {
  const workers = isObject(info.workers)
    ? Object.entries(info.workers).map(([name, worker]) =>
      `${name}=${isObject(worker) ? cell(worker.state) : cell(worker)}`
    ).join(" ")
    : EMPTY_CELL;
  const gpus = Array.isArray(info.gpus) ? info.gpus.filter(isObject) : [];
  const gpuStatus = isObject(info.gpu_status) ? info.gpu_status : {};
  const engine = isObject(info.container_engine) ? info.container_engine : {};
  return keyValues({
    node_id: info.node_id,
    role: info.role,
    version: info.version,
    network_id: info.network_id,
    uptime_s: info.uptime_s,
    workers,
    gpus: gpus.length > 0
      ? gpus.map((gpu) => `${cell(gpu.index)}:${cell(gpu.name)}`).join(", ")
      : `0 (${cell(gpuStatus.reason ?? gpuStatus.state)})`,
    container_engine: engine.state === "available"
      ? `${cell(engine.engine)} ${cell(engine.version)}`
      : `${cell(engine.state)} (${cell(engine.reason)})`,
  });
}

/** `GET /api/v1/peers/active` or `/global`. */
export function formatPeers(list: Json): string {
  const peers = arrayOf(list, "peers");
  return table(
    ["NODE_ID", "TYPE", "ADDRESS", "STATE", "RTT_MS"],
    peers.map((peer) => [
      cell(peer.id),
      cell(peer.node_type),
      `${cell(peer.ip)}:${cell(peer.port)}`,
      cell(peer.state),
      cell(peer.rtt_ms),
    ]),
  );
}

/** `GET /api/v1/mining_nodes`: the GPU nodes of the network, as they announced themselves. */
export function formatMiningNodes(list: unknown): string {
  return table(
    ["NODE_ID", "GPUS", "CPU", "MEMORY", "DISK", "STATE", "PRICE"],
    arrayOf(list, "nodes").map((node) => [
      cell(node.node_id),
      marketGpus(node),
      cpuSummary(node),
      mibAsGib(node.memory_total_mib),
      isObject(node.disk)
        ? `${cell(node.disk.total_gib)} GiB (${cell(node.disk.free_gib)} free)`
        : EMPTY_CELL,
      cell(node.state),
      node.price_per_hour === null || node.price_per_hour === undefined
        ? EMPTY_CELL
        : `${cell(node.price_per_hour)}/hour`,
    ]),
  );
}

/** One GPU node as announced: its fields, with the GPU groups summed up. */
export function formatMiningNode(node: Json): string {
  const { gpus: _gpus, ...rest } = node;
  return keyValues({ ...rest, gpus: marketGpus(node) });
}

/** `GET /api/v1/ledger/machines`. */
export function formatLedgerMachines(list: Json): string {
  return table(
    ["MACHINE_ID", "STATUS", "GPUS", "CPU", "MEMORY", "DISK", "PRICES", "OWNER"],
    arrayOf(list, "machines").map((machine) => [
      cell(machine.machine_id),
      cell(machine.status),
      gpuSummary(machine),
      cpuSummary(machine),
      sizeSummary(pick(machine, "memory_gib")),
      sizeSummary(pick(machine, "disk_gib")),
      priceSummary(machine.prices),
      cell(machine.owner),
    ]),
  );
}

/** A rental: what was paid and until when. */
export function formatRental(rental: Json): string {
  const { payments, ...rest } = rental;
  const count = Array.isArray(payments) ? payments.length : 0;
  return keyValues({ ...rest, payments: count });
}

/** `GET /api/v1/tasks` or `/containers`: the renter's instances on one node. */
export function formatInstances(list: unknown): string {
  const items = Array.isArray(list)
    ? list.filter(isObject)
    : arrayOf(list, "tasks", "containers", "vms", "instances");
  return table(
    ["ID", "STATE", "IMAGE", "CPUS", "MEMORY_MIB", "GPUS", "LOGIN"],
    items.map((item) => [
      cell(pick(item, "task_id", "id", "container_id")),
      cell(pick(item, "state", "status")),
      cell(pick(item, "image", "image_name")),
      cell(pick(item, "cpu_cores")),
      cell(pick(item, "memory_mib")),
      Array.isArray(item.gpus) ? String(item.gpus.length) : cell(pick(item, "gpu_count", "gpus")),
      loginSummary(item),
    ]),
  );
}

/** A VM's snapshots, one a row. */
export function formatSnapshots(list: unknown): string {
  return table(
    ["NAME", "CREATED_AT", "DISK_GIB", "DESCRIPTION"],
    arrayOf(list, "snapshots").map((item) => [
      cell(item.name),
      cell(item.created_at, "created_at"),
      typeof item.disk_bytes === "number" ? String(item.disk_bytes / 2 ** 30) : cell(undefined),
      cell(item.description),
    ]),
  );
}

/** Log lines as they are: plain strings, or `{stream, text}` with stderr marked. */
export function formatLogs(answer: unknown): string {
  const lines = isObject(answer) && Array.isArray(answer.lines) ? answer.lines : [];
  const text = lines.map((line) =>
    isObject(line) ? `${line.stream === "stderr" ? "! " : ""}${cell(line.text)}` : String(line)
  );
  if (isObject(answer) && answer.truncated === true) text.push("(truncated)");
  return text.join("\n");
}

/**
 * One progress event of an operation, on one line: its name, then, for an
 * operation, what it is about and its latest message (and its error), or
 * else the data as sent.
 */
export function formatEvent(event: ServerSentEvent): string {
  let data: unknown = event.data;
  try {
    data = JSON.parse(event.data);
  } catch {
    return `${event.event} ${event.data}`;
  }
  if (isObject(data) && Array.isArray(data.events)) {
    const last = data.events.at(-1);
    const error = isObject(data.error)
      ? ` (${cell(data.error.code)}: ${cell(data.error.message)})`
      : "";
    const message = isObject(last) ? cell(last.message) : EMPTY_CELL;
    return `${event.event} ${cell(data.kind)} ${cell(data.target)}: ${message}${error}`;
  }
  if (isObject(data) && typeof data.message === "string") return `${event.event} ${data.message}`;
  return `${event.event} ${JSON.stringify(data)}`;
}

/** The JSON line `--json` prints for one event: its data parsed when it is JSON. */
export function eventAsJson(event: ServerSentEvent): string {
  let data: unknown = event.data;
  try {
    data = JSON.parse(event.data);
  } catch {
    // Not JSON: kept as text.
  }
  return JSON.stringify({ event: event.event, id: event.id ?? null, data });
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function arrayOf(list: unknown, ...fields: string[]): Json[] {
  if (!isObject(list)) return [];
  for (const field of fields) {
    const value = list[field];
    if (Array.isArray(value)) return value.filter(isObject);
  }
  return [];
}

/** The first of `fields` present on the object or inside its `config`/`machine`/`hardware`. */
function pick(object: Json, ...fields: string[]): unknown {
  for (const holder of [object, object.config, object.machine, object.hardware]) {
    if (!isObject(holder)) continue;
    for (const field of fields) {
      if (holder[field] !== undefined && holder[field] !== null) return holder[field];
    }
  }
  return undefined;
}

function gpuSummary(object: Json): string {
  const gpus = pick(object, "gpus", "gpu");
  if (Array.isArray(gpus)) {
    const names = gpus.map((gpu) => isObject(gpu) ? cell(gpu.name ?? gpu.model) : cell(gpu));
    return names.length === 0 ? "0" : `${names.length}x ${[...new Set(names)].join("/")}`;
  }
  if (isObject(gpus)) return `${cell(gpus.count)}x ${cell(gpus.model ?? gpus.name)}`;
  const count = pick(object, "gpu_count");
  const model = pick(object, "gpu_model");
  if (count === undefined && model === undefined) return cell(gpus);
  return count === 0 ? "0" : `${cell(count)}x ${cell(model)}`;
}

function cpuSummary(object: Json): string {
  const cpu = pick(object, "cpu");
  if (isObject(cpu)) return `${cell(cpu.cores)}x ${cell(cpu.model)}`;
  const cores = pick(object, "cpu_cores");
  const model = pick(object, "cpu_model");
  if (cores === undefined && model === undefined) return cell(cpu);
  return `${cell(cores)}x ${cell(model)}`;
}

/** `2x NVIDIA H100 80GB HBM3 (80 GiB)`, groups joined by `+`. */
function marketGpus(node: Json): string {
  const groups = Array.isArray(node.gpus) ? node.gpus.filter(isObject) : [];
  if (groups.length === 0) return cell(node.gpu_count ?? 0);
  return groups.map((group) => {
    const memory = typeof group.memory_total_mib === "number"
      ? ` (${mibAsGib(group.memory_total_mib)})`
      : "";
    return `${cell(group.count)}x ${cell(group.model)}${memory}`;
  }).join("+");
}

function mibAsGib(value: unknown): string {
  return typeof value === "number" ? `${Math.round(value / 1024)} GiB` : cell(value);
}

function sizeSummary(value: unknown): string {
  return typeof value === "number" ? `${value} GiB` : cell(value);
}

function priceSummary(prices: unknown): string {
  if (!isObject(prices)) return cell(prices);
  const parts = Object.entries(prices).filter(([, price]) => price !== undefined && price !== null)
    .map(([unit, price]) => `${cell(price)}/${unit}`);
  return parts.length > 0 ? parts.join(" ") : EMPTY_CELL;
}

function loginSummary(item: Json): string {
  const login = item.login;
  if (isObject(login)) return `${cell(login.protocol)}://${cell(login.host)}:${cell(login.port)}`;
  const ports = item.ports;
  if (Array.isArray(ports) && ports.length > 0) {
    return ports.filter(isObject).map((port) =>
      `${cell(port.host_port)}->${cell(port.container_port)}`
    ).join(",");
  }
  return EMPTY_CELL;
}
