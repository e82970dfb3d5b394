/**
 * Parsers for what virsh prints (run with `LC_ALL=C`), and the mapping of its
 * error messages to {@link HypervisorErrorKind}. Pure; tested against output
 * recorded from libvirt 9.0 (tests/fixtures/virsh/).
 */
import {
  DOMAIN_STATES,
  type DomainDisk,
  type DomainState,
  type DomainSummary,
  type HypervisorErrorKind,
} from "./hypervisor.ts";

const STATE_ALTERNATIVES = DOMAIN_STATES.join("|");
const MAX_TCP_PORT = 65535;
// Names may hold spaces in libvirt, so the state is matched from the end of the line.
const LIST_LINE = new RegExp(`^\\s*(?:\\d+|-)\\s+(.+?)\\s+(${STATE_ALTERNATIVES})\\s*$`);

/** `virsh list --all`: one summary per domain. */
export function parseDomainList(text: string): DomainSummary[] {
  const domains: DomainSummary[] = [];
  for (const line of text.split("\n")) {
    const match = LIST_LINE.exec(line);
    if (match) domains.push({ name: match[1]!, state: match[2] as DomainState });
  }
  return domains;
}

/** `virsh domstate NAME` (first line, without `--reason`). */
export function parseDomainState(text: string): DomainState | undefined {
  const word = text.trim().split("\n")[0]?.trim();
  return (DOMAIN_STATES as readonly string[]).includes(word ?? "")
    ? word as DomainState
    : undefined;
}

export type DomInfo = {
  name: string;
  uuid: string;
  state: DomainState;
  vcpus: number;
  maxMemoryKib: number;
};

/** `virsh dominfo NAME`: `Key:  value` lines. */
export function parseDomInfo(text: string): DomInfo | undefined {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) fields.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const state = parseDomainState(fields.get("State") ?? "");
  const vcpus = Number(fields.get("CPU(s)"));
  const memory = /^(\d+) KiB$/.exec(fields.get("Max memory") ?? "");
  const name = fields.get("Name");
  const uuid = fields.get("UUID");
  if (!state || !Number.isInteger(vcpus) || !memory || !name || !uuid) return undefined;
  return { name, uuid, state, vcpus, maxMemoryKib: Number(memory[1]) };
}

/** `virsh domblklist --details NAME`: the disks (CD-ROMs without media are left out). */
export function parseDomBlkList(text: string): DomainDisk[] {
  const disks: DomainDisk[] = [];
  const lines = text.split("\n");
  const start = lines.findIndex((line) => /^-+$/.test(line.trim()));
  for (const line of lines.slice(start + 1)) {
    const match = /^\s*(\S+)\s+(\S+)\s+(\S+)\s+(.+?)\s*$/.exec(line);
    if (!match || match[2] !== "disk" || match[4] === "-") continue;
    disks.push({ target: match[3]!, source: match[4]! });
  }
  return disks;
}

/** `virsh vncdisplay NAME` prints `host:display`; the TCP port is 5900 + display. */
export function parseVncDisplay(text: string): number | null {
  const match = /:(\d+)\s*$/.exec(text.trim());
  const port = match ? 5900 + Number(match[1]) : null;
  // A display past the TCP port range names no port a client could reach.
  return port !== null && port <= MAX_TCP_PORT ? port : null;
}

/** `virsh domifaddr NAME`: the addresses (without prefix length). */
export function parseDomIfAddr(text: string): string[] {
  const addresses: string[] = [];
  for (const line of text.split("\n")) {
    const match = /\s(ipv4|ipv6)\s+(\S+?)(?:\/\d+)?\s*$/.exec(line);
    if (match) addresses.push(match[2]!);
  }
  return addresses;
}

/** Sorts a virsh failure by its message (virsh exits 1 for every error). */
export function classifyVirshError(stderr: string): HypervisorErrorKind {
  if (
    /failed to connect to the hypervisor|Failed to connect socket|Cannot recv data/i.test(stderr)
  ) {
    return "unavailable";
  }
  if (/failed to get domain|Domain not found|no domain with matching/i.test(stderr)) {
    return "not_found";
  }
  if (
    /already active|is not running|domain is not running|already exists|already defined|Requested operation is not valid/i
      .test(stderr)
  ) {
    return "conflict";
  }
  if (
    /XML error|XML document failed to validate|unsupported configuration|Invalid value/i.test(
      stderr,
    )
  ) {
    return "invalid";
  }
  return "failed";
}

/** virsh's error text without the `error: ` prefixes, on one line. */
export function virshMessage(stderr: string): string {
  return stderr.split("\n").map((line) => line.replace(/^error:\s*/, "").trim())
    .filter((line) => line !== "").join(": ") || "no error message";
}
