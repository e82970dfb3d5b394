/**
 * `POST /api/v1/peers/active|global`: this node's neighbours and address book
 * in the original's shape, `{peer_nodes: [{node_id, addr: "ip:port"}]}`.
 * The body is ignored, as the original ignores it. `/peers/lan` (the
 * original's LAN discovery) is refused.
 */
import { CompatError, invalidRequest, ORIGINAL_CODES } from "./envelope.ts";
import type { Endpoint, Group } from "./endpoint.ts";

const addr = (peer: { ip: string; port: number }) =>
  peer.ip.includes(":") ? `[${peer.ip}]:${peer.port}` : `${peer.ip}:${peer.port}`;

const active: Endpoint = {
  name: "list peers",
  at: "here",
  signed: false,
  bodyless: true,
  async run(input) {
    const { peers } = await input.deps.call("network.peers.active", {});
    return { peer_nodes: peers.map((peer) => ({ node_id: peer.id, addr: addr(peer) })) };
  },
};

const global: Endpoint = {
  name: "list peers",
  at: "here",
  signed: false,
  bodyless: true,
  async run(input) {
    const { peers } = await input.deps.call("network.peers.global", {});
    return { peer_nodes: peers.map((peer) => ({ node_id: peer.id, addr: addr(peer) })) };
  },
};

const lan: Endpoint = {
  name: "list peers",
  at: "here",
  signed: false,
  bodyless: true,
  run() {
    throw new CompatError(200, ORIGINAL_CODES.denied, "peers/lan is not supported by this network");
  },
};

/** `/api/v1/peers/active|global|lan`. */
export const peerRoutes: Group = (segments) => {
  const [word, ...rest] = segments;
  if (rest.length === 0 && word === "active") return { endpoint: active, args: [] };
  if (rest.length === 0 && word === "global") return { endpoint: global, args: [] };
  if (rest.length === 0 && word === "lan") return { endpoint: lan, args: [] };
  throw invalidRequest("invalid requests uri");
};
