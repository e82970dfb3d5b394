/**
 * The VM methods through the node-service worker as the node starts it, with
 * its narrow Deno permissions: typed messages add images, create a VM that
 * boots on real libvirt, read its console, and delete it. Fails (does not
 * skip) when libvirt is not running.
 */
import assert from "node:assert/strict";
import { startNode } from "../../../main.ts";
import {
  createLogger,
  generateNodeKeys,
  nodePaths,
  RpcError,
  silentLogger,
  systemClock,
} from "../../../mod/mod.ts";
import { testNodeConfig, waitFor } from "../../helpers.ts";
import {
  removeDomains,
  requireLibvirt,
  testGuest,
  virsh,
  vmScratchDir,
} from "./libvirt_fixture.ts";

const BOOT_MS = 180_000;
const ACTOR = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

Deno.test("the node-service worker creates, shows and deletes a VM through typed messages", async () => {
  await requireLibvirt();
  const guest = await testGuest();
  const dir = await vmScratchDir("vm-worker");
  const config = testNodeConfig(dir, [
    "--vm-domain-type",
    "qemu",
    "--vm-listen-address",
    "127.0.0.1",
    "--image-dir",
    `${dir}/images`,
  ]);
  const paths = nodePaths(config.data_dir);
  for (const sub of [paths.dataDir, paths.networkDir, paths.serviceDir]) {
    // 0711: QEMU (libvirt's user) must traverse the data directory to reach VM disks.
    await Deno.mkdir(sub, { recursive: true, mode: 0o711 });
  }
  // The worker may read only its own directories: images are placed in the image directory first.
  await Deno.mkdir(`${dir}/images`, { mode: 0o755 });
  for (
    const [name, from] of [["base.qcow2", guest.baseDisk], ["vmlinuz", guest.kernel], [
      "initrd.img",
      guest.initrd,
    ]]
  ) {
    await Deno.copyFile(from!, `${dir}/images/${name}`);
  }
  const node = await startNode({
    config,
    paths,
    keys: generateNodeKeys(),
    log: Deno.env.get("DBC_TEST_LOG")
      ? createLogger({ level: "debug", format: "text", component: "test" })
      : silentLogger,
    clock: systemClock,
  });
  let domain: string | undefined;
  try {
    const call = node.rpc.call.bind(node.rpc);
    // Workers type-check their modules as they start: slow on a loaded machine.
    let lastStatus: unknown;
    await waitFor("the node service to run", async () => {
      const status = await call("node.status", {});
      lastStatus = status.workers.node_service;
      return status.workers.node_service.state === "running" || undefined;
    }, 180_000).catch((error) => {
      throw new Error(`${error.message}; last status ${JSON.stringify(lastStatus)}`);
    });
    // The host checks, with the worker's narrow permissions (stat, id, qemu.conf): all reachable.
    const host = await call("host.checks", { max_age_ms: 0 });
    for (const name of ["qemu_user", "vm_dir", "image_dir"]) {
      const check = host.checks.find((candidate) => candidate.check === name);
      assert.equal(check?.state, "ok", JSON.stringify(check ?? host));
    }
    for (const name of ["base.qcow2", "vmlinuz", "initrd.img"]) {
      const added = await call("vm_image.add", {
        actor: ACTOR,
        name,
        source: { kind: "path", path: `${dir}/images/${name}` },
      });
      assert.equal(added.state, "adding");
    }
    await waitFor("images ready", async () => {
      const { images } = await call("vm_image.list", {});
      return images.length === 3 && images.every((image) => image.state === "ready")
        ? images
        : undefined;
    }, 60_000);
    // Outside the worker's reach: refused with a reason, not a crash.
    const outside = await call("vm_image.add", {
      actor: ACTOR,
      name: "passwd",
      source: { kind: "path", path: "/etc/passwd" },
    });
    assert.equal(outside.state, "adding");
    const refused = await waitFor("refused add", async () => {
      const image = (await call("vm_image.list", {})).images.find((candidate) =>
        candidate.name === "passwd"
      );
      return image?.state === "failed" ? image : undefined;
    });
    assert.match(refused.error!, /may not read \/etc\/passwd/);

    const vm = await call("vm.create", {
      actor: ACTOR,
      image: "base.qcow2",
      cpu_cores: 1,
      memory_mib: 256,
      direct_boot: { kernel_image: "vmlinuz", initrd_image: "initrd.img", cmdline: guest.cmdline },
    }, { timeoutMs: BOOT_MS });
    domain = vm.domain;
    assert.equal(vm.state, "running");
    assert.match(vm.domain, /^dbc-vm-[a-z2-7]{10}$/);
    assert.ok(
      vm.login && vm.login.port >= 30000 && vm.login.port <= 32767,
      JSON.stringify(vm.login),
    );
    await waitFor("the guest's marker through vm.logs", async () => {
      const { lines } = await call("vm.logs", { id: vm.id, lines: 100 });
      return lines.includes("DBC-TEST-GUEST-READY") || undefined;
    }, BOOT_MS);
    const detail = await call("vm.get", { id: vm.id });
    assert.equal(detail.hypervisor.state, "present");
    assert.deepEqual((await call("vm.list", {})).vms.map((listed) => listed.id), [vm.id]);
    await assert.rejects(
      call("vm_image.delete", { actor: ACTOR, name: "base.qcow2" }),
      (error: unknown) => {
        assert.ok(error instanceof RpcError);
        assert.equal(error.code, "conflict");
        return true;
      },
    );
    await assert.rejects(
      call("vm.start", { actor: ACTOR, id: "vm-nosuchvmxx" }),
      /no VM vm-nosuchvmxx/,
    );
    await assert.rejects(call("vm.get", { id: "../etc" }), (error: unknown) => {
      assert.ok(error instanceof RpcError);
      assert.equal(error.code, "invalid_params");
      return true;
    });

    const deleted = await call("vm.delete", { actor: ACTOR, id: vm.id }, { timeoutMs: 120_000 });
    assert.equal(deleted.state, "deleted");
    assert.notEqual((await virsh("domstate", vm.domain)).code, 0);
    assert.deepEqual(await call("gpu.allocations", {}), { allocations: [] });
    assert.deepEqual(await call("vm_image.delete", { actor: ACTOR, name: "base.qcow2" }), {
      name: "base.qcow2",
      deleted: true,
    });
  } finally {
    await node.stop("test over");
    if (domain) await removeDomains(domain);
    await Deno.remove(dir, { recursive: true });
  }
});
