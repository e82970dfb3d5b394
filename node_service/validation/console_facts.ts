/**
 * What a check VM's guest reported, read back from its console log: the
 * `DBC-CHECK` lines the check script (check_script.ts) printed, turned into
 * facts a validator compares with the owner's declaration. Pure.
 *
 * The console is the guest's to write, and the kernel prints there too, so a
 * line may be cut, interleaved or made up: this never throws, looks at a
 * bounded number of lines of bounded length, takes only values of the form
 * each key expects, and says which facts it did not get. The first complete
 * report counts (a guest that reboots prints another).
 */
import type { CheckFacts, CheckObserved } from "../../mod/mod.ts";
import {
  EMULATED_DISPLAY_DEVICES,
  MAX_BLOCK_DEVICES,
  MAX_CHECK_LINE_CHARS,
  MAX_CHECK_LINES,
  MAX_CONSOLE_LINES,
  MAX_NVIDIA_SMI_LINES,
  MAX_PCI_DEVICES,
} from "./constants.ts";

const BEGIN = "DBC-CHECK-BEGIN";
const END = "DBC-CHECK-END";
const FACT = "DBC-CHECK ";
const KIB = 1024;
const GIB = 1024 ** 3;
/** Devices in /sys/block that are no disk of the VM's. */
const NOT_A_DISK = /^(loop|ram|zram|sr|fd|nbd)\d*$/;
const DEVICE_NAME = /^[A-Za-z0-9:._-]{1,64}$/;
const PCI_ID = /^0x[0-9a-f]{4}$/;
const PCI_CLASS = /^0x[0-9a-f]{6}$/;

type RawReport = {
  nproc?: number;
  cpuModel?: string;
  memTotalKb?: number;
  /** Bytes per device: from /sys/block (sectors) or /proc/partitions (kB). */
  disks: Map<string, number>;
  pci: Array<{ vendor: string; device: string; class: string }>;
  nvidiaSmi: string[];
};

/** The facts in `lines` (a console log, oldest first): `booting` until a whole report is there. */
export function parseCheckConsole(lines: readonly string[]): CheckFacts {
  const report = firstReport(lines);
  return report ? { state: "ready", observed: observedFrom(report) } : { state: "booting" };
}

/** The `DBC-CHECK` lines of the first report that has both its begin and its end. */
function firstReport(lines: readonly string[]): RawReport | undefined {
  let current: string[] | undefined;
  const limit = Math.min(lines.length, MAX_CONSOLE_LINES);
  for (let index = 0; index < limit; index++) {
    const line = lines[index];
    if (typeof line !== "string" || line.length > MAX_CHECK_LINE_CHARS) continue;
    const text = line.trim();
    if (text === BEGIN) {
      current = [];
    } else if (text === END) {
      if (current) return readFacts(current);
    } else if (current && text.startsWith(FACT) && current.length < MAX_CHECK_LINES) {
      current.push(text.slice(FACT.length));
    }
  }
  return undefined;
}

function readFacts(facts: readonly string[]): RawReport {
  const report: RawReport = { disks: new Map(), pci: [], nvidiaSmi: [] };
  for (const fact of facts) {
    const equals = fact.indexOf("=");
    if (equals <= 0) continue;
    const key = fact.slice(0, equals);
    const value = fact.slice(equals + 1).trim();
    if (key === "nproc") {
      report.nproc ??= wholeNumber(value, 1, 65_536);
    } else if (key === "cpu_model") {
      // deno-lint-ignore no-control-regex
      const model = value.replace(/[\x00-\x1f\x7f]/g, "").replace(/\s+/g, " ").slice(0, 128);
      if (model !== "") report.cpuModel ??= model;
    } else if (key === "memtotal_kb") {
      report.memTotalKb ??= wholeNumber(value, 1, 2 ** 40);
    } else if (key.startsWith("block.") || key.startsWith("partition_kb.")) {
      const partition = key.startsWith("partition_kb.");
      const name = key.slice(partition ? "partition_kb.".length : "block.".length);
      if (!DEVICE_NAME.test(name) || NOT_A_DISK.test(name)) continue;
      if (report.disks.size >= MAX_BLOCK_DEVICES || report.disks.has(name)) continue;
      const size = wholeNumber(value, 0, 2 ** 50);
      if (size !== undefined) report.disks.set(name, partition ? size * KIB : size * 512);
    } else if (key.startsWith("pci.")) {
      const [vendor, device, deviceClass, ...rest] = value.toLowerCase().split(/\s+/);
      if (rest.length > 0 || report.pci.length >= MAX_PCI_DEVICES) continue;
      if (!PCI_ID.test(vendor ?? "") || !PCI_ID.test(device ?? "")) continue;
      if (!PCI_CLASS.test(deviceClass ?? "")) continue;
      report.pci.push({ vendor: vendor!, device: device!, class: deviceClass! });
    } else if (key === "nvidia_smi") {
      // deno-lint-ignore no-control-regex
      const line = value.replace(/[\x00-\x1f\x7f]/g, "").slice(0, 256);
      if (line !== "" && report.nvidiaSmi.length < MAX_NVIDIA_SMI_LINES) {
        report.nvidiaSmi.push(line);
      }
    }
  }
  return report;
}

function observedFrom(report: RawReport): CheckObserved {
  const missing: string[] = [];
  if (report.nproc === undefined) missing.push("cpu_cores");
  if (report.cpuModel === undefined) missing.push("cpu_model");
  if (report.memTotalKb === undefined) missing.push("memory_gib");
  // The check VM's own disk is the largest the guest sees (its seed disk is a few MiB).
  const diskBytes = Math.max(0, ...report.disks.values());
  if (diskBytes === 0) missing.push("disk_gib");
  // The names nvidia-smi gave, in its order, which is the PCI bus order sysfs lists too.
  const names = report.nvidiaSmi.map((line) => /^(.+?),\s*\d+\s*MiB$/.exec(line)?.[1]?.trim());
  let nvidia = 0;
  const gpus = report.pci
    .filter((device) => device.class.startsWith("0x03"))
    .filter((device) => !EMULATED_DISPLAY_DEVICES.has(`${device.vendor}:${device.device}`))
    .map((device) => {
      const name = device.vendor === "0x10de" ? names[nvidia++] : undefined;
      return {
        vendor_id: device.vendor,
        device_id: device.device,
        ...(name ? { name } : {}),
      };
    });
  return {
    cpu_cores: report.nproc ?? 0,
    cpu_model: report.cpuModel ?? null,
    // A guest never sees all of its memory (firmware and the kernel keep some back), so
    // MemTotal is always a little under what the VM was given: rounding up gives back the
    // whole GiB it was made with, as long as less than one GiB went missing.
    memory_gib: report.memTotalKb === undefined ? 0 : Math.ceil((report.memTotalKb * KIB) / GIB),
    // Rounded down: never claim more disk than the guest saw.
    disk_gib: Math.floor(diskBytes / GIB),
    gpus,
    ...(report.nvidiaSmi.length > 0 ? { nvidia_smi: report.nvidiaSmi } : {}),
    missing,
  };
}

/** A decimal integer from `least` to `most`, or undefined. */
function wholeNumber(text: string, least: number, most: number): number | undefined {
  if (!/^\d{1,16}$/.test(text)) return undefined;
  const value = Number(text);
  return value >= least && value <= most ? value : undefined;
}
