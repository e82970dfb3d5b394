/**
 * Reads `virsh domstats` (CPU total, balloon, vCPUs, interfaces, block
 * devices) of one domain into the counters the node reports as a VM's usage.
 * Pure: tested against recorded output. `key=value` lines; sizes in KiB for
 * the balloon, bytes elsewhere; CPU time in ns.
 */

/** A domain's counters now; null where libvirt reported none (no guest balloon driver, no NIC). */
export type DomainUsage = {
  cpuTimeNs: number | null;
  vcpus: number | null;
  memoryUsedBytes: number | null;
  memoryLimitBytes: number | null;
  netRxBytes: number | null;
  netTxBytes: number | null;
  diskReadBytes: number | null;
  diskWriteBytes: number | null;
};

/** The groups asked of `virsh domstats`, as its flags. */
export const DOMSTATS_FLAGS = ["--cpu-total", "--balloon", "--vcpu", "--interface", "--block"];

const KIB = 1024;

/**
 * `virsh domstats` output as each domain's `key=value` lines (values trimmed, as text), by the
 * domain's name; lines before any `Domain:` header belong to none and are skipped.
 */
export function readDomstats(output: string): Map<string, Map<string, string>> {
  const domains = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of output.split("\n")) {
    const header = /^Domain: '(.*)'\s*$/.exec(line);
    if (header) {
      current = new Map();
      domains.set(header[1]!, current);
      continue;
    }
    const pair = /^\s+([A-Za-z0-9_.-]+)=(.*)$/.exec(line);
    if (pair && current) current.set(pair[1]!, pair[2]!.trim());
  }
  return domains;
}

/** The counters in `virsh domstats` output for one domain; `undefined` when it has none. */
export function parseDomainStats(output: string): DomainUsage | undefined {
  const values = new Map<string, number>();
  for (const domain of readDomstats(output).values()) {
    for (const [key, text] of domain) if (/^\d+$/.test(text)) values.set(key, Number(text));
  }
  if (values.size === 0) return undefined;
  const get = (key: string) => values.get(key) ?? null;
  const kib = (key: string) => {
    const value = get(key);
    return value === null ? null : value * KIB;
  };
  // The guest's own view when its balloon driver reports it (what `free` shows as used), else
  // the memory QEMU holds on the host.
  const available = kib("balloon.available");
  const usable = kib("balloon.usable") ?? kib("balloon.unused");
  const used = available !== null && usable !== null
    ? Math.max(0, available - usable)
    : kib("balloon.rss");
  return {
    cpuTimeNs: get("cpu.time"),
    vcpus: get("vcpu.current"),
    memoryUsedBytes: used,
    memoryLimitBytes: kib("balloon.current") ?? kib("balloon.maximum"),
    netRxBytes: total(values, "net", "rx.bytes"),
    netTxBytes: total(values, "net", "tx.bytes"),
    diskReadBytes: total(values, "block", "rd.bytes"),
    diskWriteBytes: total(values, "block", "wr.bytes"),
  };
}

/** `<group>.<i>.<field>` summed over `<group>.count` entries; null when none reported it. */
function total(values: Map<string, number>, group: string, field: string): number | null {
  const count = values.get(`${group}.count`) ?? 0;
  let sum: number | null = null;
  for (let index = 0; index < count; index++) {
    const value = values.get(`${group}.${index}.${field}`);
    if (value !== undefined) sum = (sum ?? 0) + value;
  }
  return sum;
}
