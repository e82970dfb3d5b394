/**
 * The few facts start-up reconciliation compares between the definition
 * libvirt holds and the one the node makes from a VM's record, read from
 * either's XML text: the spec digest the node stamps into its metadata
 * (domain_xml.ts), and the resources a renter sees (CPU cores, memory, login
 * port). The digest catches any difference the node itself could have left;
 * the resources also catch a definition edited by hand, which keeps the
 * digest it had, and say in the event log what differed.
 *
 * Reading, not parsing: both texts come from a known writer (the node's, or
 * libvirt's, which re-quotes attributes and writes memory in KiB). A fact that
 * cannot be read is `null`, which differs from any fact that can.
 *
 * @example
 * ```ts
 * readDomainFacts("<domain><vcpu placement='static'>2</vcpu></domain>").vcpus; // 2
 * ```
 */
import { SPEC_DIGEST_ATTRIBUTE } from "./domain_xml.ts";

export type DomainFacts = {
  specDigest: string | null;
  vcpus: number | null;
  memoryKib: number | null;
  /** The host port forwarded to the guest's login port; `null` without one. */
  loginPort: number | null;
};

/** KiB per unit, for the units libvirt accepts in `<memory unit=...>`. */
const KIB_PER_UNIT: Record<string, number> = {
  b: 1 / 1024,
  bytes: 1 / 1024,
  k: 1,
  KiB: 1,
  M: 1024,
  MiB: 1024,
  G: 1024 ** 2,
  GiB: 1024 ** 2,
  T: 1024 ** 3,
  TiB: 1024 ** 3,
};

const SPEC_DIGEST = new RegExp(`\\s${SPEC_DIGEST_ATTRIBUTE}=["']([0-9a-f]{64})["']`);
const VCPU = /<vcpu\b[^>]*>\s*(\d+)\s*<\/vcpu>/;
const MEMORY = /<memory\b([^>]*)>\s*(\d+)\s*<\/memory>/;
const UNIT = /\sunit=["']([A-Za-z]+)["']/;
/** In the `-netdev user,...` argument: `hostfwd=tcp:<host address>:<host port>-:<guest port>`. */
const LOGIN_FORWARD = /hostfwd=tcp:[^:'",]*:(\d+)-/;

export function readDomainFacts(xml: string): DomainFacts {
  const number = (match: RegExpExecArray | null) => (match ? Number(match[1]) : null);
  const memory = MEMORY.exec(xml);
  let memoryKib: number | null = null;
  if (memory) {
    const unit = UNIT.exec(memory[1]!)?.[1] ?? "KiB";
    // Own keys only: a unit such as `toString` is no unit (and no number to multiply by).
    if (Object.hasOwn(KIB_PER_UNIT, unit)) memoryKib = Number(memory[2]) * KIB_PER_UNIT[unit]!;
  }
  return {
    specDigest: SPEC_DIGEST.exec(xml)?.[1] ?? null,
    vcpus: number(VCPU.exec(xml)),
    memoryKib,
    loginPort: number(LOGIN_FORWARD.exec(xml)),
  };
}
