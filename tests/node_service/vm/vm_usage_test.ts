/**
 * A VM's usage on real libvirt (TCG): what `virsh domstats` says of the
 * running domain, as the VM service reports it (CPU time that grows while it
 * boots, memory within its size, its disks' counters), and none once it is
 * stopped (conflict).
 */
import assert from "node:assert/strict";
import type { RpcError } from "../../../mod/mod.ts";
import { DOMSTATS_FLAGS, parseDomainStats } from "../../../node_service/vm/libvirt/domain_stats.ts";
import { waitFor } from "../../helpers.ts";
import {
  removeDomains,
  requireLibvirt,
  testGuest,
  testPrefix,
  virsh,
  vmScratchDir,
} from "./libvirt_fixture.ts";
import { addGuestImages, guestRequest, openVmSetting } from "./vm_fixture.ts";

const MEMORY_MIB = 256;

Deno.test("a running VM's usage: CPU time grows, memory within its size, none once stopped", async () => {
  await requireLibvirt();
  const guest = await testGuest();
  const prefix = testPrefix();
  const dir = await vmScratchDir("vm-usage");
  const setting = openVmSetting({ dir, prefix });
  try {
    await addGuestImages(setting.images, guest);
    const vm = await setting.service.create(guestRequest(guest, { memory_mib: MEMORY_MIB }));
    assert.equal(vm.state, "running");

    const first = await setting.service.usage(vm.id);
    assert.equal(first.kind, "vm");
    assert.equal(first.cpus, 1);
    assert.ok(first.cpu_time_ns !== null && first.cpu_time_ns > 0, JSON.stringify(first));
    assert.equal(first.memory_limit_bytes, MEMORY_MIB * 2 ** 20);
    assert.ok(first.memory_used_bytes !== null && first.memory_used_bytes > 0);
    const later = await waitFor("its CPU time to grow", async () => {
      const reading = await setting.service.usage(vm.id);
      return reading.cpu_time_ns! > first.cpu_time_ns! ? reading : undefined;
    }, 30_000);
    // Its disks are counted (the guest may not have read them yet); user-mode networking has no
    // host interface for libvirt to count.
    assert.notEqual(later.disk_read_bytes, null, JSON.stringify(later));

    // The service reads what virsh prints: the parse of the raw output agrees.
    const raw = await virsh("domstats", ...DOMSTATS_FLAGS, vm.domain);
    assert.equal(raw.code, 0, raw.stderr);
    const parsed = parseDomainStats(raw.stdout);
    assert.equal(parsed?.vcpus, 1);
    assert.ok(parsed!.cpuTimeNs! >= later.cpu_time_ns!);

    await setting.service.stop("test", vm.id, { force: true });
    await assert.rejects(
      () => setting.service.usage(vm.id),
      (error: RpcError) => error.code === "conflict",
    );
  } finally {
    await removeDomains(prefix);
    await setting.close();
    await Deno.remove(dir, { recursive: true });
  }
});
