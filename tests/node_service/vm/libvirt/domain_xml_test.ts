/**
 * Domain XML generation: every variant the node can produce (Linux and
 * Windows, with and without GPUs, each network mode, BIOS and UEFI, kvm and
 * qemu) passes libvirt's own schema check (`virt-xml-validate`), values are
 * escaped, and bad values are refused before any XML exists.
 */
import assert from "node:assert/strict";
import {
  buildDomainXml,
  type DomainNetwork,
  type DomainSpec,
  DomainSpecError,
} from "../../../../node_service/vm/libvirt/domain_xml.ts";
import { libvirtPciAttributes, parsePciBusId } from "../../../../node_service/gpu/pci_address.ts";
import { escapeXml, xmlElement } from "../../../../node_service/vm/libvirt/xml_text.ts";
import { scratchDir } from "../../../helpers.ts";
import { run } from "../libvirt_fixture.ts";

const H100_BUS_IDS = ["00000000:18:00.0", "00000000:2A:00.0"];
const SEED = "/var/lib/dbc/vms/vm-abcdefghij/seed.img";

function spec(overrides: Partial<DomainSpec> = {}): DomainSpec {
  return {
    name: "dbc-vm-abcdefghij",
    uuid: "0f8c5f2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f",
    domainType: "kvm",
    os: "linux",
    firmware: "bios",
    vcpus: 4,
    memoryMib: 8192,
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

const NETWORKS: DomainNetwork[] = [
  { mode: "user", forward: { hostAddress: "0.0.0.0", hostPort: 30000, guestPort: 22 } },
  { mode: "user" },
  { mode: "bridge", bridge: "br0" },
  { mode: "network", network: "default" },
];

function variants(): { label: string; spec: DomainSpec }[] {
  const all: { label: string; spec: DomainSpec }[] = [];
  for (const os of ["linux", "windows"] as const) {
    for (const gpuBusIds of [[], H100_BUS_IDS.slice(0, 1), H100_BUS_IDS]) {
      for (const network of NETWORKS) {
        for (const domainType of ["kvm", "qemu"] as const) {
          all.push({
            label: `${os} ${gpuBusIds.length} GPU(s) ${network.mode} ${domainType}`,
            // Every Linux variant with a seed disk; those below without.
            spec: spec({
              os,
              gpuBusIds,
              network,
              domainType,
              seedDiskPath: os === "linux" ? SEED : undefined,
            }),
          });
        }
      }
    }
  }
  all.push({ label: "uefi", spec: spec({ firmware: "uefi" }) });
  all.push({
    label: "uefi with a seed disk",
    spec: spec({ firmware: "uefi", seedDiskPath: SEED }),
  });
  all.push({
    label: "direct kernel boot with a seed disk",
    spec: spec({ directBoot: { kernelPath: "/k", cmdline: "" }, seedDiskPath: SEED }),
  });
  all.push({
    label: "fixed VNC port",
    spec: spec({ vnc: { listen: "127.0.0.1", password: "x", port: 5999 } }),
  });
  all.push({
    label: "direct kernel boot",
    spec: spec({
      directBoot: {
        kernelPath: "/images/vmlinuz",
        initrdPath: "/images/initrd.img",
        cmdline: "console=ttyS0 quiet",
      },
    }),
  });
  all.push({
    label: "hostile owner and paths",
    spec: spec({
      metadata: { instanceId: "vm-abcdefghij", owner: `<evil a="1">&'</evil>` },
      diskPath: "/tmp/a&b <c>/disk.qcow2",
      directBoot: { kernelPath: "/k", cmdline: `x="</cmdline><devices/>"` },
    }),
  });
  return all;
}

Deno.test("every generated domain XML passes virt-xml-validate", async () => {
  const dir = await scratchDir("domain-xml");
  try {
    const all = variants();
    const files: string[] = [];
    for (const [index, variant] of all.entries()) {
      const path = `${dir}/${index}.xml`;
      await Deno.writeTextFile(path, buildDomainXml(variant.spec));
      files.push(path);
    }
    for (const [index, path] of files.entries()) {
      const result = await run("virt-xml-validate", [path, "domain"]);
      assert.equal(
        result.code,
        0,
        `${all[index]!.label}: ${result.stderr}${result.stdout}\n${await Deno.readTextFile(path)}`,
      );
    }
    assert.ok(files.length >= 50, `validated ${files.length} variants`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("GPUs become managed PCI hostdevs at nvidia-smi's bus ids", () => {
  const xml = buildDomainXml(spec({ gpuBusIds: H100_BUS_IDS }));
  const hostdevs = [
    ...xml.matchAll(/<hostdev mode="subsystem" type="pci" managed="yes">[\s\S]*?<\/hostdev>/g),
  ]
    .map((match) => match[0]);
  assert.equal(hostdevs.length, 2);
  assert.match(hostdevs[0]!, /<address domain="0x0000" bus="0x18" slot="0x00" function="0x0"\/>/);
  assert.match(hostdevs[1]!, /<address domain="0x0000" bus="0x2a" slot="0x00" function="0x0"\/>/);
  // kvm with GPUs hides the hypervisor from the NVIDIA driver; no GPUs, no such feature.
  assert.match(xml, /<kvm>\s*<hidden state="on"\/>\s*<\/kvm>/);
  assert.doesNotMatch(buildDomainXml(spec()), /<kvm>/);
});

Deno.test("Linux and Windows guests differ where the guest OS needs it", () => {
  const linux = buildDomainXml(spec());
  const windows = buildDomainXml(
    spec({
      os: "windows",
      network: {
        mode: "user",
        forward: { hostAddress: "0.0.0.0", hostPort: 30001, guestPort: 3389 },
      },
    }),
  );
  assert.match(linux, /<target dev="vda" bus="virtio"\/>/);
  assert.match(linux, /<clock offset="utc">/);
  assert.match(linux, /virtio-net-pci,netdev=dbcnet0,mac=52:54:00:ab:cd:ef,bus=pcie.0,addr=0x1b/);
  assert.match(linux, /hostfwd=tcp:0\.0\.0\.0:30000-:22"/);
  assert.doesNotMatch(linux, /hyperv/);
  assert.match(windows, /<target dev="sda" bus="sata"\/>/);
  assert.match(windows, /<clock offset="localtime">/);
  assert.match(windows, /<hyperv mode="custom">/);
  assert.match(windows, /<timer name="hypervclock" present="yes"\/>/);
  assert.match(windows, /e1000e,netdev=dbcnet0/);
  assert.match(windows, /hostfwd=tcp:0\.0\.0\.0:30001-:3389"/);
});

Deno.test("a Linux guest's seed disk is a read-only raw disk after the system disk, which boots first", () => {
  const xml = buildDomainXml(spec({ seedDiskPath: SEED }));
  const disks = [...xml.matchAll(/<disk [\s\S]*?<\/disk>/g)].map((match) => match[0]);
  assert.equal(disks.length, 2);
  assert.match(disks[0]!, /<target dev="vda" bus="virtio"\/>\s*<boot order="1"\/>/);
  assert.doesNotMatch(disks[1]!, /<boot/);
  assert.match(disks[1]!, /<driver name="qemu" type="raw"\/>/);
  assert.match(disks[1]!, new RegExp(`<source file="${SEED}"/>`));
  assert.match(disks[1]!, /<target dev="vdb" bus="virtio"\/>\s*<readonly\/>/);
  // Boot order per device only: libvirt refuses it beside <os><boot dev=.../>.
  assert.doesNotMatch(xml, /<boot dev=/);
  assert.doesNotMatch(buildDomainXml(spec()), /seed\.img|<boot dev=/);
  // A kernel booted directly needs no boot disk.
  assert.doesNotMatch(
    buildDomainXml(spec({ directBoot: { kernelPath: "/k", cmdline: "" }, seedDiskPath: SEED })),
    /<boot /,
  );
});

Deno.test("bridged and libvirt networks use an <interface>, and no QEMU arguments", () => {
  const bridged = buildDomainXml(spec({ network: { mode: "bridge", bridge: "br0" } }));
  assert.match(
    bridged,
    /<interface type="bridge">\s*<mac address="52:54:00:ab:cd:ef"\/>\s*<source bridge="br0"\/>/,
  );
  assert.doesNotMatch(bridged, /qemu:commandline|xmlns:qemu/);
  const natted = buildDomainXml(spec({ network: { mode: "network", network: "default" } }));
  assert.match(natted, /<interface type="network">[\s\S]*<source network="default"\/>/);
});

Deno.test("values are escaped: nothing a caller passes can open an element", () => {
  const xml = buildDomainXml(spec({
    metadata: { instanceId: "vm-abcdefghij", owner: `"/><devices><disk file='/etc/shadow'/>` },
    directBoot: { kernelPath: "/k", cmdline: "a</cmdline><x>" },
  }));
  assert.match(
    xml,
    /owner="&quot;\/&gt;&lt;devices&gt;&lt;disk file=&apos;\/etc\/shadow&apos;\/&gt;"/,
  );
  assert.match(xml, /<cmdline>a&lt;\/cmdline&gt;&lt;x&gt;<\/cmdline>/);
  assert.equal(xml.match(/<devices>/g)?.length, 1);
  assert.equal(escapeXml(`<&>"'`), "&lt;&amp;&gt;&quot;&apos;");
  assert.throws(() => escapeXml("bell\x07"), /control character/);
  assert.throws(() => xmlElement("a b"), /not an XML name/);
});

Deno.test("bad values are refused before any XML is written", () => {
  const cases: [Partial<DomainSpec>, RegExp][] = [
    [{ name: "dbc vm" }, /bad domain name/],
    [{ name: "-x" }, /bad domain name/],
    [{ uuid: "nope" }, /bad UUID/],
    [{ vcpus: 0 }, /bad vCPU count/],
    [{ macAddress: "00:11:22:33:44:55" }, /bad MAC/],
    [{ vnc: { listen: "::", password: "x" } }, /IPv4/],
    [{ vnc: { listen: "0.0.0.0", password: "with space" } }, /VNC password/],
    [{ vnc: { listen: "0.0.0.0", password: "x", port: 80 } }, /bad VNC port/],
    [{
      network: {
        mode: "user",
        forward: { hostAddress: "0.0.0.0,hostfwd=tcp::1-:2", hostPort: 1, guestPort: 22 },
      },
    }, /IPv4/],
    [{
      network: {
        mode: "user",
        forward: { hostAddress: "0.0.0.0", hostPort: 70000, guestPort: 22 },
      },
    }, /bad host port/],
    [{ network: { mode: "bridge", bridge: "br0;rm" } }, /bad bridge/],
    [{ network: { mode: "network", network: "" } }, /bad network/],
    [{ gpuBusIds: ["18:00.0"] }, /not a PCI bus id/],
    [{ gpuBusIds: ["00000000:18:00.0", "0000:18:00.0"] }, /passed through twice/],
    [{ diskPath: "relative.qcow2" }, /absolute path/],
    [{ seedDiskPath: "seed.img" }, /absolute path/],
    [{ os: "windows", seedDiskPath: SEED }, /seed disk is for Linux/],
  ];
  for (const [overrides, message] of cases) {
    assert.throws(() => buildDomainXml(spec(overrides)), (error: unknown) => {
      assert.ok(error instanceof DomainSpecError, `${JSON.stringify(overrides)}: ${error}`);
      assert.match(error.message, message);
      return true;
    });
  }
});

Deno.test("PCI bus ids convert to libvirt's address attributes", () => {
  assert.deepEqual(parsePciBusId("00000000:18:00.0"), {
    domain: 0,
    bus: 0x18,
    slot: 0,
    function: 0,
  });
  assert.deepEqual(libvirtPciAttributes(parsePciBusId("00000000:BD:1f.7")!), {
    domain: "0x0000",
    bus: "0xbd",
    slot: "0x1f",
    function: "0x7",
  });
  // VMD puts devices in domains above 0xffff.
  assert.equal(libvirtPciAttributes(parsePciBusId("00010000:01:00.0")!).domain, "0x10000");
  assert.equal(parsePciBusId("0000:18:00.0")?.bus, 0x18);
  for (const bad of ["", "18:00.0", "00000000:18:00.8", "00000000:18:20.0", "0000000g:18:00.0"]) {
    assert.equal(parsePciBusId(bad), undefined, bad);
  }
});
