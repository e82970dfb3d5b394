/**
 * The VM image download, as a process of its own: `deno run <flags of
 * host/outbound.ts> download_process.ts <url> <deny|allow>`. Its net
 * permissions are the operator's hosts less the denied ranges, checked by
 * Deno on every connection (redirects included) against the address the name
 * resolved to. It writes one JSON line to stderr when the answer arrives
 * (`{"status", "length"}`) or when it cannot be had (`{"error", "kind"}`),
 * then the body to stdout.
 *
 * It runs with no permission beyond those hosts (its own modules load as its
 * program does).
 */
import {
  type OutboundFailure as Failure,
  outboundFailure,
  privateIpv6Refusal,
  say,
} from "../../host/outbound_child.ts";

const MAX_REDIRECTS = 5;
const NOT_ALLOWED = "not a host this node downloads from (image_download_hosts), or it resolves " +
  "to a loopback, private or link-local address, or it is the chain's RPC host";

async function main(): Promise<number> {
  const [target, privateAddresses] = Deno.args;
  let url: URL;
  try {
    url = new URL(target ?? "");
  } catch {
    say({ kind: "failed", error: "not a URL" } satisfies Failure);
    return 4;
  }
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const refusal = await privateIpv6Refusal(url, privateAddresses);
    if (refusal) {
      say(refusal);
      return 4;
    }
    let response: Response;
    try {
      response = await fetch(url, { redirect: "manual" });
    } catch (error) {
      say(outboundFailure(error, NOT_ALLOWED));
      return 4;
    }
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      url = new URL(location, url);
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        say({ kind: "failed", error: `redirected to ${url.protocol} URL` } satisfies Failure);
        return 4;
      }
      continue;
    }
    const length = Number(response.headers.get("content-length"));
    say({ status: response.status, length: Number.isSafeInteger(length) ? length : null });
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      return 3;
    }
    try {
      await response.body.pipeTo(Deno.stdout.writable);
    } catch (error) {
      say(outboundFailure(error, NOT_ALLOWED));
      return 4;
    }
    return 0;
  }
  say({ kind: "failed", error: `more than ${MAX_REDIRECTS} redirects` } satisfies Failure);
  return 4;
}

Deno.exit(await main());
