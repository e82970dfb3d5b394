/**
 * What other workers exchange with the network worker: peer listings, requests
 * to a node by id and their replies, broadcasts, and the inbox through which a
 * worker receives the network messages of the topics it subscribed to.
 *
 * A request to a remote node is a small union: `node.ping` (answered by the
 * network worker itself) or an `app` envelope whose `topic` names what the
 * body is (e.g. `node.info`); the worker that subscribed to that topic answers
 * it with `network.reply`. Broadcasts carry a topic and body the same way.
 */
import { z } from "zod";
import { JsonValueSchema } from "./json.ts";

/** An Ed25519 libp2p peer id, the form every node id takes. */
export const NodeIdTextSchema = z.string().regex(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/, {
  message: "expected a node id (12D3KooW followed by 44 base58 characters)",
});
/** Lower-case, dotted: `node.info`, `vm.create`, `service.summary`. */
export const NetworkTopicSchema = z.string().min(1).max(64).regex(/^[a-z0-9][a-z0-9._-]*$/, {
  message: "expected lower-case letters, digits, '.', '_' or '-'",
});
const NodeRoleSchema = z.enum(["gpu", "seed", "client"]);

/** Error codes a remote node may answer with; each is also an RpcErrorCode. */
export const NETWORK_ERROR_CODES = [
  "not_found",
  "forbidden",
  "invalid_params",
  "conflict",
  "unavailable",
  "timeout",
  "internal",
] as const;
export type NetworkErrorCode = typeof NETWORK_ERROR_CODES[number];

export const NetworkRequestSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("node.ping") }).strict(),
  z.object({ type: z.literal("app"), topic: NetworkTopicSchema, body: JsonValueSchema }).strict(),
]);
export type NetworkRequest = z.infer<typeof NetworkRequestSchema>;

export const NetworkPongSchema = z.object({
  type: z.literal("node.pong"),
  node_id: NodeIdTextSchema,
  role: NodeRoleSchema,
  version: z.string().max(64),
  /** The answering node's clock, ms since the epoch. */
  time: z.number(),
}).strict();

export const NetworkReplySchema = z.discriminatedUnion("type", [
  NetworkPongSchema,
  z.object({ type: z.literal("app"), topic: NetworkTopicSchema, body: JsonValueSchema }).strict(),
  z.object({
    type: z.literal("error"),
    code: z.enum(NETWORK_ERROR_CODES),
    message: z.string().max(1000),
  }).strict(),
]);
export type NetworkReply = z.infer<typeof NetworkReplySchema>;

/** A connected neighbour, as `GET /api/v1/peers/active` lists it. */
export const ActivePeerSchema = z.object({
  id: NodeIdTextSchema,
  ip: z.string(),
  port: z.number().int(),
  node_type: NodeRoleSchema,
  state: z.literal("connected"),
  direction: z.enum(["inbound", "outbound"]),
  connected_since: z.number(),
  rtt_ms: z.number().nullable(),
});
export type ActivePeer = z.infer<typeof ActivePeerSchema>;

/** An address-book entry, as `GET /api/v1/peers/global` lists it. */
export const GlobalPeerSchema = z.object({
  id: NodeIdTextSchema,
  ip: z.string(),
  port: z.number().int(),
  node_type: NodeRoleSchema,
  /** in_use: linked now; available: linked before; new: heard of only; unreachable: dials failing. */
  state: z.enum(["in_use", "available", "new", "unreachable"]),
  last_seen: z.number(),
  failures: z.number().int(),
});
export type GlobalPeer = z.infer<typeof GlobalPeerSchema>;

export const ActivePeerListSchema = z.object({ peers: z.array(ActivePeerSchema) });
export const GlobalPeerListSchema = z.object({ peers: z.array(GlobalPeerSchema) });

export const NetworkSendParamsSchema = z.object({
  to: NodeIdTextSchema,
  payload: NetworkRequestSchema,
  timeout_ms: z.number().int().min(100).max(600_000).optional(),
}).strict();

export const NetworkSendResultSchema = z.object({
  from: NodeIdTextSchema,
  reply: NetworkReplySchema,
  rtt_ms: z.number(),
  /** Links the reply travelled: 1 when the target is a neighbour. */
  hops: z.number().int().min(0),
  route: z.enum(["local", "direct", "relayed"]),
});
export type NetworkSendResult = z.infer<typeof NetworkSendResultSchema>;

export const NetworkBroadcastParamsSchema = z.object({
  topic: NetworkTopicSchema,
  body: JsonValueSchema,
}).strict();
export const NetworkBroadcastResultSchema = z.object({
  nonce: z.string(),
  /** Neighbours it was sent to. */
  sent_to: z.number().int().min(0),
});

export const NETWORK_MESSAGE_KINDS = ["request", "broadcast"] as const;

export const NetworkSubscribeParamsSchema = z.object({
  topics: z.array(NetworkTopicSchema).min(1).max(32),
  kinds: z.array(z.enum(NETWORK_MESSAGE_KINDS)).min(1).optional(),
}).strict();
export const NetworkSubscriptionSchema = z.object({ subscription_id: z.string() });

export const NetworkReceiveParamsSchema = z.object({
  subscription_id: z.string().min(1).max(64),
  /** How long to wait for a first message when none is queued (long poll). */
  wait_ms: z.number().int().min(0).max(25_000),
  max: z.number().int().min(1).max(256).optional(),
}).strict();

export const InboundNetworkMessageSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("request"),
    request_id: z.string(),
    from: NodeIdTextSchema,
    topic: NetworkTopicSchema,
    body: JsonValueSchema,
    /** Answer with `network.reply` before this time (ms since the epoch). */
    deadline: z.number(),
  }),
  z.object({
    kind: z.literal("broadcast"),
    nonce: z.string(),
    from: NodeIdTextSchema,
    topic: NetworkTopicSchema,
    body: JsonValueSchema,
    received_at: z.number(),
  }),
]);
export type InboundNetworkMessage = z.infer<typeof InboundNetworkMessageSchema>;

export const NetworkReceiveResultSchema = z.object({
  messages: z.array(InboundNetworkMessageSchema),
  /** Messages dropped since the last receive because the queue was full. */
  dropped: z.number().int().min(0),
});

export const NetworkReplyParamsSchema = z.object({
  request_id: z.string().min(1).max(64),
  reply: z.discriminatedUnion("ok", [
    z.object({ ok: z.literal(true), body: JsonValueSchema }).strict(),
    z.object({
      ok: z.literal(false),
      code: z.enum(NETWORK_ERROR_CODES),
      message: z.string().max(1000),
    }).strict(),
  ]),
}).strict();
export const NetworkReplyResultSchema = z.object({
  /** False when the request had already timed out or was unknown. */
  delivered: z.boolean(),
});

/**
 * The topic that carries API requests between nodes (http/remote.ts). The network worker hands
 * each one to the HTTP worker as one call (`http.remote_request`), not through a subscription.
 */
export const API_REQUEST_TOPIC = "api.http";

/** An API request another node sent: who sent it (as its link authenticated it), and the request. */
export const HttpRemoteRequestParamsSchema = z.object({
  from: NodeIdTextSchema,
  body: JsonValueSchema,
}).strict();
/**
 * The API's answer to it, as it travels back: status and body text, and how long the node's API
 * took over it (milliseconds), which the client-end passes on in its `Server-Timing` header.
 */
export const HttpRemoteResponseSchema = z.object({
  status: z.number().int().min(200).max(599),
  body: z.string(),
  served_ms: z.number().min(0).max(3_600_000).optional(),
});

export const NetworkUnsubscribeParamsSchema = z.object({
  subscription_id: z.string().min(1).max(64),
}).strict();
