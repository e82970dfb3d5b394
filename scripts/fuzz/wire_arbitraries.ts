/**
 * Valid wire messages (network/wire.ts), field by field within their
 * bounds: the starting point of the wire targets' mutations. Signatures and
 * nonces are random bytes of the right length; targets that need real
 * signatures make them with real keys.
 */
import fc from "fast-check";
import {
  BYE_REASONS,
  encodeBase64,
  MAX_AGE_MS,
  MAX_BROADCAST_HOPS,
  MAX_EXCHANGE_DEPARTURES,
  MAX_EXCHANGE_ENTRIES,
  MAX_FOUND_ENTRIES,
  MAX_INCARNATION,
  MAX_RETAINED_PAGE,
  MAX_TIMESTAMP_MS,
  REFUSAL_REASONS,
  REFUSAL_SAMPLE_SIZE,
  type WireMessage,
} from "../../network/mod.ts";

export const nodeIds = fc.stringMatching(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/);
export const base64Of = (bytes: number) =>
  fc.uint8Array({ minLength: bytes, maxLength: bytes }).map(encodeBase64);
export const incarnations = fc.oneof(
  fc.integer({ min: 0, max: MAX_INCARNATION }),
  fc.constantFrom(0, MAX_INCARNATION, 1_767_225_600_000),
);
export const timestamps = fc.oneof(
  fc.integer({ min: 0, max: MAX_TIMESTAMP_MS }),
  fc.constant(1_767_225_600_000),
);
export const ages = fc.integer({ min: 0, max: MAX_AGE_MS });
export const hops = fc.integer({ min: 0, max: MAX_BROADCAST_HOPS });
export const ports = fc.integer({ min: 1, max: 65535 });
export const addresses = fc.oneof(
  fc.tuple(fc.ipV4(), ports).map(([host, port]) => `${host}:${port}`),
  fc.tuple(fc.ipV6(), ports).map(([host, port]) => `[${host}]:${port}`),
  fc.tuple(fc.domain({ size: "small" }), ports).map(([host, port]) => `${host}:${port}`),
);
const roles = fc.constantFrom("gpu" as const, "seed" as const, "client" as const);
export const topics = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,63}$/);

export const peerEntries = fc.record({
  id: nodeIds,
  addr: addresses,
  role: roles,
  inc: incarnations,
  age: ages,
  n: fc.boolean(),
}, { requiredKeys: ["id", "addr", "role", "inc", "age"] });

export const departures = fc.record({
  id: nodeIds,
  inc: incarnations,
  age: ages,
  sig: base64Of(64),
}, { requiredKeys: ["id", "inc", "age"] });

/** Every kind of wire message, valid. Lists stay short unless `long`. */
export function wireMessages(long = false): fc.Arbitrary<WireMessage> {
  const list = <T>(items: fc.Arbitrary<T>, max: number) =>
    fc.array(items, { maxLength: long ? max : Math.min(max, 3) });
  const broadcast = fc.record({
    t: fc.constant("bcast" as const),
    nonce: base64Of(16),
    origin: nodeIds,
    ts: timestamps,
    hops,
    topic: topics,
    body: fc.string({ unit: "binary", maxLength: long ? 2000 : 40 }),
    sig: base64Of(64),
  });
  return fc.oneof(
    fc.record({
      t: fc.constant("hello" as const),
      v: fc.integer({ min: 0, max: 65535 }),
      net: fc.string({ minLength: 1, maxLength: 63 }),
      id: nodeIds,
      to: nodeIds,
      role: roles,
      inc: incarnations,
      port: ports,
      short: fc.boolean(),
      ts: timestamps,
      proof: base64Of(64),
    }),
    fc.record({
      t: fc.constant("refuse" as const),
      reason: fc.constantFrom(...REFUSAL_REASONS),
      peers: list(peerEntries, REFUSAL_SAMPLE_SIZE),
    }),
    fc.record({
      t: fc.constant("peers" as const),
      peers: list(peerEntries, MAX_EXCHANGE_ENTRIES),
      gone: list(departures, MAX_EXCHANGE_DEPARTURES),
    }),
    broadcast,
    // The hand-over of retained broadcasts (the market) to a node that joins.
    fc.record({ t: fc.constant("retained_req" as const) }),
    fc.record({
      t: fc.constant("retained" as const),
      msgs: list(broadcast, MAX_RETAINED_PAGE),
      last: fc.boolean(),
    }),
    // Request routing (network/routing/): queries, their answers, requests and replies.
    fc.record({
      t: fc.constant("find" as const),
      q: base64Of(16),
      net: fc.constantFrom("fuzz-net", "other"),
      port: ports,
      addr: addresses,
      key: nodeIds,
    }, { requiredKeys: ["t", "q", "net", "port", "key"] }),
    fc.record({
      t: fc.constant("found" as const),
      q: base64Of(16),
      peers: list(fc.record({ id: nodeIds, addr: addresses }), MAX_FOUND_ENTRIES),
    }),
    fc.record({
      t: fc.constant("call" as const),
      q: base64Of(16),
      net: fc.constantFrom("fuzz-net", "other"),
      port: ports,
      wait: fc.integer({ min: 0, max: 600_000 }),
      p: fc.constant({ type: "node.ping" as const }),
    }),
    fc.record({
      t: fc.constant("answer" as const),
      q: base64Of(16),
      p: fc.constant({ type: "error" as const, code: "internal" as const, message: "x" }),
    }),
    fc.record({
      t: fc.constant("bye" as const),
      reason: fc.constantFrom(...BYE_REASONS),
      goodbye: fc.record({ inc: incarnations, sig: base64Of(64) }),
    }, { requiredKeys: ["t", "reason"] }),
  ) as fc.Arbitrary<WireMessage>;
}
