/**
 * The keys of the agent data the original node sends a renter's monitoring
 * server, in its order: what the payload and push tests expect, written out
 * here once rather than taken from the code they check.
 */

/** A VM's first keys. */
export const VM_KEYS = [
  "dom.state",
  "dom.maxMem",
  "dom.memory",
  "dom.nrVirtCpu",
  "dom.cpuTime",
  "dom.cpuUsage",
  "memory.total",
  "memory.unused",
  "memory.available",
  "memory.usage",
];
/** Each disk's, as `disk.<index>.<field>`. */
export const DISK_FIELDS = [
  "name",
  "capacity",
  "allocation",
  "physical",
  "rd_req",
  "rd_bytes",
  "wr_req",
  "wr_bytes",
  "errs",
  "rd_speed",
  "wr_speed",
];
/** Each host-side NIC's, as `net.<index>.<field>`. */
export const NET_FIELDS = [
  "name",
  "rx_bytes",
  "rx_packets",
  "rx_errs",
  "rx_drop",
  "tx_bytes",
  "tx_packets",
  "tx_errs",
  "tx_drop",
  "rx_speed",
  "tx_speed",
];
/** A VM's last keys, stamped with the time the payload was made. */
export const VM_TAIL = ["dbc.version", "disk.count", "net.count", "gpu.count"];
/** Each GPU's, as `host.gpu.<index>.<field>`. */
export const GPU_FIELDS = [
  "name",
  "busId",
  "memTotal",
  "memFree",
  "memUsed",
  "gpuUtilization",
  "memUtilization",
  "powerUsage",
  "powerCap",
  "temperature",
];

/** `disk.<index>.<field>` for each field. */
export const diskKeys = (index: number): string[] =>
  DISK_FIELDS.map((field) => `disk.${index}.${field}`);

/** A VM's keys with `disks` disks and no host-side NIC. */
export function vmKeys(disks: number): string[] {
  return [
    ...VM_KEYS,
    ...Array.from({ length: disks }, (_, index) => diskKeys(index)).flat(),
    ...VM_TAIL,
  ];
}

/** The machine's keys with `gpus` GPUs. */
export function hostKeys(gpus: number): string[] {
  return [
    "host.gpuCount",
    "host.gpuUsed",
    ...Array.from(
      { length: gpus },
      (_, index) => GPU_FIELDS.map((field) => `host.gpu.${index}.${field}`),
    ).flat(),
    "host.vmCount",
    "host.vmRunning",
    "host.cpuUsage",
    "host.memTotal",
    "host.memFree",
    "host.memUsage",
    "host.rxFlow",
    "host.txFlow",
    "host.diskTotal",
    "host.diskFree",
    "host.diskUsage",
    "host.diskMountStatus",
    "host.loadAverage.1",
    "host.loadAverage.5",
    "host.loadAverage.15",
    "host.dbcVersion",
  ];
}
