/**
 * Domain XML for a VM, generated from a plain description ({@link DomainSpec}).
 * Pure: no I/O, so every variant can be checked with `virt-xml-validate` in
 * tests, and every value is escaped by {@link xmlElement}.
 *
 * Choices that hold for every guest:
 * - machine `q35` (PCI Express: what passed-through GPUs expect);
 * - the disk is a qcow2 overlay on the image, so the image is never written;
 * - the serial console goes to a file (appended across restarts), which is
 *   how the node shows a guest's own output;
 * - VNC with a password, on the port asked for or one libvirt finds free;
 * - a Linux guest may get a seed disk (cloud-init NoCloud, nocloud_seed.ts)
 *   as a second, read-only virtio disk; the system disk boots first
 *   whatever the firmware finds on it.
 *
 * User-mode networking with port forwarding (SSH for Linux, RDP for Windows)
 * is written as QEMU arguments (`<qemu:commandline>`), because libvirt 9.0's
 * own `<interface type='user'>` forwards ports only with the passt back-end,
 * which this libvirt build does not accept. The NIC then sits at a fixed PCI
 * slot ({@link USER_NIC_PCI_SLOT}) that libvirt leaves alone on q35.
 */
import { createHash } from "node:crypto";
import type { VmOs } from "../../../mod/mod.ts";
import { libvirtPciAttributes, parsePciBusId, type PciAddress } from "../../gpu/mod.ts";
import { isXmlText, type XmlChild, xmlElement, type XmlNode } from "./xml_text.ts";

export const QEMU_XML_NAMESPACE = "http://libvirt.org/schemas/domain/qemu/1.0";
export const DBC_XML_NAMESPACE = "https://github.com/DeepBrainChain/dbc-node/vm/1";
/** libvirt fills slots 1-8 and 0x1f of pcie.0 on q35; 0x1b is never chosen by it. */
export const USER_NIC_PCI_SLOT = 0x1b;
/** Guest ports that a login port is forwarded to. */
export const LOGIN_GUEST_PORT: Record<VmOs, number> = { linux: 22, windows: 3389 };

export type DomainType = "kvm" | "qemu";

/**
 * Spare PCIe root ports of a Linux guest, one per data disk it may get while running
 * (VM_OPS_LIMITS.maxDataDisks); a Windows guest's data disks are SATA, which is not hot-plugged.
 */
export const HOTPLUG_ROOT_PORTS = 8;
/**
 * The controller index of the first spare port: above those libvirt gives the ports it adds for
 * the domain's own devices (numbered from 1), so the two never collide.
 */
const HOTPLUG_FIRST_INDEX = 32;

/**
 * A data disk's `<disk>` element: in the domain XML, and alone for `virsh attach-device` when it
 * is added to a running guest (the same element both ways, so the live and the next boot agree).
 */
export function dataDiskElement(disk: { path: string; target: string }, os: VmOs): XmlNode {
  return xmlElement("disk", { type: "file", device: "disk" }, [
    xmlElement("driver", { name: "qemu", type: "qcow2", discard: "unmap" }),
    xmlElement("source", { file: disk.path }),
    xmlElement("target", { dev: disk.target, bus: os === "windows" ? "sata" : "virtio" }),
  ]);
}

/** A host port forwarded to a guest port by QEMU's user-mode NAT. */
export type PortForward = {
  protocol: "tcp" | "udp";
  hostAddress: string;
  hostPort: number;
  guestPort: number;
};

export type DomainNetwork =
  /**
   * QEMU's own NAT; the login port on the host is forwarded to the guest, and so are the
   * renter's custom ports.
   */
  | {
    mode: "user";
    forward?: { hostAddress: string; hostPort: number; guestPort: number };
    customForwards?: PortForward[];
  }
  /** The guest sits on a host bridge and gets its address from that LAN. */
  | { mode: "bridge"; bridge: string }
  /** A libvirt network (e.g. `default`, NAT with DHCP). */
  | { mode: "network"; network: string };

export type DomainSpec = {
  name: string;
  uuid: string;
  domainType: DomainType;
  os: VmOs;
  firmware: "bios" | "uefi";
  vcpus: number;
  memoryMib: number;
  diskPath: string;
  /** The cloud-init seed image (raw vfat), attached read-only; Linux guests only. */
  seedDiskPath?: string;
  /** Extra qcow2 disks, each at the guest device it is named by (`vdc`.., or `sdb`.. on Windows). */
  dataDisks?: { path: string; target: string }[];
  directBoot?: { kernelPath: string; initrdPath?: string; cmdline: string };
  /** PCI bus ids as nvidia-smi reports them. */
  gpuBusIds: readonly string[];
  network: DomainNetwork;
  macAddress: string;
  /** A second NIC on a renter's private network (a libvirt network, node_service/lan/). */
  lanNic?: { network: string; macAddress: string; mtu: number };
  vnc: { listen: string; password: string; port?: number };
  consoleLogPath: string;
  metadata: { instanceId: string; owner: string };
};

/**
 * The attribute of `<dbc:instance>` that carries {@link domainSpecDigest}:
 * libvirt keeps foreign metadata as written, so the definition it holds says
 * which spec it was made from, and start-up reconciliation can tell a
 * definition that a crash left ahead of (or behind) the VM's record.
 */
export const SPEC_DIGEST_ATTRIBUTE = "spec-sha256";

/**
 * SHA-256 (hex) of the spec, its keys in sorted order. The VNC password is
 * left out: anyone who may read a domain's definition (a read-only libvirt
 * connection included) sees the digest, and eight characters are few enough to
 * find by trying. The node never changes that password after the create.
 */
export function domainSpecDigest(spec: DomainSpec): string {
  const { password: _password, ...vnc } = spec.vnc;
  return createHash("sha256").update(sortedJson({ ...spec, vnc })).digest("hex");
}

/** JSON with every object's keys sorted, so equal values give equal text whatever their order. */
function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).filter(([, field]) => field !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${
      entries.map(([key, field]) => `${JSON.stringify(key)}:${sortedJson(field)}`).join(",")
    }}`;
  }
  return JSON.stringify(value);
}

/** A spec that cannot become a domain; thrown before any XML is written. */
export class DomainSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DomainSpecError";
  }
}

const DOMAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAC = /^52:54:00(:[0-9a-f]{2}){3}$/;
const IFACE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const VNC_PASSWORD = /^[A-Za-z0-9]{1,8}$/;

function check(condition: boolean, message: string): void {
  if (!condition) throw new DomainSpecError(message);
}

function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

function validate(spec: DomainSpec): PciAddress[] {
  check(DOMAIN_NAME.test(spec.name), `bad domain name ${JSON.stringify(spec.name)}`);
  check(UUID.test(spec.uuid), `bad UUID ${JSON.stringify(spec.uuid)}`);
  check(Number.isInteger(spec.vcpus) && spec.vcpus >= 1, `bad vCPU count ${spec.vcpus}`);
  check(Number.isInteger(spec.memoryMib) && spec.memoryMib >= 1, `bad memory ${spec.memoryMib}`);
  check(MAC.test(spec.macAddress), `bad MAC address ${JSON.stringify(spec.macAddress)}`);
  check(IPV4.test(spec.vnc.listen), `VNC listen address must be IPv4: ${spec.vnc.listen}`);
  check(VNC_PASSWORD.test(spec.vnc.password), "VNC password must be 1-8 letters or digits");
  check(
    spec.vnc.port === undefined || (isPort(spec.vnc.port) && spec.vnc.port >= 5900),
    `bad VNC port ${spec.vnc.port}`,
  );
  const dataTargets = new Set<string>();
  for (const disk of spec.dataDisks ?? []) {
    const pattern = spec.os === "windows" ? /^sd[b-z]$/ : /^vd[c-z]$/;
    check(pattern.test(disk.target), `bad data disk target ${JSON.stringify(disk.target)}`);
    check(!dataTargets.has(disk.target), `data disk target ${disk.target} used twice`);
    dataTargets.add(disk.target);
    check(disk.path.startsWith("/") && isXmlText(disk.path), `bad data disk path ${disk.path}`);
  }
  for (const path of [spec.diskPath, spec.consoleLogPath, spec.seedDiskPath ?? "/"]) {
    check(path.startsWith("/"), `not an absolute path: ${JSON.stringify(path)}`);
  }
  // Free text goes into the XML escaped; what XML cannot carry at all is refused here, as a spec
  // error, rather than by the writer halfway through.
  const texts = [
    spec.diskPath,
    spec.consoleLogPath,
    spec.seedDiskPath,
    spec.directBoot?.kernelPath,
    spec.directBoot?.initrdPath,
    spec.directBoot?.cmdline,
    spec.metadata.instanceId,
    spec.metadata.owner,
  ];
  for (const text of texts) {
    if (text !== undefined) {
      check(isXmlText(text), `not text XML can carry: ${JSON.stringify(text)}`);
    }
  }
  // Windows reads no NoCloud seed (cloudbase-init wants a config drive of its own).
  check(spec.seedDiskPath === undefined || spec.os === "linux", "a seed disk is for Linux guests");
  const network = spec.network;
  switch (network.mode) {
    case "user":
      if (network.forward) {
        // These values go into a QEMU option string, where ',' separates options.
        check(IPV4.test(network.forward.hostAddress), "forward address must be IPv4");
        check(isPort(network.forward.hostPort), `bad host port ${network.forward.hostPort}`);
        check(isPort(network.forward.guestPort), `bad guest port ${network.forward.guestPort}`);
      }
      for (const forward of network.customForwards ?? []) {
        check(forward.protocol === "tcp" || forward.protocol === "udp", "bad forward protocol");
        check(IPV4.test(forward.hostAddress), "forward address must be IPv4");
        check(isPort(forward.hostPort), `bad host port ${forward.hostPort}`);
        check(isPort(forward.guestPort), `bad guest port ${forward.guestPort}`);
      }
      break;
    case "bridge":
      check(IFACE_NAME.test(network.bridge), `bad bridge name ${JSON.stringify(network.bridge)}`);
      break;
    case "network":
      check(NETWORK_NAME.test(network.network), `bad network ${JSON.stringify(network.network)}`);
      break;
  }
  if (spec.lanNic) {
    check(NETWORK_NAME.test(spec.lanNic.network), `bad LAN ${JSON.stringify(spec.lanNic.network)}`);
    check(MAC.test(spec.lanNic.macAddress), `bad MAC address ${spec.lanNic.macAddress}`);
    check(spec.lanNic.macAddress !== spec.macAddress, "the LAN NIC needs a MAC address of its own");
    check(
      Number.isInteger(spec.lanNic.mtu) && spec.lanNic.mtu >= 576,
      `bad MTU ${spec.lanNic.mtu}`,
    );
  }
  const addresses = spec.gpuBusIds.map((busId) => {
    const address = parsePciBusId(busId);
    if (!address) throw new DomainSpecError(`not a PCI bus id: ${JSON.stringify(busId)}`);
    return address;
  });
  const seen = new Set(addresses.map((a) => `${a.domain}:${a.bus}:${a.slot}.${a.function}`));
  check(seen.size === addresses.length, "a GPU is passed through twice");
  return addresses;
}

/** The domain XML for `spec`; throws {@link DomainSpecError} on a value that cannot be used. */
export function buildDomainXml(spec: DomainSpec): string {
  const gpus = validate(spec);
  const windows = spec.os === "windows";
  const kvm = spec.domainType === "kvm";
  const el = xmlElement;

  const osChildren: XmlChild[] = [el("type", { arch: "x86_64", machine: "q35" }, ["hvm"])];
  if (spec.directBoot) {
    osChildren.push(el("kernel", {}, [spec.directBoot.kernelPath]));
    if (spec.directBoot.initrdPath) osChildren.push(el("initrd", {}, [spec.directBoot.initrdPath]));
    if (spec.directBoot.cmdline !== "") {
      osChildren.push(el("cmdline", {}, [spec.directBoot.cmdline]));
    }
  }

  const features: XmlNode[] = [el("acpi"), el("apic")];
  if (windows) {
    features.push(el("hyperv", { mode: "custom" }, [
      el("relaxed", { state: "on" }),
      el("vapic", { state: "on" }),
      el("spinlocks", { state: "on", retries: 8191 }),
    ]));
  }
  // Older NVIDIA drivers refuse to run (Code 43) when they see a hypervisor.
  if (kvm && gpus.length > 0) features.push(el("kvm", {}, [el("hidden", { state: "on" })]));

  const clockTimers = [
    el("timer", { name: "rtc", tickpolicy: "catchup" }),
    el("timer", { name: "pit", tickpolicy: "delay" }),
    el("timer", { name: "hpet", present: "no" }),
  ];
  if (windows) clockTimers.push(el("timer", { name: "hypervclock", present: "yes" }));

  const consoleSource = el("source", { path: spec.consoleLogPath, append: "on" });
  const devices: (XmlNode | undefined)[] = [
    el("disk", { type: "file", device: "disk" }, [
      el("driver", { name: "qemu", type: "qcow2", discard: "unmap" }),
      el("source", { file: spec.diskPath }),
      windows
        ? el("target", { dev: "sda", bus: "sata" })
        : el("target", { dev: "vda", bus: "virtio" }),
      // Per device rather than <os><boot dev="hd"/>, which would let the firmware try the
      // seed disk first. A directly booted kernel needs no boot disk.
      spec.directBoot ? undefined : el("boot", { order: 1 }),
    ]),
    spec.seedDiskPath === undefined ? undefined : el("disk", { type: "file", device: "disk" }, [
      el("driver", { name: "qemu", type: "raw" }),
      el("source", { file: spec.seedDiskPath }),
      el("target", { dev: "vdb", bus: "virtio" }),
      el("readonly"),
    ]),
    ...(spec.dataDisks ?? []).map((disk) => dataDiskElement(disk, spec.os)),
    networkInterface(spec.network, spec.macAddress, windows),
    spec.lanNic ? lanInterface(spec.lanNic, windows) : undefined,
    el("serial", { type: "file" }, [consoleSource, el("target", { port: 0 })]),
    el("console", { type: "file" }, [consoleSource, el("target", { type: "serial", port: 0 })]),
    // The QEMU guest agent's port (libvirt picks the socket): how a running guest's password is
    // changed. A guest without an agent just leaves it unopened.
    el("channel", { type: "unix" }, [
      el("target", { type: "virtio", name: "org.qemu.guest_agent.0" }),
    ]),
    el("input", { type: "tablet", bus: "usb" }),
    el(
      "graphics",
      spec.vnc.port === undefined
        ? { type: "vnc", autoport: "yes", listen: spec.vnc.listen, passwd: spec.vnc.password }
        : {
          type: "vnc",
          port: spec.vnc.port,
          autoport: "no",
          listen: spec.vnc.listen,
          passwd: spec.vnc.password,
        },
    ),
    el("video", {}, [el("model", { type: "vga" })]),
    ...gpus.map((address) =>
      el("hostdev", { mode: "subsystem", type: "pci", managed: "yes" }, [
        el("source", {}, [el("address", libvirtPciAttributes(address))]),
      ])
    ),
    el("memballoon", { model: "none" }),
    // Empty PCIe ports a data disk is hot-plugged into while the guest runs: on q35 a device
    // plugged into a running guest needs a free root port, and libvirt adds none of its own.
    ...(windows ? [] : Array.from(
      { length: HOTPLUG_ROOT_PORTS },
      (_, n) =>
        el("controller", { type: "pci", index: HOTPLUG_FIRST_INDEX + n, model: "pcie-root-port" }),
    )),
  ];

  const children: (XmlNode | undefined)[] = [
    el("name", {}, [spec.name]),
    el("uuid", {}, [spec.uuid]),
    el("title", {}, [`dbc vm ${spec.metadata.instanceId}`]),
    el("metadata", {}, [
      el("dbc:instance", {
        "xmlns:dbc": DBC_XML_NAMESPACE,
        id: spec.metadata.instanceId,
        owner: spec.metadata.owner,
        [SPEC_DIGEST_ATTRIBUTE]: domainSpecDigest(spec),
      }),
    ]),
    el("memory", { unit: "MiB" }, [String(spec.memoryMib)]),
    el("vcpu", { placement: "static" }, [String(spec.vcpus)]),
    el("os", spec.firmware === "uefi" ? { firmware: "efi" } : {}, osChildren),
    el("features", {}, features),
    kvm ? el("cpu", { mode: "host-passthrough", check: "none", migratable: "off" }) : undefined,
    el("clock", { offset: windows ? "localtime" : "utc" }, clockTimers),
    el("on_poweroff", {}, ["destroy"]),
    el("on_reboot", {}, ["restart"]),
    el("on_crash", {}, ["destroy"]),
    el("devices", {}, devices),
    userNetworkArguments(spec.network, spec.macAddress, windows),
  ];
  const domainAttributes = spec.network.mode === "user"
    ? { type: spec.domainType, "xmlns:qemu": QEMU_XML_NAMESPACE }
    : { type: spec.domainType };
  return `${el("domain", domainAttributes, children).xml}\n`;
}

function networkInterface(
  network: DomainNetwork,
  mac: string,
  windows: boolean,
): XmlNode | undefined {
  const model = xmlElement("model", { type: windows ? "e1000e" : "virtio" });
  const macElement = xmlElement("mac", { address: mac });
  switch (network.mode) {
    case "user":
      return undefined;
    case "bridge":
      return xmlElement("interface", { type: "bridge" }, [
        macElement,
        xmlElement("source", { bridge: network.bridge }),
        model,
      ]);
    case "network":
      return xmlElement("interface", { type: "network" }, [
        macElement,
        xmlElement("source", { network: network.network }),
        model,
      ]);
  }
}

/**
 * The NIC on a renter's LAN. Its MTU is written out because libvirt tells a virtio guest the MTU
 * (host_mtu) only when the interface names one, not when only its network does: a guest that
 * assumed 1500 would lose its large frames in the VXLAN tunnel.
 */
function lanInterface(nic: { network: string; macAddress: string; mtu: number }, windows: boolean) {
  return xmlElement("interface", { type: "network" }, [
    xmlElement("mac", { address: nic.macAddress }),
    xmlElement("source", { network: nic.network }),
    xmlElement("model", { type: windows ? "e1000e" : "virtio" }),
    xmlElement("mtu", { size: nic.mtu }),
  ]);
}

function userNetworkArguments(
  network: DomainNetwork,
  mac: string,
  windows: boolean,
): XmlNode | undefined {
  if (network.mode !== "user") return undefined;
  const forwards = [
    ...(network.forward ? [{ protocol: "tcp" as const, ...network.forward }] : []),
    ...(network.customForwards ?? []),
  ];
  const forward = forwards.map((item) =>
    `,hostfwd=${item.protocol}:${item.hostAddress}:${item.hostPort}-:${item.guestPort}`
  ).join("");
  const device = `${windows ? "e1000e" : "virtio-net-pci"},netdev=dbcnet0,mac=${mac}` +
    `,bus=pcie.0,addr=0x${USER_NIC_PCI_SLOT.toString(16)}`;
  const arg = (value: string) => xmlElement("qemu:arg", { value });
  return xmlElement("qemu:commandline", {}, [
    arg("-netdev"),
    arg(`user,id=dbcnet0${forward}`),
    arg("-device"),
    arg(device),
  ]);
}
