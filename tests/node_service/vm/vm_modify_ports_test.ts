/**
 * Modify of a stopped VM's host ports beside the login port: the VNC port
 * and the custom forwards (the original's `new_vnc_port`, `new_custom_port`;
 * `new_rdp_port` is a Windows VM's login port), checked as at create. The
 * plan's checks are pure; then on real libvirt (emulated): the new forwards
 * are in the definition, QEMU listens on them once started and no longer on
 * the old ones, and a port another VM holds is refused.
 *
 * The libvirt test fails (does not skip) when libvirt is not running.
 */
import assert from "node:assert/strict";
import { RpcError } from "../../../mod/mod.ts";
import { type ModifyCurrent, planModify } from "../../../node_service/vm/modify_plan.ts";
import { freePort, waitFor } from "../../helpers.ts";
import {
  removeDomains,
  requireLibvirt,
  tcpAccepts,
  testGuest,
  testPrefix,
  virsh,
  vmScratchDir,
} from "./libvirt_fixture.ts";
import { addGuestImages, guestRequest, openVmSetting } from "./vm_fixture.ts";
import { GIB, NO_PORTS, refused, SPEC } from "./modify_fixture.ts";

/** How long QEMU may take to open its forwards after a start. */
const LISTEN_MS = 30_000;

const spec = {
  ...SPEC,
  custom_ports: [{ protocol: "tcp" as const, host_port: 30010, guest_port: 80 }],
};
const current: ModifyCurrent = {
  state: "stopped",
  spec,
  loginPort: 30001,
  vncPort: 30002,
  diskBytes: 10 * GIB,
};

Deno.test("a modify moves the VNC port and replaces the custom forwards", () => {
  const forwards = [
    { protocol: "udp" as const, host_port: 30011, guest_port: 53 },
    { protocol: "tcp" as const, host_port: 30010, guest_port: 8080 },
  ];
  const plan = planModify(current, { vnc_port: 30003, custom_ports: forwards }, NO_PORTS);
  assert.equal(plan.vncPort, 30003);
  assert.deepEqual(plan.spec.custom_ports, forwards);
  assert.deepEqual(plan.changes, {
    vnc_port: { from: 30002, to: 30003 },
    custom_ports: { from: spec.custom_ports, to: forwards },
  });
  const cleared = planModify(current, { custom_ports: [] }, NO_PORTS);
  assert.equal(cleared.spec.custom_ports, undefined);
  assert.equal(cleared.vncPort, 30002, "what is not named stays");
  // The same values: no change, and the VM's own ports are not checked against the host.
  const same = planModify(current, { vnc_port: 30002, custom_ports: spec.custom_ports }, {
    otherVms: new Set(),
    host: new Set(["tcp:30002", "tcp:30010"]),
  });
  assert.deepEqual(same.changes, {});
});

Deno.test("a new VNC or custom port is refused as at create", () => {
  assert.throws(
    () => planModify(current, { vnc_port: 30005 }, { otherVms: new Set([30005]), host: new Set() }),
    refused("conflict", /VNC port 30005 is taken by another VM/),
  );
  assert.throws(
    () =>
      planModify(current, {
        custom_ports: [{ protocol: "tcp", host_port: 30012, guest_port: 22 }],
      }, { otherVms: new Set(), host: new Set(["tcp:30012"]) }),
    refused("conflict", /custom tcp port 30012 is in use on this host/),
  );
  assert.throws(
    () =>
      planModify(current, {
        custom_ports: [{ protocol: "udp", host_port: 30001, guest_port: 53 }],
      }, NO_PORTS),
    refused("invalid", /host port 30001 would be the VM's twice/),
  );
  assert.throws(
    () => planModify(current, { vnc_port: 30010 }, NO_PORTS),
    refused("invalid", /30010 would be the VM's twice/),
  );
  const bridged = {
    ...current,
    loginPort: null,
    spec: { ...spec, custom_ports: undefined, network: { mode: "bridge" as const, source: "br0" } },
  };
  assert.throws(
    () =>
      planModify(bridged, {
        custom_ports: [{ protocol: "tcp", host_port: 30012, guest_port: 22 }],
      }, NO_PORTS),
    refused("invalid", /user-mode network only/),
  );
  assert.throws(
    () => planModify({ ...current, state: "running" }, { vnc_port: 30003 }, NO_PORTS),
    refused("conflict", /running; stop it first/),
  );
});

Deno.test("a stopped VM's custom forwards and VNC port change on real libvirt", async () => {
  await requireLibvirt();
  const guest = await testGuest();
  const prefix = testPrefix();
  const dir = await vmScratchDir("vm-modify-ports");
  const setting = openVmSetting({ dir, prefix });
  try {
    await addGuestImages(setting.images, guest);
    const [oldPort, newPort, vncPort, otherPort] = [freePort(), freePort(), freePort(), freePort()];
    const vm = await setting.service.create(guestRequest(guest, {
      start: false,
      custom_ports: [{ protocol: "tcp", host_port: oldPort, guest_port: 80 }],
    }));
    const other = await setting.service.create(guestRequest(guest, {
      start: false,
      custom_ports: [{ protocol: "tcp", host_port: otherPort, guest_port: 80 }],
    }));

    await assert.rejects(
      setting.service.modify({
        actor: "renter",
        id: vm.id,
        custom_ports: [{ protocol: "tcp", host_port: otherPort, guest_port: 80 }],
      }),
      (error: unknown) =>
        error instanceof RpcError && error.code === "conflict" &&
        /taken by another VM/.test(error.message),
    );
    await assert.rejects(
      setting.service.modify({ actor: "renter", id: vm.id, vnc_port: otherPort }),
      (error: unknown) =>
        error instanceof RpcError && /VNC port \d+ is taken by another VM/.test(error.message),
    );
    await assert.rejects(
      setting.service.modify({ actor: "renter", id: vm.id, vnc_port: 80 }),
      (error: unknown) =>
        error instanceof RpcError && error.code === "invalid_params" &&
        /outside this node's VM ports/.test(error.message),
    );

    const changed = await setting.service.modify({
      actor: "renter",
      id: vm.id,
      vnc_port: vncPort,
      custom_ports: [{ protocol: "tcp", host_port: newPort, guest_port: 8080 }],
    });
    assert.deepEqual(changed.custom_ports, [
      { protocol: "tcp", host_port: newPort, guest_port: 8080 },
    ]);
    assert.equal(changed.vnc.port, vncPort);
    const xml = (await virsh("dumpxml", "--inactive", vm.domain)).stdout;
    assert.match(xml, new RegExp(`hostfwd=tcp:127\\.0\\.0\\.1:${newPort}-:8080`));
    assert.doesNotMatch(xml, new RegExp(`${oldPort}-:80`));
    assert.match(xml, new RegExp(`<graphics type=.vnc. port=.${vncPort}.`));

    await setting.service.start("renter", vm.id);
    await waitFor(
      `QEMU listening on ${newPort}`,
      async () => await tcpAccepts(newPort) || undefined,
      LISTEN_MS,
    );
    assert.ok(await tcpAccepts(vncPort), "QEMU's VNC display is on the new port");
    assert.equal(await tcpAccepts(oldPort), false, "the old forward is gone");
    // The other VM's ports were never touched.
    assert.deepEqual((await setting.service.get(other.id)).custom_ports, [
      { protocol: "tcp", host_port: otherPort, guest_port: 80 },
    ]);
    await setting.service.stop("renter", vm.id, { force: true });
  } finally {
    await removeDomains(prefix);
    await setting.close();
  }
});
