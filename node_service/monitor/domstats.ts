/**
 * Reads `virsh domstats --state --cpu-total --balloon --vcpu --interface
 * --block` (every domain at once) into what the original gathered per VM
 * with `virDomainGetInfo`, `virDomainMemoryStats`, `virDomainGetBlockInfo`,
 * `virDomainBlockStats` and `virDomainInterfaceStats`
 * (DBC-AIComputingNet 0.4.1.7, `VmClient::GetDomainMonitorData`): the same
 * numbers from one command. Pure: tested against recorded output.
 *
 * The libvirt layer's own `usage` (node_service/vm/libvirt/domain_stats.ts)
 * sums disks and interfaces; the original sends each one, so this reads the
 * groups device by device, from the same `key=value` reader.
 */
import { readDomstats } from "../vm/libvirt/mod.ts";

/** The groups asked of `virsh domstats`, as its flags. */
export const MONITOR_DOMSTATS_FLAGS = [
  "--state",
  "--cpu-total",
  "--balloon",
  "--vcpu",
  "--interface",
  "--block",
] as const;

/** libvirt's `virDomainState` numbers, in the original's words (`vm_status_string`). */
const STATE_WORDS = [
  "none",
  "running",
  "blocked",
  "paused",
  "being shutdown",
  "shut_off",
  "crashed",
  "suspended",
] as const;
const SHUT_OFF = 5;
const CRASHED = 6;

export type DiskCounters = {
  /** The guest's device, e.g. `vda`. */
  name: string;
  capacity: number;
  allocation: number;
  physical: number;
  rdReq: number;
  rdBytes: number;
  wrReq: number;
  wrBytes: number;
  /** -1 where the hypervisor keeps no error count (QEMU), as `virDomainBlockStats` reports. */
  errs: number;
};

export type NicCounters = {
  /** The host side of the interface, e.g. `vnet0`. */
  name: string;
  rxBytes: number;
  rxPackets: number;
  rxErrs: number;
  rxDrop: number;
  txBytes: number;
  txPackets: number;
  txErrs: number;
  txDrop: number;
};

/** One domain's counters at one moment. */
export type DomainSample = {
  /** When it was read, in ms since the epoch. */
  at: number;
  state: string;
  /** Whether a QEMU process runs it (the original's `virDomainIsActive`). */
  active: boolean;
  maxMemKib: number;
  memoryKib: number;
  vcpus: number;
  cpuTimeNs: number;
  /** The guest's balloon view when it runs; when it does not, the original's stand-ins. */
  memory: { totalKib: number; unusedKib: number; availableKib: number };
  /** By name, as the original's `std::map` orders them. */
  disks: DiskCounters[];
  nics: NicCounters[];
};

/** Every domain in the output, by name; `at` is when the command ran. */
export function parseDomstats(output: string, at: number): Map<string, DomainSample> {
  const samples = new Map<string, DomainSample>();
  for (const [name, values] of readDomstats(output)) samples.set(name, sampleOf(values, at));
  return samples;
}

function sampleOf(values: Map<string, string>, at: number): DomainSample {
  const number = (key: string, absent = 0) => {
    const text = values.get(key);
    const value = text === undefined ? NaN : Number(text);
    return Number.isFinite(value) ? value : absent;
  };
  const stateNumber = number("state.state");
  const active = stateNumber !== SHUT_OFF && stateNumber !== CRASHED;
  const maxMemKib = number("balloon.maximum");
  const memoryKib = number("balloon.current", maxMemKib);
  const indexes = (group: string) => Array.from({ length: number(`${group}.count`) }, (_, i) => i);
  const disks = indexes("block").map((i): DiskCounters => {
    const at = (field: string, absent = 0) => active ? number(`block.${i}.${field}`, absent) : 0;
    return {
      name: values.get(`block.${i}.name`) ?? `block${i}`,
      capacity: number(`block.${i}.capacity`),
      allocation: number(`block.${i}.allocation`),
      physical: number(`block.${i}.physical`),
      rdReq: at("rd.reqs"),
      rdBytes: at("rd.bytes"),
      wrReq: at("wr.reqs"),
      wrBytes: at("wr.bytes"),
      errs: at("errors", -1),
    };
  });
  const nics = indexes("net").map((i): NicCounters => {
    const at = (field: string) => number(`net.${i}.${field}`);
    return {
      name: values.get(`net.${i}.name`) ?? `net${i}`,
      rxBytes: at("rx.bytes"),
      rxPackets: at("rx.pkts"),
      rxErrs: at("rx.errs"),
      rxDrop: at("rx.drop"),
      txBytes: at("tx.bytes"),
      txPackets: at("tx.pkts"),
      txErrs: at("tx.errs"),
      txDrop: at("tx.drop"),
    };
  });
  return {
    at,
    state: STATE_WORDS[stateNumber] ?? "none",
    active,
    maxMemKib,
    memoryKib,
    vcpus: number("vcpu.current"),
    cpuTimeNs: number("cpu.time"),
    // The original: the balloon's actual size, unused and available while it runs (0 where the
    // guest reports none); the maximum, the maximum and the current size when it does not.
    memory: active
      ? {
        totalKib: number("balloon.current"),
        unusedKib: number("balloon.unused"),
        availableKib: number("balloon.available"),
      }
      : { totalKib: maxMemKib, unusedKib: maxMemKib, availableKib: memoryKib },
    disks: disks.sort(byName),
    nics: nics.sort(byName),
  };
}

function byName(left: { name: string }, right: { name: string }): number {
  return left.name < right.name ? -1 : left.name > right.name ? 1 : 0;
}
