/**
 * Whether a renter's monitoring server address may be used: `host:port`
 * only (the original's "server not match format ip:port"), a host name, an
 * IPv4 address or an IPv6 one in brackets, and a port from 1 to 65535. Unless
 * the operator allows it (`monitor_allow_private`), an address in a
 * loopback, private, link-local or other non-public range is refused here,
 * and so is `localhost`; a name is judged by what it resolves to when the
 * push connects (push_policy.ts), which no lookup here could foresee.
 *
 * Pure.
 */
import { MAX_MONITOR_SERVERS } from "../../mod/mod.ts";
import { NON_PUBLIC_IPV4, nonPublicIpv6 } from "../host/mod.ts";

export type MonitorServer = {
  /** A lower-case name, an IPv4 address, or an IPv6 address without brackets. */
  host: string;
  port: number;
};

export type AddressVerdict =
  | { ok: true; server: MonitorServer }
  | { ok: false; reason: string };

export type AddressPolicy = { allowPrivate: boolean };

const NAME_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_NAME_LENGTH = 253;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAX_PORT = 65_535;

/** `host:port` as Deno's net permission and the original's list spell it (IPv6 in brackets). */
export function formatServer(server: MonitorServer): string {
  return server.host.includes(":")
    ? `[${server.host}]:${server.port}`
    : `${server.host}:${server.port}`;
}

/** Judges one address; the reason names what is wrong with it. */
export function judgeAddress(text: string, policy: AddressPolicy): AddressVerdict {
  const refuse = (why: string): AddressVerdict => ({
    ok: false,
    reason: `${JSON.stringify(text)}: ${why}`,
  });
  const match = /^(\[[^\]]*\]|[^:[\]]*):(\d{1,5})$/.exec(text);
  if (!match) return refuse("server not match format ip:port (host:port, IPv6 in brackets)");
  const port = Number(match[2]);
  if (port < 1 || port > MAX_PORT) return refuse(`port must be from 1 to ${MAX_PORT}`);
  const hostText = match[1]!;
  if (hostText.startsWith("[")) {
    const address = hostText.slice(1, -1).toLowerCase();
    if (!isIpv6(address)) return refuse("not an IPv6 address between the brackets");
    if (!policy.allowPrivate && nonPublicIpv6(address)) return refuse(NOT_PUBLIC);
    return { ok: true, server: { host: address, port } };
  }
  const host = hostText.toLowerCase();
  if (/^[\d.]+$/.test(host)) {
    if (!IPV4.test(host)) return refuse("not an IPv4 address");
    if (!policy.allowPrivate && ipv4InRanges(host, NON_PUBLIC_IPV4)) return refuse(NOT_PUBLIC);
    return { ok: true, server: { host, port } };
  }
  if (host.length > MAX_NAME_LENGTH || !host.split(".").every((label) => NAME_LABEL.test(label))) {
    return refuse("not a host name (letters, digits and dashes between dots)");
  }
  if (!policy.allowPrivate && (host === "localhost" || host.endsWith(".localhost"))) {
    return refuse(NOT_PUBLIC);
  }
  return { ok: true, server: { host, port } };
}

const NOT_PUBLIC = "a loopback, private or link-local address, which this node does not send " +
  "monitoring data to (its operator may allow them: monitor_allow_private)";

/**
 * Judges a renter's whole list: every address must pass, none twice, at most
 * {@link MAX_MONITOR_SERVERS}. The first refusal is the answer, so nothing is kept of a list
 * with one bad address.
 */
export function judgeServers(
  texts: readonly string[],
  policy: AddressPolicy,
): { ok: true; servers: MonitorServer[] } | { ok: false; reason: string } {
  if (texts.length > MAX_MONITOR_SERVERS) {
    return { ok: false, reason: `can not enter more than ${MAX_MONITOR_SERVERS} servers` };
  }
  const servers: MonitorServer[] = [];
  for (const text of texts) {
    const verdict = judgeAddress(text, policy);
    if (!verdict.ok) return verdict;
    if (servers.some((server) => formatServer(server) === formatServer(verdict.server))) {
      return { ok: false, reason: `${JSON.stringify(text)}: named twice` };
    }
    servers.push(verdict.server);
  }
  return { ok: true, servers };
}

/** Whether a dotted-quad IPv4 address lies in one of the CIDR `ranges`. */
export function ipv4InRanges(address: string, ranges: readonly string[]): boolean {
  const value = ipv4Number(address);
  return ranges.some((range) => {
    const [base, bits] = range.split("/");
    const width = Number(bits);
    const mask = width === 0 ? 0 : (~0 << (32 - width)) >>> 0;
    return ((value & mask) >>> 0) === ((ipv4Number(base!) & mask) >>> 0);
  });
}

function ipv4Number(address: string): number {
  return address.split(".").reduce((sum, part) => sum * 256 + Number(part), 0);
}

function isIpv6(text: string): boolean {
  if (!/^[0-9a-f:.]+$/.test(text) || !text.includes(":")) return false;
  try {
    return new URL(`http://[${text}]/`).hostname !== "";
  } catch {
    return false;
  }
}
