/**
 * One HTTP request to an image server, as a process of its own:
 * `deno run <flags of host/outbound.ts> --allow-env=DBC_IMAGE_SERVER_AUTH
 * request_process.ts <METHOD> <url> <headers JSON> <body|nobody> <deny|allow>`.
 * Its net permissions are the configured image servers less the denied
 * ranges (checked by Deno against the address a name resolved to); it reads
 * no file: a request body comes on stdin from the node service, the answer's
 * body goes to stdout. It writes one JSON line to stderr when the answer's
 * head arrives (`{"status", "headers"}`) or when there is none
 * (`{"error", "kind"}`), and another if the body breaks off.
 *
 * Redirects are not followed: an image server answers where it was asked.
 * Basic-authentication credentials come in `DBC_IMAGE_SERVER_AUTH` (never
 * in the arguments, which every user of the machine can read).
 */
// The one module it needs, not host/mod.ts: the process loads as little as it can.
import {
  type OutboundFailure as Failure,
  outboundFailure,
  privateIpv6Refusal,
  say,
} from "../host/outbound_child.ts";
import { AUTH_ENV } from "./constants.ts";

const NOT_ALLOWED = "not an image server of this node (image_servers), or it resolves to a " +
  "loopback, private or link-local address (image_server_private), or it is the chain's RPC host";

async function main(): Promise<number> {
  const [method, target, headersJson, bodyMode, privateAddresses] = Deno.args;
  let url: URL;
  let headers: Record<string, string>;
  try {
    url = new URL(target ?? "");
    headers = JSON.parse(headersJson ?? "{}");
  } catch {
    say({ kind: "failed", error: "not a URL or not a header object" } satisfies Failure);
    return 4;
  }
  const refusal = await privateIpv6Refusal(url, privateAddresses);
  if (refusal) {
    say(refusal);
    return 4;
  }
  const auth = Deno.env.get(AUTH_ENV);
  if (auth) headers.authorization = `Basic ${auth}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      redirect: "manual",
      body: bodyMode === "body" ? Deno.stdin.readable : undefined,
    });
  } catch (error) {
    say(outboundFailure(error, NOT_ALLOWED));
    return 4;
  }
  say({ status: response.status, headers: Object.fromEntries(response.headers) });
  if (!response.body) return 0;
  try {
    await response.body.pipeTo(Deno.stdout.writable);
  } catch (error) {
    say(outboundFailure(error, NOT_ALLOWED));
    return 4;
  }
  return 0;
}

Deno.exit(await main());
