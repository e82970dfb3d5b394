/**
 * What a monitoring server receives, built from recorded counters: `virsh
 * domstats` of a running and a stopped test VM (recorded on this project's
 * machine), and host samples. Every key the original sends, its type and
 * unit, usages and rates against the previous round, and the Zabbix framing.
 */
import assert from "node:assert/strict";
import type { Gpu } from "../../../mod/mod.ts";
import {
  activeChecksRequest,
  answerSucceeded,
  type DomainSample,
  frame,
  hostAgentData,
  type HostSample,
  parseDomstats,
  readFrame,
  vmAgentData,
} from "../../../node_service/monitor/mod.ts";
import { clockOf, float2 } from "../../../node_service/monitor/payload.ts";
import { REPO_ROOT } from "../../helpers.ts";
import { hostKeys, NET_FIELDS, VM_TAIL, vmKeys } from "./original_keys.ts";

const RECORDED = await Deno.readTextFile(`${REPO_ROOT}/tests/fixtures/virsh/domstats_monitor.txt`);
const AT = 1_700_000_000_250;

/** The test VMs use user-mode networking (no host interface): these lines follow libvirt's names. */
const WITH_NICS = `Domain: 'dbc-vm-nics'
  state.state=1
  cpu.time=5000000000
  balloon.current=1048576
  balloon.maximum=2097152
  balloon.unused=524288
  balloon.available=1000000
  vcpu.current=4
  net.count=2
  net.0.name=vnet2
  net.0.rx.bytes=1000
  net.0.rx.pkts=10
  net.0.rx.errs=1
  net.0.rx.drop=2
  net.0.tx.bytes=3000
  net.0.tx.pkts=30
  net.0.tx.errs=3
  net.0.tx.drop=4
  net.1.name=vnet10
  net.1.rx.bytes=7
  net.1.rx.pkts=1
  net.1.rx.errs=0
  net.1.rx.drop=0
  net.1.tx.bytes=9
  net.1.tx.pkts=1
  net.1.tx.errs=0
  net.1.tx.drop=0
  block.count=0
`;

function values(data: { data: Array<{ key: string; value: unknown }> }): Map<string, unknown> {
  return new Map(data.data.map((item) => [item.key, item.value]));
}

Deno.test("virsh domstats of a running and a stopped VM reads as the original's libvirt calls did", () => {
  const samples = parseDomstats(RECORDED, AT);
  assert.deepEqual([...samples.keys()], ["dbc-vm-7kq2m4xa", "dbc-vm-p3d9w6hc"]);
  const running = samples.get("dbc-vm-7kq2m4xa")!;
  assert.deepEqual(running, {
    at: AT,
    state: "running",
    active: true,
    maxMemKib: 262144,
    memoryKib: 262144,
    vcpus: 1,
    cpuTimeNs: 2462305000,
    // No balloon driver statistics in the test guest: the original's map gives 0 then.
    memory: { totalKib: 262144, unusedKib: 0, availableKib: 0 },
    disks: [
      {
        name: "vda",
        capacity: 1073741824,
        allocation: 0,
        physical: 204800,
        rdReq: 1,
        rdBytes: 512,
        wrReq: 0,
        wrBytes: 0,
        errs: -1,
      },
      {
        name: "vdb",
        capacity: 16384,
        allocation: 0,
        physical: 16384,
        rdReq: 0,
        rdBytes: 0,
        wrReq: 0,
        wrBytes: 0,
        errs: -1,
      },
    ],
    nics: [],
  });
  const stopped = samples.get("dbc-vm-p3d9w6hc")!;
  assert.equal(stopped.state, "shut_off");
  assert.equal(stopped.active, false);
  assert.equal(stopped.vcpus, 2);
  assert.equal(stopped.cpuTimeNs, 11670000000);
  // Not running: the maximum, the maximum and the current size, as the original sends then.
  assert.deepEqual(stopped.memory, { totalKib: 524288, unusedKib: 524288, availableKib: 524288 });
  assert.deepEqual(
    stopped.disks.map((disk) => [disk.name, disk.allocation, disk.rdReq, disk.errs]),
    [
      ["vda", 200704, 0, 0],
      ["vdb", 16384, 0, 0],
    ],
  );

  const nics = parseDomstats(WITH_NICS, AT).get("dbc-vm-nics")!;
  // By name as the original's std::map orders them: "vnet10" before "vnet2".
  assert.deepEqual(nics.nics, [
    {
      name: "vnet10",
      rxBytes: 7,
      rxPackets: 1,
      rxErrs: 0,
      rxDrop: 0,
      txBytes: 9,
      txPackets: 1,
      txErrs: 0,
      txDrop: 0,
    },
    {
      name: "vnet2",
      rxBytes: 1000,
      rxPackets: 10,
      rxErrs: 1,
      rxDrop: 2,
      txBytes: 3000,
      txPackets: 30,
      txErrs: 3,
      txDrop: 4,
    },
  ]);
  assert.deepEqual(nics.memory, { totalKib: 1048576, unusedKib: 524288, availableKib: 1000000 });
  assert.equal(parseDomstats("", AT).size, 0);
});

Deno.test("a VM's agent data: every key the original sends, in its order, with its values", () => {
  const sample = parseDomstats(RECORDED, AT).get("dbc-vm-7kq2m4xa")!;
  const now = AT + 40;
  const data = vmAgentData({ vmId: "vm-7kq2m4xa", sample, version: "0.1.0", now });
  assert.equal(data.request, "agent data");
  assert.deepEqual(clockOf(now), { clock: 1_700_000_000, ns: 290_000_000 });
  assert.equal(data.clock, 1_700_000_000);
  assert.equal(data.ns, 290_000_000);
  assert.deepEqual(data.data.map((item) => item.key), vmKeys(2));
  for (const item of data.data) {
    assert.equal(item.host, "vm-7kq2m4xa");
    // Counters carry the time they were read; the tail the time the payload was made.
    assert.deepEqual(
      [item.clock, item.ns],
      VM_TAIL.includes(item.key) ? [1_700_000_000, 290_000_000] : [1_700_000_000, 250_000_000],
      item.key,
    );
  }
  assert.deepEqual(Object.fromEntries(values(data)), {
    "dom.state": "running",
    "dom.maxMem": 262144,
    "dom.memory": 262144,
    "dom.nrVirtCpu": 1,
    "dom.cpuTime": 2462305000,
    "dom.cpuUsage": 0,
    "memory.total": 262144,
    "memory.unused": 0,
    "memory.available": 0,
    "memory.usage": 0,
    "disk.0.name": "vda",
    "disk.0.capacity": 1073741824,
    "disk.0.allocation": 0,
    "disk.0.physical": 204800,
    "disk.0.rd_req": 1,
    "disk.0.rd_bytes": 512,
    "disk.0.wr_req": 0,
    "disk.0.wr_bytes": 0,
    "disk.0.errs": -1,
    "disk.0.rd_speed": 0,
    "disk.0.wr_speed": 0,
    "disk.1.name": "vdb",
    "disk.1.capacity": 16384,
    "disk.1.allocation": 0,
    "disk.1.physical": 16384,
    "disk.1.rd_req": 0,
    "disk.1.rd_bytes": 0,
    "disk.1.wr_req": 0,
    "disk.1.wr_bytes": 0,
    "disk.1.errs": -1,
    "disk.1.rd_speed": 0,
    "disk.1.wr_speed": 0,
    "dbc.version": "0.1.0",
    "disk.count": 2,
    "net.count": 0,
    "gpu.count": 0,
  });
});

Deno.test("usages and rates come from the previous round, as the original computes them", () => {
  const current = parseDomstats(WITH_NICS, AT).get("dbc-vm-nics")!;
  const previous: DomainSample = {
    ...current,
    at: AT - 2_000,
    cpuTimeNs: current.cpuTimeNs - 2_000_000_000,
    nics: current.nics.map((nic) => ({ ...nic, rxBytes: nic.rxBytes - 500, txBytes: 0 })),
  };
  const data = values(
    vmAgentData({ vmId: "vm-nics", sample: current, previous, version: "0.1.0", now: AT }),
  );
  // 2 s of CPU time in 2 s of wall time over 4 vCPUs.
  assert.equal(data.get("dom.cpuUsage"), 25);
  // (total - unused) / total
  assert.equal(data.get("memory.usage"), 50);
  assert.equal(data.get("net.count"), 2);
  assert.equal(data.get("net.0.name"), "vnet10");
  assert.equal(data.get("net.0.rx_speed"), 250);
  assert.equal(data.get("net.0.tx_speed"), 4.5);
  assert.equal(data.get("net.1.rx_speed"), 250);
  assert.equal(data.get("net.1.tx_speed"), 1500);
  for (const field of NET_FIELDS) assert.ok(data.has(`net.1.${field}`), field);
  // An interface the previous round did not see has no rate yet.
  const fresh = values(vmAgentData({
    vmId: "vm-nics",
    sample: current,
    previous: { ...previous, nics: [] },
    version: "0.1.0",
    now: AT,
  }));
  assert.equal(fresh.get("net.0.rx_speed"), 0);
});

Deno.test("floats are C floats with two decimals, truncated", () => {
  assert.equal(float2(0.29), 0.28, "0.29 as a C float is 0.2899999...");
  assert.equal(float2(12.345), 12.34);
  assert.equal(float2(99.999), 99.99);
  assert.equal(float2(-1.239), -1.23);
  assert.equal(float2(Number.NaN), 0);
  assert.equal(float2(Number.POSITIVE_INFINITY), 0);
});

const GPUS: Gpu[] = [
  {
    index: 1,
    uuid: "GPU-b",
    name: "NVIDIA GeForce RTX 4090",
    pci_bus_id: "00000000:3B:00.0",
    memory_total_mib: 24564,
    memory_used_mib: 1024,
    utilization_percent: 37,
    temperature_c: 61,
    driver_version: "550.54.14",
  },
  {
    index: 0,
    uuid: "GPU-a",
    name: "NVIDIA GeForce RTX 4090",
    pci_bus_id: "00000000:18:00.0",
    memory_total_mib: null,
    memory_used_mib: null,
    utilization_percent: null,
    temperature_c: null,
    driver_version: null,
  },
];

const HOST: HostSample = {
  at: AT,
  cpuBusyMs: 40_000,
  cpuCountedMs: 160_000,
  memTotalKib: 65_000_000,
  memFreeKib: 16_250_000,
  disk: { totalKib: 1_000_000, availableKib: 250_000 },
  loadAverage: [0.5, 1.25, 2.999],
};

Deno.test("the machine's agent data: every key the original sends, GPUs by bus id", () => {
  const previous: HostSample = { ...HOST, cpuBusyMs: 30_000, cpuCountedMs: 120_000 };
  const now = AT + 1_000;
  const data = hostAgentData({
    machineId: "ab".repeat(32),
    sample: HOST,
    previous,
    gpus: GPUS,
    gpusAt: AT - 500,
    gpuUsed: 1,
    vmCount: 3,
    vmRunning: 2,
    rxFlow: 1234,
    txFlow: 5678,
    version: "0.1.0",
    now,
  });
  assert.deepEqual(data.data.map((item) => item.key), hostKeys(2));
  for (const item of data.data) {
    assert.equal(item.host, "ab".repeat(32));
    const at = item.key.startsWith("host.gpu.") ? clockOf(AT - 500) : clockOf(now);
    assert.deepEqual({ clock: item.clock, ns: item.ns }, at, item.key);
  }
  const MIB = 1024 * 1024;
  assert.deepEqual(Object.fromEntries(values(data)), {
    "host.gpuCount": 2,
    "host.gpuUsed": 1,
    "host.gpu.0.name": "NVIDIA GeForce RTX 4090",
    "host.gpu.0.busId": "00000000:18:00.0",
    "host.gpu.0.memTotal": 0,
    "host.gpu.0.memFree": 0,
    "host.gpu.0.memUsed": 0,
    "host.gpu.0.gpuUtilization": 0,
    "host.gpu.0.memUtilization": 0,
    "host.gpu.0.powerUsage": 0,
    "host.gpu.0.powerCap": 0,
    "host.gpu.0.temperature": 0,
    "host.gpu.1.name": "NVIDIA GeForce RTX 4090",
    "host.gpu.1.busId": "00000000:3B:00.0",
    "host.gpu.1.memTotal": 24564 * MIB,
    "host.gpu.1.memFree": (24564 - 1024) * MIB,
    "host.gpu.1.memUsed": 1024 * MIB,
    "host.gpu.1.gpuUtilization": 37,
    "host.gpu.1.memUtilization": 0,
    "host.gpu.1.powerUsage": 0,
    "host.gpu.1.powerCap": 0,
    "host.gpu.1.temperature": 61,
    "host.vmCount": 3,
    "host.vmRunning": 2,
    "host.cpuUsage": 25,
    "host.memTotal": 65_000_000,
    "host.memFree": 16_250_000,
    "host.memUsage": 75,
    "host.rxFlow": 1234,
    "host.txFlow": 5678,
    "host.diskTotal": 1_000_000,
    "host.diskFree": 250_000,
    "host.diskUsage": 75,
    "host.diskMountStatus": "normal",
    "host.loadAverage.1": 0.5,
    "host.loadAverage.5": 1.25,
    "host.loadAverage.15": 2.99,
    "host.dbcVersion": "0.1.0",
  });

  // No GPUs, no disk, no load average, no previous sample: what the original sends then.
  const bare = hostAgentData({
    machineId: "cd".repeat(32),
    sample: { ...HOST, disk: null, loadAverage: null },
    gpus: [],
    gpusAt: AT,
    gpuUsed: 0,
    vmCount: 0,
    vmRunning: 0,
    rxFlow: 0,
    txFlow: 0,
    version: "0.1.0",
    now,
  });
  const bareValues = values(bare);
  assert.equal(bareValues.get("host.gpuCount"), 0);
  assert.ok(![...bareValues.keys()].some((key) => key.startsWith("host.gpu.")));
  assert.ok(![...bareValues.keys()].some((key) => key.startsWith("host.loadAverage")));
  assert.equal(bareValues.get("host.cpuUsage"), 0);
  assert.equal(bareValues.get("host.diskMountStatus"), "lost");
  assert.equal(bareValues.get("host.diskTotal"), 0);
});

Deno.test("Zabbix framing: ZBXD, 0x01, the length as 8 bytes little-endian, the JSON", () => {
  const json = activeChecksRequest("vm-7kq2m4xa");
  assert.equal(json, '{"request":"active checks","host":"vm-7kq2m4xa"}');
  const bytes = frame(json);
  assert.deepEqual([...bytes.subarray(0, 5)], [0x5a, 0x42, 0x58, 0x44, 0x01]);
  assert.deepEqual([...bytes.subarray(5, 13)], [json.length, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(new TextDecoder().decode(bytes.subarray(13)), json);
  assert.deepEqual(readFrame(bytes), { kind: "frame", json, length: bytes.length });
  const long = frame("x".repeat(300));
  assert.deepEqual([...long.subarray(5, 7)], [300 & 0xff, 300 >> 8]);

  assert.deepEqual(readFrame(bytes.subarray(0, 12)), { kind: "incomplete" });
  assert.deepEqual(readFrame(bytes.subarray(0, 20)), { kind: "incomplete" });
  assert.equal(readFrame(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n")).kind, "invalid");
  assert.equal(readFrame(frame("y".repeat(4097))).kind, "invalid", "over the original's 4 KiB");
  assert.equal(readFrame(frame("")).kind, "invalid");

  assert.ok(answerSucceeded('{"response":"success","info":"processed: 3; failed: 0"}'));
  assert.ok(!answerSucceeded('{"response":"failed","info":"host [x] not found"}'));
  assert.ok(!answerSucceeded("not json"));
});
