/**
 * IPv4 ranges of renters' LANs: parsing, the addresses a range gives (gateway, DHCP range) and
 * overlap. Pure, so every refusal is tested without a host.
 */
import { MAX_PREFIX, MIN_PREFIX, PRIVATE_RANGES } from "./constants.ts";

/** A range: its network address as a 32-bit number and its prefix length. */
export type Ipv4Range = { network: number; prefix: number };

const OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** The address as a number, or undefined when it is not dotted-quad IPv4. */
export function parseIpv4(text: string): number | undefined {
  const match = IPV4.exec(text);
  if (!match) return undefined;
  return match.slice(1, 5).reduce((value, octet) => value * 256 + Number(octet), 0);
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `a.b.c.d/n` with any prefix 0-32, host bits cleared; undefined when it is not that. */
export function parseRange(text: string): Ipv4Range | undefined {
  const parts = text.split("/");
  if (parts.length !== 2 || !/^\d{1,2}$/.test(parts[1]!)) return undefined;
  const address = parseIpv4(parts[0]!);
  const prefix = Number(parts[1]);
  if (address === undefined || prefix > 32) return undefined;
  return { network: (address & mask(prefix)) >>> 0, prefix };
}

export function formatRange(range: Ipv4Range): string {
  return `${formatIpv4(range.network)}/${range.prefix}`;
}

/** Whether two ranges share an address (one holds the other, since ranges nest or part). */
export function overlaps(a: Ipv4Range, b: Ipv4Range): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  return ((a.network & mask(prefix)) >>> 0) === ((b.network & mask(prefix)) >>> 0);
}

export function contains(range: Ipv4Range, address: number): boolean {
  return ((address & mask(range.prefix)) >>> 0) === range.network;
}

/** The judged range of a LAN, or why it cannot be one. */
export type RangeJudgement = { ok: true; range: Ipv4Range } | { ok: false; reason: string };

/**
 * A renter's LAN range: IPv4 CIDR, within the private ranges (RFC 1918: a public range would
 * take that part of the internet away from the host, which routes it to the LAN), with room for
 * a gateway and a DHCP range, and not so wide that it swallows the host's own networks.
 */
export function judgeRange(text: string): RangeJudgement {
  const range = parseRange(text);
  if (!range) {
    return { ok: false, reason: `invalid ip cidr ${JSON.stringify(text)}: expected a.b.c.d/n` };
  }
  if (range.prefix < MIN_PREFIX || range.prefix > MAX_PREFIX) {
    return {
      ok: false,
      reason: `invalid ip cidr ${text}: the prefix length must be ${MIN_PREFIX} to ${MAX_PREFIX}`,
    };
  }
  const inside = PRIVATE_RANGES.some((text) => {
    const privateRange = parseRange(text)!;
    return range.prefix >= privateRange.prefix && overlaps(range, privateRange);
  });
  if (!inside) {
    return {
      ok: false,
      reason: `invalid ip cidr ${text}: a LAN must lie in a private range (${
        PRIVATE_RANGES.join(", ")
      })`,
    };
  }
  return { ok: true, range };
}

/** The addresses a LAN's range gives: the host's (gateway) first, then the DHCP range to the end. */
export function rangeAddresses(range: Ipv4Range): { gateway: string; start: string; end: string } {
  const broadcast = range.network + 2 ** (32 - range.prefix) - 1;
  return {
    gateway: formatIpv4(range.network + 1),
    start: formatIpv4(range.network + 2),
    end: formatIpv4(broadcast - 1),
  };
}

/** Whether an address may be a VXLAN peer: unicast IPv4, not loopback, link-local or multicast. */
export function judgePeer(text: string): string | undefined {
  const address = parseIpv4(text);
  if (address === undefined) return `peer ${JSON.stringify(text)} is not an IPv4 address`;
  const refused = ["0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/3"];
  if (refused.some((range) => contains(parseRange(range)!, address))) {
    return `peer ${text} is not a unicast host address`;
  }
  return undefined;
}
