/**
 * A VM's NIC on a renter's LAN in its domain XML: a second virtio interface on the LAN's libvirt
 * network, with its own MAC address and the LAN's MTU written out (libvirt tells a virtio guest
 * the MTU only then), accepted by libvirt's own schema; bad values refused before any XML.
 */
import assert from "node:assert/strict";
import { buildDomainXml, type DomainSpec, DomainSpecError } from "../../../node_service/vm/mod.ts";
import { scratchDir } from "../../helpers.ts";
import { run } from "../vm/libvirt_fixture.ts";

function spec(overrides: Partial<DomainSpec> = {}): DomainSpec {
  return {
    name: "dbc-vm-abcdefghij",
    uuid: "0f8c5f2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f",
    domainType: "qemu",
    os: "linux",
    firmware: "bios",
    vcpus: 1,
    memoryMib: 256,
    diskPath: "/var/lib/dbc/vms/vm-abcdefghij/disk.qcow2",
    gpuBusIds: [],
    network: { mode: "user", forward: { hostAddress: "0.0.0.0", hostPort: 30000, guestPort: 22 } },
    macAddress: "52:54:00:ab:cd:ef",
    vnc: { listen: "0.0.0.0", password: "Ab3dEf7h" },
    consoleLogPath: "/var/lib/dbc/vms/vm-abcdefghij/console.log",
    metadata: {
      instanceId: "vm-abcdefghij",
      owner: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
    },
    ...overrides,
  };
}

const LAN_NIC = { network: "dbc-lan-abcd2345", macAddress: "52:54:00:12:34:56", mtu: 1450 };

Deno.test("a LAN NIC is a second virtio interface on the LAN's network, with its MTU", async () => {
  const xml = buildDomainXml(spec({ lanNic: LAN_NIC }));
  const lan = /<interface type="network">[\s\S]*?<\/interface>/.exec(xml)?.[0] ?? "";
  assert.match(lan, /<mac address="52:54:00:12:34:56"\/>/);
  assert.match(lan, /<source network="dbc-lan-abcd2345"\/>/);
  assert.match(lan, /<model type="virtio"\/>/);
  assert.match(lan, /<mtu size="1450"\/>/);
  // The user-mode NIC is still there, and a VM without a LAN has no such interface.
  assert.match(xml, /hostfwd=tcp:0\.0\.0\.0:30000-:22/);
  assert.doesNotMatch(buildDomainXml(spec()), /<interface type="network">/);
  const dir = await scratchDir("lan-nic");
  try {
    await Deno.writeTextFile(`${dir}/domain.xml`, xml);
    const result = await run("virt-xml-validate", [`${dir}/domain.xml`, "domain"]);
    assert.equal(result.code, 0, result.stderr + result.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a LAN NIC with a bad network name, MAC or MTU is refused before any XML", () => {
  for (
    const bad of [
      { ...LAN_NIC, network: "x'/><evil" },
      { ...LAN_NIC, macAddress: "52:54:00:ab:cd:ef" },
      { ...LAN_NIC, macAddress: "not-a-mac" },
      { ...LAN_NIC, mtu: 0 },
    ]
  ) {
    assert.throws(
      () => buildDomainXml(spec({ lanNic: bad })),
      DomainSpecError,
      JSON.stringify(bad),
    );
  }
});
