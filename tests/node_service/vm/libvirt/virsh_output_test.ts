/**
 * virsh output parsing against output recorded from libvirt 9.0 on this
 * machine (tests/fixtures/virsh/; `domifaddr_lease.txt` follows libvirt's
 * documented layout, as no libvirt network with DHCP runs here).
 */
import assert from "node:assert/strict";
import {
  classifyVirshError,
  parseDomainList,
  parseDomainState,
  parseDomBlkList,
  parseDomIfAddr,
  parseDomInfo,
  parseVncDisplay,
  virshMessage,
} from "../../../../node_service/vm/libvirt/virsh_output.ts";

const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(`../../../fixtures/virsh/${name}`, import.meta.url));

Deno.test("virsh list --all: names and states, including 'shut off'", () => {
  assert.deepEqual(parseDomainList(fixture("list_all.txt")), [
    { name: "dbc-exp-1", state: "running" },
    { name: "dbc-exp-linux", state: "shut off" },
  ]);
  assert.deepEqual(parseDomainList(" Id   Name   State\n--------------------\n\n"), []);
  // libvirt allows spaces in names; the state is matched from the end of the line.
  assert.deepEqual(parseDomainList(" -    my old vm   in shutdown\n"), [{
    name: "my old vm",
    state: "in shutdown",
  }]);
});

Deno.test("virsh dominfo: running and shut off", () => {
  assert.deepEqual(parseDomInfo(fixture("dominfo_running.txt")), {
    name: "dbc-exp-1",
    uuid: "acea90fe-53a3-4d59-9c99-560fe94ec56a",
    state: "running",
    vcpus: 1,
    maxMemoryKib: 262144,
  });
  const off = parseDomInfo(fixture("dominfo_shut_off.txt"));
  assert.equal(off?.state, "shut off");
  assert.equal(off?.vcpus, 2);
  assert.equal(parseDomInfo("garbage"), undefined);
});

Deno.test("virsh domblklist, vncdisplay, domifaddr, domstate", () => {
  assert.deepEqual(parseDomBlkList(fixture("domblklist.txt")), [{
    target: "vda",
    source: "/tmp/vmx/ov.qcow2",
  }]);
  assert.deepEqual(
    parseDomBlkList(" Type   Device   Target   Source\n-----\n file   cdrom    sda      -\n"),
    [],
  );
  assert.equal(parseVncDisplay(fixture("vncdisplay.txt")), 5900);
  assert.equal(parseVncDisplay(":12\n"), 5912);
  assert.equal(parseVncDisplay(""), null);
  assert.deepEqual(parseDomIfAddr(fixture("domifaddr_lease.txt")), [
    "192.168.122.47",
    "fd00:122::5054:ff:fe4b:9e1a",
  ]);
  assert.equal(parseDomainState("shut off\n\n"), "shut off");
  assert.equal(parseDomainState("nonsense"), undefined);
});

Deno.test("virsh errors are sorted by kind, with the message kept", () => {
  assert.equal(classifyVirshError(fixture("error_no_domain.txt")), "not_found");
  assert.equal(classifyVirshError(fixture("error_already_active.txt")), "conflict");
  assert.equal(classifyVirshError(fixture("error_no_daemon.txt")), "unavailable");
  assert.equal(classifyVirshError(fixture("error_no_passthrough.txt")), "invalid");
  assert.equal(classifyVirshError("error: something odd"), "failed");
  assert.equal(
    virshMessage(fixture("error_no_passthrough.txt")),
    "Failed to start domain 'dbc-exp-linux': unsupported configuration: host doesn't support passthrough of host PCI devices",
  );
});
