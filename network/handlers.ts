/**
 * The network worker's answers to other workers: peer lists, status, sending
 * to a node by id, broadcast, and the subscription inbox. Protocol failures
 * become typed RPC errors with messages a client-end can show as they are.
 */
import { base64 } from "@scure/base";
import {
  type Handlers,
  type NetworkSendResult,
  type NodeConfig,
  nodeStatementBytes,
  RpcError,
} from "../mod/mod.ts";
import { MAX_BROADCAST_BODY_BYTES, MAX_REQUEST_BYTES } from "./constants.ts";
import type { Inbox } from "./inbox.ts";
import type { PeerNode } from "./peer_node.ts";
import { RequestFailed } from "./routing/mod.ts";

export type HandlerDeps = {
  peer: PeerNode;
  inbox: Inbox;
  config: NodeConfig;
  listening: () => string[];
  /** This node's id: the only one it signs statements about. */
  nodeId: string;
  sign: (message: Uint8Array) => Uint8Array | Promise<Uint8Array>;
};

/** A request gives up a little before the caller's own RPC time-out, so the caller sees why. */
const SEND_TIMEOUT_MARGIN_MS = 1_000;

/** Every answer but the metrics, which the worker adds from network/metrics.ts. */
export function networkHandlers(deps: HandlerDeps): Omit<Handlers<"network">, "metrics.network"> {
  const { peer, inbox, config } = deps;
  return {
    "network.status": () => {
      const status = peer.status();
      return {
        listening: deps.listening(),
        connected_peers: status.outbound + status.inbound,
        node_id: status.nodeId,
        incarnation: status.incarnation,
        outbound: status.outbound,
        inbound: status.inbound,
        target_outbound: status.targetOutbound,
        max_inbound: status.maxInbound,
        known_peers: status.knownPeers,
        departed_peers: status.departedPeers,
        nonce_cache: {
          size: status.nonceCache.size,
          max: status.nonceCache.max,
          evicted_early: status.nonceCache.evictedEarly,
        },
        counters: status.counters,
      };
    },
    "network.peers.active": () => ({ peers: peer.activePeers() }),
    "network.peers.global": () => ({ peers: peer.knownPeers() }),
    "network.send": async (params): Promise<NetworkSendResult> => {
      if (byteLength(JSON.stringify(params.payload)) > MAX_REQUEST_BYTES) {
        throw new RpcError(
          "invalid_params",
          `a request is at most ${MAX_REQUEST_BYTES} bytes`,
        );
      }
      const timeoutMs = params.timeout_ms ??
        Math.max(100, config.request_timeout_ms - SEND_TIMEOUT_MARGIN_MS);
      let result;
      try {
        result = await peer.request(params.to, params.payload, timeoutMs);
      } catch (error) {
        if (!(error instanceof RequestFailed)) throw error;
        switch (error.reason) {
          case "timeout":
            throw new RpcError("timeout", error.message);
          case "gone":
            throw new RpcError("not_found", error.message);
          case "no_route":
          case "busy":
            throw new RpcError("unavailable", error.message);
        }
      }
      if (result.reply.type === "error") {
        throw new RpcError(result.reply.code, `node ${params.to}: ${result.reply.message}`);
      }
      return {
        from: params.to,
        reply: result.reply,
        rtt_ms: result.rttMs,
        hops: result.hops,
        route: result.route,
      };
    },
    "network.broadcast": async (params) => {
      if (byteLength(JSON.stringify(params.body)) > MAX_BROADCAST_BODY_BYTES) {
        throw new RpcError(
          "invalid_params",
          `a broadcast body is at most ${MAX_BROADCAST_BODY_BYTES} bytes`,
        );
      }
      const { nonce, sentTo } = await peer.broadcast(params.topic, params.body);
      return { nonce, sent_to: sentTo };
    },
    "network.subscribe": (params, context) => {
      const kinds = params.kinds ?? ["request", "broadcast"];
      const id = inbox.subscribe(context.from, params.topics, kinds);
      // The market's latest announcements, which may have come before this subscriber did.
      if (kinds.includes("broadcast")) {
        for (const retained of peer.retainedBroadcasts(params.topics)) {
          inbox.deliverBroadcast(retained, id);
        }
      }
      return { subscription_id: id };
    },
    "network.receive": (params, context) =>
      inbox.receive(params.subscription_id, context.from, params.wait_ms, params.max ?? 64),
    "network.reply": (params) => ({ delivered: inbox.reply(params.request_id, params.reply) }),
    "network.unsubscribe": (params) => {
      inbox.unsubscribe(params.subscription_id);
      return {};
    },
    "network.sign_statement": async ({ statement }) => {
      if (statement.machine_id !== deps.nodeId) {
        throw new RpcError(
          "forbidden",
          `this node signs statements about itself (${deps.nodeId}) only, not about ${statement.machine_id}`,
        );
      }
      return { signature: base64.encode(await deps.sign(nodeStatementBytes(statement))) };
    },
  };
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}
