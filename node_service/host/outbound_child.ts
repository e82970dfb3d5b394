/**
 * The side of an outbound process (see outbound_process.ts) that runs in
 * it: its reports on stderr, and why a connection was refused. Loaded by the
 * process itself, so it imports only outbound.ts.
 */
import { ipv6Refusal } from "./outbound.ts";

/** What such a process reports when it cannot have an answer. */
export type OutboundFailure = { error: string; kind: "not_allowed" | "failed" };

const encoder = new TextEncoder();

/** Writes one JSON line to stderr, where the node service reads the process's reports. */
export function say(line: unknown): void {
  Deno.stderr.writeSync(encoder.encode(`${JSON.stringify(line)}\n`));
}

/**
 * A failed connection as a report: `notAllowed` when Deno's permissions refused it (a host the
 * policy does not name, or one resolving to a denied range), else the error's own message.
 */
export function outboundFailure(error: unknown, notAllowed: string): OutboundFailure {
  const text = String((error as Error)?.cause ?? error);
  if (error instanceof Deno.errors.NotCapable || /Requires net access/.test(text)) {
    return { kind: "not_allowed", error: notAllowed };
  }
  return { kind: "failed", error: (error as Error)?.message ?? text };
}

/** Refuses a host whose IPv6 address is not public, unless private addresses are allowed. */
export async function privateIpv6Refusal(
  url: URL,
  privateAddresses: string | undefined,
): Promise<OutboundFailure | undefined> {
  if (privateAddresses === "allow") return undefined;
  const refusal = await ipv6Refusal(url.hostname);
  return refusal ? { kind: "not_allowed", error: refusal } : undefined;
}
