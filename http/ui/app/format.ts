/**
 * How the dashboard writes numbers, sizes, times and machine states: pure
 * functions, tested without a browser (tests/http/ui_format_test.ts).
 */
import type { MarketNode } from "../../../mod/mod.ts";

const MIB_PER_GIB = 1024;
const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

/** `12D3KooWAbc…xyz123`: enough of a long id to tell it apart. */
export function shortId(id: string, head = 10, tail = 6): string {
  return id.length <= head + tail + 1 ? id : `${id.slice(0, head)}…${id.slice(-tail)}`;
}

/** Mebibytes as people read them: `512 MiB`, `80 GiB`, `1.5 GiB`. */
export function formatMib(mib: number | null | undefined): string {
  if (mib === null || mib === undefined) return "—";
  if (mib < MIB_PER_GIB) return `${Math.round(mib)} MiB`;
  const gib = mib / MIB_PER_GIB;
  return `${Number.isInteger(gib) || gib >= 100 ? Math.round(gib) : gib.toFixed(1)} GiB`;
}

/** Bytes in the largest binary unit that keeps the number at least 1: `3.2 MiB`. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "—";
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || Math.abs(value) >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${BYTE_UNITS[unit]}`;
}

/** A number with as many decimals as its size needs: `0.25`, `3.4`, `120`. */
export function formatNumber(value: number): string {
  const size = Math.abs(value);
  const digits = size === 0 || size >= 100 ? 0 : size >= 10 ? 1 : 2;
  return Number(value.toFixed(digits)).toString();
}

/**
 * A command line as arguments, split at spaces as a shell would, with `'…'` and `"…"` keeping
 * spaces (no variables, no escapes but `\"` inside double quotes). Throws on an unclosed quote.
 */
export function splitCommand(text: string): string[] {
  const args: string[] = [];
  let current: string | undefined;
  let quote: "'" | '"' | undefined;
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (quote) {
      if (char === quote) {
        quote = undefined;
      } else if (quote === '"' && char === "\\" && text[index + 1] === '"') {
        current += '"';
        index++;
      } else {
        current += char;
      }
    } else if (char === "'" || char === '"') {
      quote = char;
      current ??= "";
    } else if (/\s/.test(char)) {
      if (current !== undefined) args.push(current);
      current = undefined;
    } else {
      current = (current ?? "") + char;
    }
  }
  if (quote) throw new Error(`unclosed ${quote} in the command`);
  if (current !== undefined) args.push(current);
  return args;
}

/** A duration in the largest whole unit: `45 s`, `3 min`, `2 h`, `4 d`. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 90) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.round(hours / 24)} d`;
}

/** `12 s ago` for a time in the past, `in 3 min` for one to come. */
export function formatRelative(atMs: number, nowMs: number): string {
  return atMs <= nowMs
    ? `${formatDuration(nowMs - atMs)} ago`
    : `in ${formatDuration(atMs - nowMs)}`;
}

/** A local date and time, to the minute. */
export function formatTime(atMs: number): string {
  const date = new Date(atMs);
  const pad = (value: number) => String(value).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${
    pad(date.getHours())
  }:${pad(date.getMinutes())}`;
}

/** An amount in the ledger's smallest unit (an integer as text), with thin groups: `1 200`. */
export function formatAmount(amount: string | null | undefined): string {
  if (amount === null || amount === undefined || amount === "") return "—";
  return /^\d+$/.test(amount) ? amount.replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f") : amount;
}

/** A machine's GPUs: `2 × NVIDIA H100 80GB HBM3, 80 GiB each`, or why there are none. */
export function formatGpus(node: Pick<MarketNode, "gpus" | "gpu_status">): string {
  if (node.gpus.length === 0) {
    return node.gpu_status === "error" ? "GPUs unreadable" : "no GPU";
  }
  return node.gpus.map((group) =>
    `${group.count} × ${group.model}${
      group.memory_total_mib === null ? "" : `, ${formatMib(group.memory_total_mib)} each`
    }`
  ).join("; ");
}

/** How a machine can be had now, in one word and a tone for its badge. */
export type Availability = {
  label: string;
  tone: "good" | "busy" | "bad" | "idle";
  detail: string;
};

/** What a ping through the network said of a node: its round trip, or why it failed. */
export type Reachability =
  | { kind: "reachable"; rttMs: number; route: string }
  | { kind: "unreachable"; reason: string }
  | { kind: "unknown" };

/**
 * A machine's availability now, from the ledger state it announced, whether
 * its announcement is fresh, whether it answers a ping, and whether the
 * connected wallet rents it: no single node answer says all of it.
 */
export function availability(
  node: Pick<MarketNode, "state" | "received_at" | "announce_interval_s">,
  reach: Reachability,
  rentedByMe: boolean,
  nowMs: number,
): Availability {
  const heard = `announced ${formatRelative(node.received_at, nowMs)}`;
  if (reach.kind === "unreachable") {
    return { label: "unreachable", tone: "bad", detail: `${reach.reason}; ${heard}` };
  }
  const pinged = reach.kind === "reachable"
    ? `answers in ${Math.round(reach.rttMs)} ms (${reach.route}); ${heard}`
    : heard;
  // Two missed announcements: it may be gone, though it is still listed.
  if (nowMs - node.received_at > 2 * node.announce_interval_s * 1000) {
    return { label: "silent", tone: "bad", detail: pinged };
  }
  if (rentedByMe) return { label: "rented by you", tone: "good", detail: pinged };
  switch (node.state) {
    case "online":
      return { label: "available", tone: "good", detail: pinged };
    case "leased":
      return { label: "rented", tone: "busy", detail: pinged };
    case "unverified":
    case "verifying":
      return { label: "being verified", tone: "idle", detail: pinged };
    case "unregistered":
      return { label: "not registered", tone: "idle", detail: pinged };
    case "failed":
    case "offline":
      return { label: "unavailable", tone: "bad", detail: pinged };
    case "unknown":
      return { label: "state unknown", tone: "idle", detail: pinged };
  }
}
