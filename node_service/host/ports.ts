/**
 * Which host ports are taken, so the node never hands out one in use. Two
 * sources: the host's sockets as `ss` (iproute2) lists them (what listens
 * now, including ports an engine reserves for running containers), and the
 * node's own records (ports held by stopped instances, which listen on
 * nothing yet but will on start).
 *
 * Why check at all: Podman (4.3, netavark) breaks an existing container's
 * port forwarding when another container's start fails with "address
 * already in use"; refusing such a port before the engine sees it avoids
 * that. Why `ss`: Deno refuses a worker the `/proc/net` tables unless it
 * holds every permission, and probing by listening would need network
 * permission; running one read-only program needs neither.
 */
import { runTool } from "../tools.ts";

/** `tcp:22`, `udp:53`: how a taken port is written in sets. */
/** The transport of a host port. */
export type PortProtocol = "tcp" | "udp";
export type PortKey = `${PortProtocol}:${number}`;
export const portKey = (protocol: PortProtocol, port: number): PortKey => `${protocol}:${port}`;

/** TCP and UDP, listening or bound, numeric, no header. */
export const SS_ARGS = ["-H", "-t", "-u", "-l", "-n"];
const SS_TIMEOUT_MS = 10_000;

/** The host's sockets could not be listed; the caller decides whether to go on without. */
export class HostPortsUnknownError extends Error {
  constructor(detail: string) {
    super(`cannot list the host's listening ports: ${detail}`);
    this.name = "HostPortsUnknownError";
  }
}

/**
 * The ports in `ss -Htuln` output: `Netid State Recv-Q Send-Q Local:Port Peer:Port`,
 * the local address being `0.0.0.0:22`, `[::]:22`, `*:22` or `127.0.0.1%lo:53`.
 */
export function parseSsListening(text: string): Set<PortKey> {
  const taken = new Set<PortKey>();
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5) continue;
    const netid = fields[0]!.toLowerCase();
    if (netid !== "tcp" && netid !== "udp") continue;
    const local = fields[4]!;
    const port = Number(local.slice(local.lastIndexOf(":") + 1));
    if (Number.isInteger(port) && port > 0 && port <= 65535) taken.add(portKey(netid, port));
  }
  return taken;
}

/** Ports in use on this host now; throws {@link HostPortsUnknownError} when `ss` cannot tell. */
export async function listeningPorts(): Promise<Set<PortKey>> {
  const result = await runTool("ss", SS_ARGS, SS_TIMEOUT_MS);
  switch (result.kind) {
    case "not_found":
      throw new HostPortsUnknownError("ss is not installed (Debian package iproute2)");
    case "timed_out":
      throw new HostPortsUnknownError(`ss did not answer within ${result.timeoutMs} ms`);
    case "exited":
      if (result.code !== 0) {
        throw new HostPortsUnknownError(
          `ss exited with code ${result.code}: ${result.stderr.trim().split("\n")[0] ?? ""}`,
        );
      }
      return parseSsListening(result.stdout);
  }
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
