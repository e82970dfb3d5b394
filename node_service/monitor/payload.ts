/**
 * What the GPU node sends a renter's monitoring server: Zabbix "agent data"
 * requests, item by item as the original builds them (DBC-AIComputingNet
 * 0.4.1.7: `domMonitorData::toZabbixString` in
 * src/dbc/task/detail/TaskMonitorInfo.cpp for each VM,
 * `hostMonitorData::toZabbixString` in
 * src/dbc/service/node_monitor_service/hostMonitorInfo.cpp for the machine):
 *
 * ```json
 * {"request":"agent data",
 *  "data":[{"host":"<task id>","key":"dom.state","value":"running","clock":1700000000,"ns":5}, ...],
 *  "clock":1700000000,"ns":5}
 * ```
 *
 * A VM's items are named by its task id (`host`), the machine's by its
 * machine id. Keys, value types (numbers as numbers, words as strings) and
 * units are the original's: memory in KiB, disk sizes in bytes, speeds in
 * bytes a second, usages in percent; rates and usages are computed against
 * the previous round's sample, and are 0 in the first, as there. Floats are
 * the original's C floats written with at most two decimals, truncated
 * (rapidjson's `SetMaxDecimalPlaces(2)`).
 *
 * Where this node has nothing to say, it says what the original says then:
 * the guest GPU items (`gpu.N.*` and the driver versions, which the original
 * read through a guest agent command of its own) are left out and
 * `gpu.count` is 0; a host GPU's memory and power fields that nvidia-smi's
 * inventory does not carry are 0.
 *
 * Pure.
 */
import type { Gpu } from "../../mod/mod.ts";
import type { DiskCounters, DomainSample, NicCounters } from "./domstats.ts";
import type { HostSample } from "./host_sample.ts";

export type ZabbixValue = number | string;
export type ZabbixItem = {
  host: string;
  key: string;
  value: ZabbixValue;
  clock: number;
  ns: number;
};
export type AgentData = { request: "agent data"; data: ZabbixItem[]; clock: number; ns: number };

const MIB = 1024 * 1024;

/** Seconds and nanoseconds of a time in ms, as the original's `timespec`. */
export function clockOf(ms: number): { clock: number; ns: number } {
  const clock = Math.floor(ms / 1000);
  return { clock, ns: Math.round((ms - clock * 1000) * 1_000_000) };
}

/** A C float written with at most two decimals, truncated: what the original's writer does. */
export function float2(value: number): number {
  if (!Number.isFinite(value)) return 0;
  return Math.trunc(Math.fround(value) * 100) / 100;
}

function itemWriter(host: string, items: ZabbixItem[]) {
  return (key: string, value: ZabbixValue, atMs: number) =>
    items.push({ host, key, value, ...clockOf(atMs) });
}

export type VmMonitorInput = {
  /** The VM's task id: the host name its items are filed under. */
  vmId: string;
  sample: DomainSample;
  /** The previous round's sample of the same VM, for usages and rates. */
  previous?: DomainSample;
  /** This node's version (the original's `dbc.version`). */
  version: string;
  now: number;
};

/** One VM's "agent data" (`domMonitorData::toZabbixString`). */
export function vmAgentData(input: VmMonitorInput): AgentData {
  const { sample, previous, now } = input;
  const items: ZabbixItem[] = [];
  const item = itemWriter(input.vmId, items);
  const at = sample.at;

  item("dom.state", sample.state, at);
  item("dom.maxMem", sample.maxMemKib, at);
  item("dom.memory", sample.memoryKib, at);
  item("dom.nrVirtCpu", sample.vcpus, at);
  item("dom.cpuTime", sample.cpuTimeNs, at);
  item("dom.cpuUsage", float2(previous ? cpuUsage(sample, previous) : 0), at);

  const memory = sample.memory;
  item("memory.total", memory.totalKib, at);
  item("memory.unused", memory.unusedKib, at);
  item("memory.available", memory.availableKib, at);
  const memoryUsage = previous && memory.totalKib > 0
    ? (100 * (memory.totalKib - memory.unusedKib)) / memory.totalKib
    : 0;
  item("memory.usage", float2(memoryUsage), at);

  const devices = <T extends { name: string }>(
    group: string,
    current: readonly T[],
    earlier: readonly T[] | undefined,
    counters: readonly (readonly [string, NumberKeys<T>])[],
    speeds: readonly (readonly [string, NumberKeys<T>])[],
  ) =>
    current.forEach((device, index) => {
      const before = earlier?.find((candidate) => candidate.name === device.name);
      const key = (field: string) => `${group}.${index}.${field}`;
      item(key("name"), device.name, at);
      for (const [field, counter] of counters) item(key(field), device[counter] as number, at);
      for (const [field, counter] of speeds) {
        const bytes = device[counter] as number;
        const bytesBefore = before?.[counter] as number | undefined;
        item(key(field), float2(rate(bytes, bytesBefore, sample, previous)), at);
      }
    });
  devices("disk", sample.disks, previous?.disks, DISK_COUNTERS, DISK_SPEEDS);
  devices("net", sample.nics, previous?.nics, NIC_COUNTERS, NIC_SPEEDS);

  item("dbc.version", input.version, now);
  item("disk.count", sample.disks.length, now);
  item("net.count", sample.nics.length, now);
  item("gpu.count", 0, now);
  return { request: "agent data", data: items, ...clockOf(now) };
}

/** The keys of `T` that hold numbers. */
type NumberKeys<T> = { [K in keyof T]: T[K] extends number ? K : never }[keyof T];

/** Each disk's items after its name, in the original's order, and the counters they carry. */
const DISK_COUNTERS = [
  ["capacity", "capacity"],
  ["allocation", "allocation"],
  ["physical", "physical"],
  ["rd_req", "rdReq"],
  ["rd_bytes", "rdBytes"],
  ["wr_req", "wrReq"],
  ["wr_bytes", "wrBytes"],
  ["errs", "errs"],
] as const satisfies readonly (readonly [string, NumberKeys<DiskCounters>])[];
const DISK_SPEEDS = [["rd_speed", "rdBytes"], ["wr_speed", "wrBytes"]] as const;

/** Each NIC's items after its name, in the original's order, and the counters they carry. */
const NIC_COUNTERS = [
  ["rx_bytes", "rxBytes"],
  ["rx_packets", "rxPackets"],
  ["rx_errs", "rxErrs"],
  ["rx_drop", "rxDrop"],
  ["tx_bytes", "txBytes"],
  ["tx_packets", "txPackets"],
  ["tx_errs", "txErrs"],
  ["tx_drop", "txDrop"],
] as const satisfies readonly (readonly [string, NumberKeys<NicCounters>])[];
const NIC_SPEEDS = [["rx_speed", "rxBytes"], ["tx_speed", "txBytes"]] as const;

/** The original's `domainInfo::calculatorUsage`: CPU time over wall time, per vCPU, in percent. */
function cpuUsage(sample: DomainSample, previous: DomainSample): number {
  const cpuMicros = Math.trunc((sample.cpuTimeNs - previous.cpuTimeNs) / 1000);
  const wallMicros = (sample.at - previous.at) * 1000;
  if (cpuMicros <= 0 || wallMicros <= 0 || sample.vcpus <= 0) return 0;
  return (100 * cpuMicros) / wallMicros / sample.vcpus;
}

/** Bytes a second between two samples, over whole seconds as the original counts them. */
function rate(
  bytes: number,
  bytesBefore: number | undefined,
  sample: DomainSample,
  previous: DomainSample | undefined,
): number {
  if (bytesBefore === undefined || !previous) return 0;
  const seconds = Math.floor(sample.at / 1000) - Math.floor(previous.at / 1000);
  // The original divides by 0 here (two samples in one second); no number can say that.
  return seconds > 0 ? (bytes - bytesBefore) / seconds : 0;
}

export type HostMonitorInput = {
  /** The machine id: the host name the machine's items are filed under. */
  machineId: string;
  sample: HostSample;
  /** The previous round's sample, for the CPU usage. */
  previous?: HostSample;
  /** The GPUs nvidia-smi reports, and when it did. */
  gpus: readonly Gpu[];
  gpusAt: number;
  /** GPUs held by the recipient's running VMs. */
  gpuUsed: number;
  /** The recipient's VMs, and those of them that run. */
  vmCount: number;
  vmRunning: number;
  /** Bytes received and sent by the recipient's VMs, all interfaces (the original's sum). */
  rxFlow: number;
  txFlow: number;
  version: string;
  now: number;
};

/** The machine's "agent data" (`hostMonitorData::toZabbixString`). */
export function hostAgentData(input: HostMonitorInput): AgentData {
  const { sample, previous, now } = input;
  const items: ZabbixItem[] = [];
  const item = itemWriter(input.machineId, items);

  item("host.gpuCount", input.gpus.length, now);
  item("host.gpuUsed", input.gpuUsed, now);
  // The original's map of GPUs is ordered by PCI bus id.
  [...input.gpus].sort((left, right) => left.pci_bus_id < right.pci_bus_id ? -1 : 1)
    .forEach((gpu, index) => {
      const key = (field: string) => `host.gpu.${index}.${field}`;
      const totalBytes = (gpu.memory_total_mib ?? 0) * MIB;
      const usedBytes = (gpu.memory_used_mib ?? 0) * MIB;
      item(key("name"), gpu.name, input.gpusAt);
      item(key("busId"), gpu.pci_bus_id, input.gpusAt);
      item(key("memTotal"), totalBytes, input.gpusAt);
      item(key("memFree"), Math.max(0, totalBytes - usedBytes), input.gpusAt);
      item(key("memUsed"), usedBytes, input.gpusAt);
      item(key("gpuUtilization"), Math.round(gpu.utilization_percent ?? 0), input.gpusAt);
      item(key("memUtilization"), 0, input.gpusAt);
      item(key("powerUsage"), 0, input.gpusAt);
      item(key("powerCap"), 0, input.gpusAt);
      item(key("temperature"), Math.round(gpu.temperature_c ?? 0), input.gpusAt);
    });
  item("host.vmCount", input.vmCount, now);
  item("host.vmRunning", input.vmRunning, now);
  const busy = previous ? sample.cpuBusyMs - previous.cpuBusyMs : 0;
  const counted = previous ? sample.cpuCountedMs - previous.cpuCountedMs : 0;
  item("host.cpuUsage", float2(counted > 0 ? (100 * busy) / counted : 0), now);
  item("host.memTotal", sample.memTotalKib, now);
  item("host.memFree", sample.memFreeKib, now);
  const memUsage = sample.memTotalKib > 0
    ? (100 * (sample.memTotalKib - sample.memFreeKib)) / sample.memTotalKib
    : 0;
  item("host.memUsage", float2(memUsage), now);
  item("host.rxFlow", input.rxFlow, now);
  item("host.txFlow", input.txFlow, now);
  const disk = sample.disk;
  item("host.diskTotal", disk?.totalKib ?? 0, now);
  item("host.diskFree", disk?.availableKib ?? 0, now);
  const diskUsage = disk && disk.totalKib > 0
    ? (100 * (disk.totalKib - disk.availableKib)) / disk.totalKib
    : 0;
  item("host.diskUsage", float2(diskUsage), now);
  item("host.diskMountStatus", disk ? "normal" : "lost", now);
  if (sample.loadAverage) {
    item("host.loadAverage.1", float2(sample.loadAverage[0]), now);
    item("host.loadAverage.5", float2(sample.loadAverage[1]), now);
    item("host.loadAverage.15", float2(sample.loadAverage[2]), now);
  }
  item("host.dbcVersion", input.version, now);
  return { request: "agent data", data: items, ...clockOf(now) };
}
