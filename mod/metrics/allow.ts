/**
 * Who may scrape `/metrics`: client addresses checked against a list of CIDR blocks
 * (`metrics_allow`). Pure: the HTTP worker gives it the socket's peer address.
 *
 * @example
 * ```ts
 * const allow = parseCidrList(["127.0.0.0/8", "::1/128"]);
 * addressAllowed("127.0.0.1", allow); // true
 * addressAllowed("::ffff:127.0.0.1", allow); // true: an IPv4 client on a dual-stack socket
 * addressAllowed("192.0.2.7", allow); // false
 * ```
 */

/** Loopback only: the scrape endpoint's default. */
export const DEFAULT_METRICS_ALLOW: readonly string[] = ["127.0.0.0/8", "::1/128"];

export type IpAddress = { family: 4 | 6; value: bigint };
export type Cidr = IpAddress & { prefix: number };

const BITS = { 4: 32, 6: 128 } as const;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** An IPv4 or IPv6 address (`::` shorthand and a dotted IPv4 tail allowed); undefined if not one. */
export function parseIp(text: string): IpAddress | undefined {
  if (IPV4.test(text)) {
    const value = text.split(".").reduce((sum, octet) => (sum << 8n) + BigInt(octet), 0n);
    return { family: 4, value };
  }
  if (!text.includes(":")) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (const [index, piece] of pieces.entries()) {
      if (index === pieces.length - 1 && IPV4.test(piece)) {
        const v4 = parseIp(piece)!.value;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else if (HEX_GROUP.test(piece)) out.push(parseInt(piece, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  return { family: 6, value: all.reduce((sum, group) => (sum << 16n) + BigInt(group), 0n) };
}

/** `address/prefix`, or a bare address (a block of one); undefined if malformed. */
export function parseCidr(text: string): Cidr | undefined {
  const [addressText, prefixText, ...rest] = text.trim().split("/");
  if (rest.length > 0 || addressText === undefined) return undefined;
  const address = parseIp(addressText);
  if (!address) return undefined;
  const bits = BITS[address.family];
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) return undefined;
  return { ...address, prefix };
}

/** Every block of `texts`; throws naming the first that is not one. */
export function parseCidrList(texts: readonly string[]): Cidr[] {
  return texts.map((text) => {
    const cidr = parseCidr(text);
    if (!cidr) throw new Error(`not an address or CIDR block: ${JSON.stringify(text)}`);
    return cidr;
  });
}

/**
 * Whether `address` (a socket's peer address) lies in one of the blocks. An IPv4 client of a
 * dual-stack listener shows as `::ffff:a.b.c.d` and is matched as the IPv4 address it is; a
 * block matches addresses of its own family only (`::/0` lets no IPv4 client in).
 */
export function addressAllowed(address: string, allow: readonly Cidr[]): boolean {
  const parsed = parseIp(address.replace(/%.*$/, ""));
  if (!parsed) return false;
  const client = unmapped({ ...parsed, prefix: BITS[parsed.family] });
  return allow.some((cidr) => {
    const block = unmapped(cidr);
    if (block.family !== client.family) return false;
    const shift = BigInt(BITS[block.family] - block.prefix);
    return (client.value >> shift) === (block.value >> shift);
  });
}

/** Where an IPv4-mapped IPv6 block (`::ffff:a.b.c.d/96+n`) stands for IPv4, that IPv4 block. */
function unmapped(cidr: Cidr): Cidr {
  const mapped = cidr.family === 6 && cidr.prefix >= 96 && cidr.value >> 32n === 0xffffn;
  return mapped ? { family: 4, value: cidr.value & 0xffffffffn, prefix: cidr.prefix - 96 } : cidr;
}
