/**
 * GPUs and node restarts on real libvirt: two requests for one GPU (one
 * wins, one gets a clear error); the winner's domain passes the GPU through
 * at nvidia-smi's bus id; a restart (database and service reopened) keeps
 * records and allocations; reconciliation reports a VM whose domain was
 * undefined behind the node's back, and a domain nobody recorded.
 *
 * The GPUs are recorded nvidia-smi output: there is no GPU here, so GPU VMs
 * are defined (libvirt validates them) but not started.
 */
import assert from "node:assert/strict";
import { type GpuReport, RpcError } from "../../../mod/mod.ts";
import { buildDomainXml } from "../../../node_service/vm/libvirt/domain_xml.ts";
import { parseGpuCsv } from "../../../node_service/gpu/inventory.ts";
import {
  removeDomains,
  requireLibvirt,
  testGuest,
  testPrefix,
  virsh,
  vmScratchDir,
} from "./libvirt_fixture.ts";
import { addGuestImages, guestRequest, openVmSetting } from "./vm_fixture.ts";

const EIGHT_GPUS: GpuReport = {
  state: "present",
  gpus: parseGpuCsv(
    Deno.readTextFileSync(new URL("../../fixtures/nvidia-smi/eight_a100.csv", import.meta.url)),
  ),
  queried_at: 0,
};

Deno.test("one GPU, two requests: one wins; a restart keeps records and allocations; reconciliation notes what changed", async () => {
  await requireLibvirt();
  const guest = await testGuest();
  const prefix = testPrefix();
  const dir = await vmScratchDir("vm-restart");
  let setting = openVmSetting({ dir, prefix, gpuReport: EIGHT_GPUS });
  try {
    await addGuestImages(setting.images, guest);
    const request = guestRequest(guest, { gpus: { indexes: [4] }, start: false });
    const outcomes = await Promise.allSettled([
      setting.service.create(request),
      setting.service.create(request),
    ]);
    const won = outcomes.filter((outcome) => outcome.status === "fulfilled");
    const lost = outcomes.filter((outcome) => outcome.status === "rejected");
    assert.equal(won.length, 1, JSON.stringify(outcomes));
    assert.equal(lost.length, 1);
    const gpuVm = won[0]!.value;
    const refusal = lost[0]!.reason;
    assert.ok(refusal instanceof RpcError);
    assert.equal(refusal.code, "conflict");
    assert.match(
      refusal.message,
      new RegExp(`GPU 4 \\(GPU-4e5f6071-5555-4e9f-8a3b-4c5d6e7f8091\\) is held by vm ${gpuVm.id}`),
    );
    assert.deepEqual(gpuVm.gpu_devices, [{
      index: 4,
      uuid: "GPU-4e5f6071-5555-4e9f-8a3b-4c5d6e7f8091",
      pci_bus_id: "00000000:87:00.0",
    }]);
    assert.equal(gpuVm.state, "stopped");
    // The loser left nothing behind: no record, no domain.
    assert.equal((await setting.service.list({ includeDeleted: true })).length, 1);
    const xml = (await virsh("dumpxml", gpuVm.domain)).stdout;
    assert.match(
      xml,
      /<hostdev mode='subsystem' type='pci' managed='yes'>\s*<source>\s*<address domain='0x0000' bus='0x87' slot='0x00' function='0x0'\/>/,
    );

    // Starting it needs a real GPU (IOMMU, vfio): the caller hears libvirt's reason.
    await assert.rejects(
      setting.service.start("operator", gpuVm.id),
      /passthrough|PCI|vfio|IOMMU/i,
    );

    const plain = await setting.service.create(guestRequest(guest, { start: false }));
    const allocationsBefore = setting.gpus.list();

    // --- node restart: everything reopened from the same files.
    await setting.close();
    // Behind the node's back: one VM's domain is undefined, and a stray domain appears.
    assert.equal((await virsh("undefine", plain.domain)).code, 0);
    const strayXml = `${dir}/stray.xml`;
    await Deno.writeTextFile(
      strayXml,
      buildDomainXml({
        name: `${prefix}stray`,
        uuid: crypto.randomUUID(),
        domainType: "qemu",
        os: "linux",
        firmware: "bios",
        vcpus: 1,
        memoryMib: 128,
        diskPath: `${dir}/stray.qcow2`,
        gpuBusIds: [],
        network: { mode: "user" },
        macAddress: "52:54:00:00:00:01",
        vnc: { listen: "127.0.0.1", password: "x" },
        consoleLogPath: `${dir}/stray.log`,
        metadata: { instanceId: "stray", owner: "someone" },
      }),
    );
    assert.equal((await virsh("define", strayXml)).code, 0);

    setting = openVmSetting({ dir, prefix, gpuReport: EIGHT_GPUS });
    assert.deepEqual(setting.gpus.list(), allocationsBefore);
    assert.deepEqual(
      (await setting.service.list({ includeDeleted: false })).map((vm) => vm.id).sort(),
      [gpuVm.id, plain.id].sort(),
    );
    const findings = await setting.service.reconcile();
    assert.deepEqual(findings, [
      { kind: "vanished", id: plain.id, domain: plain.domain, from: "stopped", to: "failed" },
      { kind: "appeared", domain: `${prefix}stray`, observed: "shut off" },
    ]);
    const vanished = await setting.service.get(plain.id);
    assert.equal(vanished.state, "failed");
    assert.match(vanished.last_error!, /vanished from libvirt/);
    assert.deepEqual(vanished.hypervisor, { state: "missing" });
    const noted = setting.events.list({ action: "vm.reconcile", limit: 10 });
    assert.deepEqual(
      noted.map((event) => [event.target, event.result]).sort(),
      [
        [`${prefix}stray`, "ok"],
        [plain.id, "error"],
      ].sort(),
    );
    // A second start-up finds nothing new.
    assert.deepEqual((await setting.service.reconcile()).map((finding) => finding.kind), [
      "appeared",
    ]);

    // The GPU stays with its VM across the restart, and is free again once that VM is deleted.
    await assert.rejects(setting.service.create(request), /GPU 4 .* is held by vm/);
    assert.equal((await setting.service.delete("operator", plain.id)).state, "deleted");
    assert.equal((await setting.service.delete("operator", gpuVm.id)).state, "deleted");
    assert.deepEqual(setting.gpus.list(), []);
    const next = await setting.service.create(request);
    assert.deepEqual(next.gpus, ["GPU-4e5f6071-5555-4e9f-8a3b-4c5d6e7f8091"]);
    await setting.service.delete("operator", next.id);
  } finally {
    await removeDomains(prefix);
    await setting.close().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
