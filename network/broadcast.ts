/**
 * Nonce-deduplicated flooding. The origin signs the message (everything but
 * the hop count) and sends it to every neighbour; each node that receives it
 * drops it if the nonce is known, refuses it if it is stale or its signature
 * fails, and otherwise remembers the nonce, delivers it locally and passes it
 * to every other neighbour while hops remain.
 *
 * Those checks on arrival are the same for sealed messages: see admission.ts.
 */
import type { Clock } from "../mod/mod.ts";
import { type AdmissionDeps, admit } from "./admission.ts";
import { andThen, type Authenticator, type MaybePromise } from "./authenticator.ts";
import { MAX_HOPS } from "./constants.ts";
import type { Counters } from "./counters.ts";
import { type Neighbours, sendToAll } from "./neighbours.ts";
import { newNonce, type NonceCache } from "./nonce_cache.ts";
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
  #admission: AdmissionDeps;

  constructor(deps: BroadcasterDeps) {
    this.#deps = deps;
    this.#admission = { ...deps, duplicates: "broadcast_duplicates" };
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
    const { networkId } = this.#deps;
    const decode = () => {
      const signature = decodeBase64(message.sig);
      // A signature that is not even base64 is as bad as one that fails.
      return signature ? { signature, signed: broadcastSignedBytes(networkId, message) } : "forged";
    };
    andThen(admit(this.#admission, message, decode), (admission) => {
      if (admission.outcome === "admitted") return this.#accept(fromId, message, admission.at);
      if (admission.reason === "forged") {
        this.#deps.penalise(fromId, "broadcast with a bad signature");
      }
    });
  }

  #accept(fromId: string, message: Broadcast, now: number): void {
    const { selfId, neighbours, counters } = this.#deps;
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
