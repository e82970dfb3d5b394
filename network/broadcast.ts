/**
 * Nonce-deduplicated flooding. The origin signs the message (everything but
 * the hop count) and sends it to every neighbour; each node that receives it
 * drops it if the nonce is known, refuses it if it is stale or its signature
 * fails, and otherwise remembers the nonce, delivers it locally and passes it
 * to every other neighbour while hops remain.
 *
 * The nonce goes into the cache only after the signature checked out, so a
 * forged copy cannot make nodes drop the genuine message that follows it.
 */
import type { Clock } from "../mod/mod.ts";
import { andThen, type Authenticator, type MaybePromise } from "./authenticator.ts";
import { MAX_CLOCK_SKEW_MS, MAX_HOPS } from "./constants.ts";
import type { Counters } from "./counters.ts";
import { type Neighbours, sendToAll } from "./neighbours.ts";
import { isFresh, newNonce, type NonceCache } from "./nonce_cache.ts";
import { type Broadcast, broadcastSignedBytes, decodeBase64, encodeBase64 } from "./wire.ts";

export type BroadcastDelivery = {
  nonce: string;
  origin: string;
  topic: string;
  /** The body as JSON text, exactly as signed. */
  body: string;
  receivedAt: number;
};

export type BroadcasterDeps = {
  selfId: string;
  networkId: string;
  clock: Clock;
  auth: Authenticator;
  nonces: NonceCache;
  neighbours: Neighbours;
  counters: Counters;
  deliver: (delivery: BroadcastDelivery) => void;
  /** A neighbour passed on something no honest relay would. */
  penalise: (fromId: string, reason: string) => void;
};

export class Broadcaster {
  #deps: BroadcasterDeps;

  constructor(deps: BroadcasterDeps) {
    this.#deps = deps;
  }

  /** Signs and floods a message; resolves with its nonce and how many neighbours it went to. */
  originate(topic: string, body: string): MaybePromise<{ nonce: string; sentTo: number }> {
    const { selfId, networkId, clock, auth, nonces, neighbours, counters } = this.#deps;
    const unsigned = { nonce: newNonce(), origin: selfId, ts: clock.now(), topic, body };
    return andThen(auth.sign(broadcastSignedBytes(networkId, unsigned)), (signature) => {
      nonces.add(unsigned.nonce, clock.now());
      const message: Broadcast = {
        t: "bcast",
        ...unsigned,
        hops: MAX_HOPS,
        sig: encodeBase64(signature),
      };
      const sentTo = sendToAll(neighbours, message, []);
      counters.broadcasts_originated++;
      counters.broadcasts_relayed += sentTo;
      return { nonce: unsigned.nonce, sentTo };
    });
  }

  receive(fromId: string, message: Broadcast): void {
    const { selfId, networkId, clock, auth, nonces, counters } = this.#deps;
    const now = clock.now();
    if (message.origin === selfId || nonces.has(message.nonce, now)) {
      counters.broadcast_duplicates++;
      return;
    }
    if (!isFresh(message.ts, now, nonces.ttlMs, MAX_CLOCK_SKEW_MS)) {
      counters.stale_dropped++;
      return;
    }
    const signature = decodeBase64(message.sig);
    const verified = signature
      ? auth.verify(message.origin, broadcastSignedBytes(networkId, message), signature)
      : false;
    andThen(verified, (ok) => this.#accept(fromId, message, ok));
  }

  #accept(fromId: string, message: Broadcast, verified: boolean): void {
    const { selfId, clock, nonces, neighbours, counters } = this.#deps;
    if (!verified) {
      counters.forged_dropped++;
      this.#deps.penalise(fromId, "broadcast with a bad signature");
      return;
    }
    const now = clock.now();
    if (!nonces.add(message.nonce, now)) {
      // Another copy finished its check first.
      counters.broadcast_duplicates++;
      return;
    }
    counters.broadcasts_delivered++;
    this.#deps.deliver({
      nonce: message.nonce,
      origin: message.origin,
      topic: message.topic,
      body: message.body,
      receivedAt: now,
    });
    if (message.hops <= 1) return;
    const relayed = sendToAll(neighbours, { ...message, hops: message.hops - 1 }, [
      fromId,
      message.origin,
      selfId,
    ]);
    counters.broadcasts_relayed += relayed;
  }
}
