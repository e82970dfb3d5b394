/**
 * What travels on a link, and how it is decoded. Every frame is a varint
 * length followed by that many bytes of JSON; the decoder refuses a length
 * over {@link MAX_FRAME_BYTES} before buffering it, parses nothing it has not
 * bounded, and checks every message against its schema. Nothing here throws
 * on bad input: decoding returns a result that says what was wrong.
 */
import { z } from "zod";
import { base64 } from "@scure/base";
import { NetworkReplySchema, NetworkRequestSchema } from "../mod/mod.ts";
import { isAddress, MAX_ADDRESS_LENGTH } from "./address.ts";
import {
  MAX_AGE_MS,
  MAX_BROADCAST_BODY_BYTES,
  MAX_BROADCAST_HOPS,
  MAX_EXCHANGE_DEPARTURES,
  MAX_EXCHANGE_ENTRIES,
  MAX_FOUND_ENTRIES,
  MAX_FRAME_BYTES,
  MAX_IHAVE_IDS,
  MAX_INCARNATION,
  MAX_RETAINED_PAGE,
  MAX_TIMESTAMP_MS,
  MAX_TOPIC_LENGTH,
  REFUSAL_SAMPLE_SIZE,
} from "./constants.ts";

// --- Field shapes ---------------------------------------------------------------------------

/** An Ed25519 libp2p peer id: "12D3KooW" and 44 more base58 characters. */
export const NodeIdSchema = z.string().regex(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/);
/**
 * An address as a peer reports it (address.ts): `host:port`, or a multiaddr such as a relay
 * circuit; bounded here, and parsed again by the transport before it is dialled.
 */
const AddressSchema = z.string().max(MAX_ADDRESS_LENGTH).refine(isAddress, {
  message: "expected host:port or a multiaddr",
});
const RoleSchema = z.enum(["gpu", "seed", "client"]);
const b64 = (maxBytes: number) =>
  z.string().max(Math.ceil(maxBytes / 3) * 4).regex(/^[A-Za-z0-9+/]*={0,2}$/);
const Nonce = b64(16).length(24);
const Signature = b64(64).length(88);
// Every number a peer sends has a range (see constants.ts); what a node checks on top (an
// incarnation no further ahead than a clock can be) happens where the message is handled.
const Incarnation = z.number().int().min(0).max(MAX_INCARNATION);
const Timestamp = z.number().int().min(0).max(MAX_TIMESTAMP_MS);
const Age = z.number().int().min(0).max(MAX_AGE_MS);
/** A query's or call's id, chosen by the asker, unique among its open ones on that link. */
const QueryId = z.string().min(1).max(24).regex(/^[A-Za-z0-9+/=]+$/);
const NetworkId = z.string().min(1).max(63);
const Port = z.number().int().min(1).max(65535);
const MAX_CALL_WAIT_MS = 600_000;
/** A node and where to dial it, as a lookup answer names it: something to dial, never believed. */
export const ContactSchema = z.object({ id: NodeIdSchema, addr: AddressSchema }).strict();
export const TopicSchema = z.string().min(1).max(MAX_TOPIC_LENGTH).regex(/^[a-z0-9][a-z0-9._-]*$/);

/** One address-book entry as peers exchange it; `age` (ms since last evidence) avoids clock skew. */
export const PeerEntrySchema = z.object({
  id: NodeIdSchema,
  addr: AddressSchema,
  /** What the node said of itself; a "seed" counts only for configured or pinned seeds. */
  role: RoleSchema,
  inc: Incarnation,
  age: Age,
  /**
   * Set when the sender is linked to this peer right now. Information only: a neighbour's word
   * installs no route (router.ts learns routes from messages signed by their origin).
   */
  n: z.boolean().optional(),
}).strict();
export type PeerEntry = z.infer<typeof PeerEntrySchema>;

/**
 * A node that left. With `sig` (its own signature over {@link goodbyeBytes}) it said goodbye
 * itself, and every node drops its entries up to `inc`. Without, it is a neighbour's report
 * that the node stopped answering: a reason to dial it and see, never to drop it.
 */
export const DepartureSchema = z.object({
  id: NodeIdSchema,
  inc: Incarnation,
  age: Age,
  sig: Signature.optional(),
}).strict();
export type Departure = z.infer<typeof DepartureSchema>;
/** A departing node's signed goodbye, as it sends it in its last message to each neighbour. */
export const GoodbyeSchema = z.object({ inc: Incarnation, sig: Signature }).strict();
export type Goodbye = z.infer<typeof GoodbyeSchema>;

export const REFUSAL_REASONS = [
  "wrong_network",
  "version",
  "bad_proof",
  "full",
  "duplicate",
  "banned",
  "self",
  "clock",
] as const;
export type RefusalReason = typeof REFUSAL_REASONS[number];
export const BYE_REASONS = ["shutdown", "pruned", "misbehaving"] as const;
export type ByeReason = typeof BYE_REASONS[number];

// --- Messages -------------------------------------------------------------------------------

export const HelloSchema = z.object({
  t: z.literal("hello"),
  v: z.number().int().min(0).max(65535),
  net: z.string().min(1).max(63),
  id: NodeIdSchema,
  /** Whom this hello is for: a proof captured on one link is useless on another. */
  to: NodeIdSchema,
  role: RoleSchema,
  /** Incarnation: grows with every start (and when the node refutes a false report of its death). */
  inc: Incarnation,
  /** The port this node accepts links on; peers combine it with the address they see. */
  port: z.number().int().min(1).max(65535),
  /**
   * The sender has fewer outbound links than it wants: a full node may then make room
   * (see PeerNode), so small networks cannot lock up with some nodes short forever.
   */
  short: z.boolean(),
  ts: Timestamp,
  proof: Signature,
}).strict();
export type Hello = z.infer<typeof HelloSchema>;

/** A broadcast as its origin signed it (hops aside), relayed whole or handed over retained. */
const BroadcastSchema = z.object({
  t: z.literal("bcast"),
  nonce: Nonce,
  origin: NodeIdSchema,
  ts: Timestamp,
  hops: z.number().int().min(0).max(MAX_BROADCAST_HOPS),
  topic: TopicSchema,
  body: z.string().max(MAX_BROADCAST_BODY_BYTES),
  sig: Signature,
}).strict();

export const WireMessageSchema = z.discriminatedUnion("t", [
  HelloSchema,
  z.object({
    t: z.literal("refuse"),
    reason: z.enum(REFUSAL_REASONS),
    peers: z.array(PeerEntrySchema).max(REFUSAL_SAMPLE_SIZE),
  }).strict(),
  z.object({
    t: z.literal("peers"),
    peers: z.array(PeerEntrySchema).max(MAX_EXCHANGE_ENTRIES),
    gone: z.array(DepartureSchema).max(MAX_EXCHANGE_DEPARTURES),
  }).strict(),
  BroadcastSchema,
  // Plumtree's lazy push (network/broadcast/): ids of broadcasts the sender has, for a peer it
  // does not push them to; a request for some of them (and to be pushed to from now on);
  // a request to be pushed to no more (a copy came twice).
  z.object({ t: z.literal("ihave"), ids: z.array(Nonce).min(1).max(MAX_IHAVE_IDS) }).strict(),
  z.object({ t: z.literal("graft"), ids: z.array(Nonce).max(MAX_IHAVE_IDS) }).strict(),
  z.object({ t: z.literal("prune") }).strict(),
  // A node that just joined asks one neighbour, once, for the latest broadcast of each origin on
  // the retained topics (the market); the answer comes in pages, the last one marked. Each
  // broadcast is checked as its origin signed it, never taken on the neighbour's word.
  z.object({ t: z.literal("retained_req") }).strict(),
  z.object({
    t: z.literal("retained"),
    msgs: z.array(BroadcastSchema).max(MAX_RETAINED_PAGE),
    last: z.boolean(),
  }).strict(),
  // Request routing (network/routing/): a Kademlia query for the nodes nearest an id and its
  // answer; a request and its reply on a direct link. Sent on a neighbour link or as the first
  // message of a link opened for it (no hello there: the transport authenticated both ends, so
  // `net` and `port`, where to dial the sender back, travel in the message).
  z.object({
    t: z.literal("find"),
    q: QueryId,
    net: NetworkId,
    port: Port,
    /** Where the sender says it is reached, when not at its port here (a relay circuit). */
    addr: AddressSchema.optional(),
    key: NodeIdSchema,
  }).strict(),
  z.object({
    t: z.literal("found"),
    q: QueryId,
    peers: z.array(ContactSchema).max(MAX_FOUND_ENTRIES),
  })
    .strict(),
  z.object({
    t: z.literal("call"),
    q: QueryId,
    net: NetworkId,
    port: Port,
    addr: AddressSchema.optional(),
    /** How long the caller waits, so the callee does not work for nobody. */
    wait: z.number().int().min(0).max(MAX_CALL_WAIT_MS),
    p: NetworkRequestSchema,
  }).strict(),
  z.object({ t: z.literal("answer"), q: QueryId, p: NetworkReplySchema }).strict(),
  z.object({
    t: z.literal("bye"),
    reason: z.enum(BYE_REASONS),
    /** With a shutdown: the proof that lets every node, not only this neighbour, forget it. */
    goodbye: GoodbyeSchema.optional(),
  }).strict(),
]);
export type WireMessage = z.infer<typeof WireMessageSchema>;
export type WireMessageOf<T extends WireMessage["t"]> = Extract<WireMessage, { t: T }>;
export type Broadcast = WireMessageOf<"bcast">;

// --- Bytes that get signed ------------------------------------------------------------------
// A fixed-order JSON array of strings and integers encodes the same way everywhere.

const encoder = new TextEncoder();

/** What a hello's proof signs: the network, both ends, the incarnation, port and time. */
export function helloProofBytes(hello: Omit<Hello, "proof" | "t">): Uint8Array {
  return encoder.encode(
    JSON.stringify([
      "dbc/hello/1",
      hello.v,
      hello.net,
      hello.id,
      hello.to,
      hello.role,
      hello.inc,
      hello.port,
      hello.short,
      hello.ts,
    ]),
  );
}

/** What a goodbye signs: the network, the departing node and the incarnation that ends. */
export function goodbyeBytes(networkId: string, id: string, incarnation: number): Uint8Array {
  return encoder.encode(JSON.stringify(["dbc/gone/1", networkId, id, incarnation]));
}

/** What a broadcast's signature covers: everything but the hop count, which relays lower. */
export function broadcastSignedBytes(
  networkId: string,
  message: Omit<Broadcast, "sig" | "hops" | "t">,
): Uint8Array {
  return encoder.encode(
    JSON.stringify([
      "dbc/bcast/1",
      networkId,
      message.origin,
      message.nonce,
      message.ts,
      message.topic,
      message.body,
    ]),
  );
}

export const encodeBase64 = (bytes: Uint8Array): string => base64.encode(bytes);
/** Base64 to bytes; `undefined` instead of a throw for malformed text. */
export function decodeBase64(text: string): Uint8Array | undefined {
  try {
    return base64.decode(text);
  } catch {
    return undefined;
  }
}

// --- Frames ---------------------------------------------------------------------------------

export type DecodeResult =
  | { ok: true; message: WireMessage }
  | { ok: false; reason: string };

/** Parses one frame's bytes into a checked message. */
export function decodeWireMessage(bytes: Uint8Array): DecodeResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  const checked = WireMessageSchema.safeParse(parsed);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    return {
      ok: false,
      reason: `schema: ${issue?.path.join(".") ?? ""} ${issue?.message ?? "invalid"}`.trim(),
    };
  }
  return { ok: true, message: checked.data };
}

/** A message as one length-prefixed frame. */
export function encodeFrame(message: WireMessage): Uint8Array {
  const body = encoder.encode(JSON.stringify(message));
  const prefix = encodeVarint(body.length);
  const frame = new Uint8Array(prefix.length + body.length);
  frame.set(prefix);
  frame.set(body, prefix.length);
  return frame;
}

function encodeVarint(value: number): Uint8Array {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return Uint8Array.from(bytes);
}

export type FrameResult =
  | { ok: true; frames: Uint8Array[] }
  | { ok: false; reason: string };

/**
 * Splits a byte stream into frames. Holds at most one partial frame (so at
 * most {@link MAX_FRAME_BYTES} plus a few bytes of prefix); a length prefix
 * that is too long or too large fails the stream, which the caller closes.
 */
export class FrameDecoder {
  #buffer = new Uint8Array(0);
  #failed = false;
  readonly maxFrameBytes: number;

  constructor(maxFrameBytes = MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes waiting for the rest of their frame. */
  get buffered(): number {
    return this.#buffer.length;
  }

  push(chunk: Uint8Array): FrameResult {
    if (this.#failed) return { ok: false, reason: "stream already failed" };
    let data = chunk;
    if (this.#buffer.length > 0) {
      data = new Uint8Array(this.#buffer.length + chunk.length);
      data.set(this.#buffer);
      data.set(chunk, this.#buffer.length);
    }
    const frames: Uint8Array[] = [];
    let offset = 0;
    for (;;) {
      const header = readVarint(data, offset);
      if (header.kind === "incomplete") break;
      if (header.kind === "invalid" || header.value > this.maxFrameBytes) {
        this.#failed = true;
        this.#buffer = new Uint8Array(0);
        return {
          ok: false,
          reason: header.kind === "invalid"
            ? "malformed length prefix"
            : `frame of ${header.value} bytes exceeds ${this.maxFrameBytes}`,
        };
      }
      if (header.value === 0) {
        this.#failed = true;
        return { ok: false, reason: "empty frame" };
      }
      const end = header.next + header.value;
      if (end > data.length) break;
      frames.push(data.slice(header.next, end));
      offset = end;
    }
    this.#buffer = data.slice(offset);
    return { ok: true, frames };
  }
}

type VarintRead =
  | { kind: "ok"; value: number; next: number }
  | { kind: "incomplete" }
  | { kind: "invalid" };

/** At most four prefix bytes (up to 256 MiB): anything longer is refused, never accumulated. */
function readVarint(data: Uint8Array, offset: number): VarintRead {
  let value = 0;
  for (let index = 0; index < 4; index++) {
    const position = offset + index;
    if (position >= data.length) return { kind: "incomplete" };
    const byte = data[position]!;
    value += (byte & 0x7f) * 2 ** (7 * index);
    if ((byte & 0x80) === 0) return { kind: "ok", value, next: position + 1 };
  }
  return { kind: "invalid" };
}
