/**
 * `virsh domstats` read into a VM's usage: output recorded from libvirt 9 on
 * a TCG guest without a balloon driver (memory from QEMU's resident size, no
 * network interface), and the fields a guest's balloon driver and a tap
 * interface add (memory as the guest sees it, bytes on the wire).
 */
import assert from "node:assert/strict";
import { parseDomainStats } from "../../../../node_service/vm/libvirt/domain_stats.ts";

/**
 * `virsh domstats --cpu-total --balloon --vcpu --interface --block <domain>`, libvirt 9.0, some
 * block counters left out; vdb's reads (0 at the time) set, so that the sum shows.
 */
const RECORDED = `Domain: 'dbct-7be20b42-vm-6msvafvkj7'
  cpu.time=279126000
  cpu.user=143784000
  cpu.system=135341000
  cpu.cache.monitor.count=0
  cpu.haltpoll.success.time=0
  cpu.haltpoll.fail.time=0
  balloon.current=262144
  balloon.maximum=262144
  balloon.rss=76252
  vcpu.current=1
  vcpu.maximum=1
  vcpu.0.state=1
  vcpu.0.time=60000000
  vcpu.0.wait=0
  vcpu.0.delay=10879118
  net.count=0
  block.count=2
  block.0.name=vda
  block.0.path=/var/tmp/dbc-test/vm-usage-eacf638da6ed9d55/vms/vm-6msvafvkj7/disk.qcow2
  block.0.backingIndex=2
  block.0.rd.reqs=0
  block.0.rd.bytes=0
  block.0.wr.reqs=0
  block.0.wr.bytes=0
  block.0.capacity=67108864
  block.1.name=vdb
  block.1.path=/var/tmp/dbc-test/vm-usage-eacf638da6ed9d55/vms/vm-6msvafvkj7/seed.img
  block.1.rd.reqs=3
  block.1.rd.bytes=12288
  block.1.wr.reqs=0
  block.1.wr.bytes=0

`;

Deno.test("recorded domstats: CPU time, vCPUs, QEMU's resident memory, disks added up, no network", () => {
  assert.deepEqual(parseDomainStats(RECORDED), {
    cpuTimeNs: 279126000,
    vcpus: 1,
    memoryUsedBytes: 76252 * 1024,
    memoryLimitBytes: 262144 * 1024,
    netRxBytes: null,
    netTxBytes: null,
    diskReadBytes: 12288,
    diskWriteBytes: 0,
  });
});

Deno.test("with a balloon driver the guest's own view of used memory counts; tap interfaces add up", () => {
  const withGuest = RECORDED.replace(
    "  balloon.rss=76252\n",
    "  balloon.rss=76252\n  balloon.available=250000\n  balloon.unused=150000\n  balloon.usable=200000\n",
  ).replace(
    "  net.count=0\n",
    "  net.count=2\n  net.0.name=vnet0\n  net.0.rx.bytes=1000\n  net.0.tx.bytes=500\n  net.1.rx.bytes=1\n  net.1.tx.bytes=2\n",
  );
  const usage = parseDomainStats(withGuest)!;
  // available less usable: what the guest could not give back without swapping.
  assert.equal(usage.memoryUsedBytes, 50000 * 1024);
  assert.equal(usage.netRxBytes, 1001);
  assert.equal(usage.netTxBytes, 502);
});

Deno.test("output without counters is no reading", () => {
  assert.equal(parseDomainStats(""), undefined);
  assert.equal(parseDomainStats("Domain: 'x'\n"), undefined);
});
