/**
 * The image servers this node's operator named (`image_servers`), and the
 * outbound policy their transfers run under: the servers' hosts and nothing
 * else, never the chain's RPC host, and no loopback, private or link-local
 * address unless `image_server_private` allows them (host/outbound.ts).
 */
import { type NodeConfig, parseImageServerEntry } from "../../mod/mod.ts";
import type { OutboundPolicy } from "../host/mod.ts";
import { TransferError } from "./requester.ts";

export type ImageServer = {
  id: string;
  /** The directory URL, credentials included (they are sent, never shown). */
  url: URL;
};

/** The configured servers, by id (the config check refused bad entries already). */
export function serversFromConfig(config: Pick<NodeConfig, "image_servers">): ImageServer[] {
  const servers: ImageServer[] = [];
  for (const entry of config.image_servers) {
    const parsed = parseImageServerEntry(entry);
    if (parsed.ok) servers.push({ id: parsed.server.id, url: new URL(parsed.server.url) });
  }
  return servers;
}

/** What the process of a transfer may reach. */
export function transferPolicy(
  servers: readonly ImageServer[],
  config: Pick<NodeConfig, "image_server_private">,
  deniedHosts: readonly string[],
): OutboundPolicy {
  return {
    hosts: [...new Set(servers.map((server) => hostPort(server.url)))],
    privateAddresses: config.image_server_private ? "allow" : "deny",
    deniedHosts,
  };
}

/** `host:port` of a URL as Deno's net permission spells it, the scheme's port when none. */
function hostPort(url: URL): string {
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${url.hostname}:${port}`;
}

/** The URL as shown: without user name and password. */
export function shownUrl(url: URL): string {
  const shown = new URL(url);
  shown.username = "";
  shown.password = "";
  return shown.toString();
}

/** Server `id`, or a clear refusal naming the ones there are. */
export function findServer(servers: readonly ImageServer[], id: string): ImageServer {
  const server = servers.find((candidate) => candidate.id === id);
  if (server) return server;
  throw new TransferError(
    "not_found",
    servers.length === 0
      ? `image_server not exist: this node has no image servers (image_servers)`
      : `image_server not exist: ${id} (this node has ${servers.map((s) => s.id).join(", ")})`,
  );
}
