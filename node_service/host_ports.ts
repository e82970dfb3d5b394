/**
 * Which host ports are taken, so the node never hands out one in use. Two
 * sources: the kernel's socket tables (`/proc/net/{tcp,tcp6,udp,udp6}`: what
 * listens now, including ports an engine reserves for running containers),
 * and the node's own records (ports held by stopped instances, which listen
 * on nothing yet but will on start).
 *
 * Why check at all: Podman (4.3, netavark) breaks an existing container's
 * port forwarding when another container's start fails with "address already
 * in use"; refusing such a port before the engine sees it avoids that.
 * Reading the tables needs no network permission, only read of these files.
 */
import { SERVICE_PROC_NET_FILES } from "../mod/mod.ts";
import type { PortProtocol } from "./container_engine.ts";

/** The socket tables read, by protocol; the node service may read exactly these. */
export const PROC_NET_FILES: Record<PortProtocol, readonly string[]> = {
  tcp: SERVICE_PROC_NET_FILES.filter((file) => file.includes("/tcp")),
  udp: SERVICE_PROC_NET_FILES.filter((file) => file.includes("/udp")),
};

/** `tcp:22`, `udp:53`: how a taken port is written in sets. */
export type PortKey = `${PortProtocol}:${number}`;
export const portKey = (protocol: PortProtocol, port: number): PortKey => `${protocol}:${port}`;

/** TCP state LISTEN in the kernel's table (`st` column, hex). */
const TCP_LISTEN = "0A";

/**
 * The local ports in one `/proc/net/*` table that are in use: listening
 * sockets for TCP, every bound socket for UDP.
 */
export function parseProcNet(text: string, protocol: PortProtocol): Set<number> {
  const ports = new Set<number>();
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4) continue;
    const local = fields[1]!;
    const state = fields[3]!;
    if (protocol === "tcp" && state !== TCP_LISTEN) continue;
    const port = parseInt(local.slice(local.lastIndexOf(":") + 1), 16);
    if (Number.isInteger(port) && port > 0) ports.add(port);
  }
  return ports;
}

/** Ports in use on this host now; a table that cannot be read is skipped (no IPv6, say). */
export async function listeningPorts(): Promise<Set<PortKey>> {
  const taken = new Set<PortKey>();
  for (const protocol of ["tcp", "udp"] as const) {
    for (const file of PROC_NET_FILES[protocol]) {
      let text: string;
      try {
        text = await Deno.readTextFile(file);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) continue;
        throw error;
      }
      for (const port of parseProcNet(text, protocol)) taken.add(portKey(protocol, port));
    }
  }
  return taken;
}

export type PortRange = { first: number; last: number };

/** Parses `first-last`; undefined when malformed. */
export function parsePortRange(text: string): PortRange | undefined {
  const match = /^(\d{1,5})-(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const first = Number(match[1]);
  const last = Number(match[2]);
  return first >= 1 && last <= 65535 && first <= last ? { first, last } : undefined;
}

/**
 * The first port of `range` free for `protocol`, starting after `after` (so
 * successive picks spread out instead of reusing a just-freed port at once).
 */
export function pickFreePort(
  range: PortRange,
  protocol: PortProtocol,
  taken: ReadonlySet<PortKey>,
  after = range.first - 1,
): number | undefined {
  const size = range.last - range.first + 1;
  const start = after < range.first || after >= range.last ? 0 : after - range.first + 1;
  for (let step = 0; step < size; step++) {
    const port = range.first + ((start + step) % size);
    if (!taken.has(portKey(protocol, port))) return port;
  }
  return undefined;
}
