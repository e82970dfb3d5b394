/**
 * What one LAN is on the host, derived from its record alone: the libvirt network's name and XML,
 * the bridge and VXLAN device names. Pure, so the restart path rebuilds exactly what the create
 * made, and the XML is checked without libvirt.
 *
 * The libvirt network is isolated (no `<forward>`): libvirt makes the bridge, and where this host
 * serves the LAN's DHCP range, gives the host the range's first address and runs dnsmasq for
 * DHCP only (`<dns enable="no"/>`). A LAN joined from another host gets no `<ip>` at all: the host
 * has no address on it, and its guests get theirs from the serving host through the VXLAN.
 */
import { xmlElement } from "../vm/mod.ts";
import { type Ipv4Range, parseRange, rangeAddresses } from "./cidr.ts";
import { DHCP_LEASE, LAN_MTU } from "./constants.ts";

/** A LAN as stored (table `lans`). */
export type LanRecord = {
  id: string;
  account: string;
  name: string;
  cidr: string;
  servesDhcp: boolean;
  vni: number;
  peers: string[];
  createdAt: number;
};

export type LanNames = {
  /** `<vm_domain_prefix>lan-<id>`: the node only ever touches networks of its own prefix. */
  network: string;
  /** Linux interface names (at most 15 characters). */
  bridge: string;
  vxlan: string;
};

/** Ids are 8 characters of this alphabet, so interface names stay within 15. */
export const LAN_ID = /^[a-z2-7]{8}$/;
const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

export function newLanId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return [...bytes].map((byte) => ID_ALPHABET[byte % 32]).join("");
}

/** `devicePrefix` is 1-4 letters (`dbc` for nodes; the tests use their own). */
export function lanNames(id: string, domainPrefix: string, devicePrefix: string): LanNames {
  if (!LAN_ID.test(id)) throw new Error(`bad LAN id ${JSON.stringify(id)}`);
  if (!/^[a-z]{1,4}$/.test(devicePrefix)) throw new Error(`bad device prefix ${devicePrefix}`);
  return {
    network: `${domainPrefix}lan-${id}`,
    bridge: `${devicePrefix}b${id}`,
    vxlan: `${devicePrefix}x${id}`,
  };
}

export function recordRange(record: LanRecord): Ipv4Range {
  const range = parseRange(record.cidr);
  if (!range) throw new Error(`LAN ${record.id} has a bad stored range ${record.cidr}`);
  return range;
}

/** The libvirt network XML of a LAN. */
export function networkXml(record: LanRecord, names: LanNames): string {
  const el = xmlElement;
  const range = recordRange(record);
  const addresses = rangeAddresses(range);
  const ip = record.servesDhcp
    ? el("ip", { address: addresses.gateway, prefix: range.prefix }, [
      el("dhcp", {}, [
        el("range", { start: addresses.start, end: addresses.end }, [
          el("lease", { expiry: DHCP_LEASE.value, unit: DHCP_LEASE.unit }),
        ]),
      ]),
    ])
    : undefined;
  return `${
    el("network", {}, [
      el("name", {}, [names.network]),
      el("bridge", { name: names.bridge, stp: "off", delay: 0 }),
      el("mtu", { size: LAN_MTU }),
      // Addresses only: the guests' DNS is their own business, and the host offers nothing more.
      record.servesDhcp ? el("dns", { enable: "no" }) : undefined,
      ip,
    ]).xml
  }\n`;
}
