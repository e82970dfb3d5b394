/**
 * Requests to one node by id, and their replies, sealed end to end.
 *
 * A message for one node is encrypted to that node's key (the envelope header
 * is the associated data) and signed by its origin, so a relay can pass it on
 * but neither read nor alter it. It goes straight to the target when that is
 * a neighbour, to the neighbour that a message from the target last came
 * through (a route hint), and is flooded (with the broadcast's nonce rules)
 * when no such hint exists. Replies come back the same way, sealed to the
 * origin; a reply is accepted only from the node the request was sent to.
 *
 * Route hints and trust: a hint is learned only from a message signed by the
 * target itself that arrived through that neighbour (a reply, or any sealed
 * message the target originated), never from what a neighbour says about
 * its links: otherwise one line of gossip ("I am linked to X") would draw
 * every request for X to the liar. A relay that passes one genuine message
 * on and then drops the rest can still earn a hint, so a hint is also never
 * the only way: a request this node sends through a hint is flooded as well
 * when no reply came within {@link HINT_FALLBACK_MS} (or half its time-out),
 * and the hint is dropped and barred for a while. A hint can make a request
 * cheaper, never make it fail.
 */
import { z } from "zod";
import {
  type Clock,
  type NetworkReply,
  NetworkReplySchema,
  type NetworkRequest,
  NetworkRequestSchema,
  type TimerHandle,
} from "../mod/mod.ts";
import { type AdmissionDeps, admit } from "./admission.ts";
import { andThen, type Authenticator, type MaybePromise } from "./authenticator.ts";
import {
  HINT_FALLBACK_MS,
  MAX_HOPS,
  MAX_PENDING_REPLIES,
  MAX_PENDING_REQUESTS,
  MAX_ROUTE_HINTS,
} from "./constants.ts";
import type { Counters } from "./counters.ts";
import { type Neighbours, sendToAll } from "./neighbours.ts";
import { newNonce, type NonceCache } from "./nonce_cache.ts";
import { decodeBase64, encodeBase64, type Sealed, sealedHeaderBytes } from "./wire.ts";

/** Why a request failed; the worker maps each to an RPC error code. */
export type RequestFailure = "timeout" | "gone" | "no_route" | "busy";

export class RequestFailed extends Error {
  constructor(readonly reason: RequestFailure, message: string) {
    super(message);
    this.name = "RequestFailed";
  }
}

export type RouteResult = {
  reply: NetworkReply;
  rttMs: number;
  /** Links the reply travelled; 0 for a request to this node itself. */
  hops: number;
  route: "local" | "direct" | "relayed";
};

/** What travels inside the seal. */
const InnerSchema = z.discriminatedUnion("k", [
  z.object({
    k: z.literal("req"),
    id: z.string().min(8).max(64),
    /** How long the origin waits, so the target does not work for nobody. */
    wait: z.number().int().min(0).max(600_000),
    p: NetworkRequestSchema,
  }).strict(),
  z.object({ k: z.literal("rep"), id: z.string().min(8).max(64), p: NetworkReplySchema }).strict(),
]);
type Inner = z.infer<typeof InnerSchema>;

export type RouterDeps = {
  selfId: string;
  networkId: string;
  clock: Clock;
  auth: Authenticator;
  nonces: NonceCache;
  neighbours: Neighbours;
  counters: Counters;
  /** Answers a request addressed to this node. */
  handleRequest: (
    origin: string,
    request: NetworkRequest,
    deadline: number,
  ) => MaybePromise<NetworkReply>;
  /** True when the node is known to have left (fail at once instead of waiting). */
  isDeparted: (id: string) => boolean;
  penalise: (fromId: string, reason: string) => void;
  hintTtlMs: number;
};

type Pending = {
  target: string;
  sentAt: number;
  viaNeighbour: boolean;
  timer: TimerHandle;
  /** While the request went through a hint only: the flood that follows if no reply comes. */
  fallback: TimerHandle | undefined;
  resolve: (result: RouteResult) => void;
  reject: (error: RequestFailed) => void;
};

/** A sealed message this node sent, and the way it went. */
type Sent = { message: Sealed; route: Route };

/** Where one sealed message goes from here. */
type Route =
  | { kind: "direct" }
  | { kind: "hint"; via: string }
  | { kind: "flood" };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Router {
  #deps: RouterDeps;
  #pending = new Map<string, Pending>();
  /** target -> the neighbour to send through, and until when that holds. */
  #hints = new Map<string, { via: string; until: number }>();
  /** target -> a neighbour whose hint failed, not to be learned again until `until`. */
  #barred = new Map<string, { via: string; until: number }>();
  #answering = 0;
  #admission: AdmissionDeps;

  constructor(deps: RouterDeps) {
    this.#deps = deps;
    this.#admission = { ...deps, duplicates: "sealed_duplicates" };
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  get hintCount(): number {
    return this.#hints.size;
  }

  /** Sends `request` to `target` and waits for its reply. */
  request(target: string, request: NetworkRequest, timeoutMs: number): Promise<RouteResult> {
    const { selfId, clock } = this.#deps;
    const startedAt = clock.now();
    if (target === selfId) {
      return Promise.resolve(this.#deps.handleRequest(selfId, request, startedAt + timeoutMs))
        .then((reply) => ({ reply, rttMs: clock.now() - startedAt, hops: 0, route: "local" }));
    }
    if (this.#deps.isDeparted(target)) {
      return Promise.reject(new RequestFailed("gone", `node ${target} has left the network`));
    }
    if (this.#pending.size >= MAX_PENDING_REQUESTS) {
      return Promise.reject(
        new RequestFailed("busy", `${MAX_PENDING_REQUESTS} requests are already waiting`),
      );
    }
    const neighbourCount = [...this.#deps.neighbours.ids()].length;
    if (neighbourCount === 0) {
      return Promise.reject(new RequestFailed("no_route", "this node has no peers yet"));
    }
    const id = newNonce();
    return new Promise<RouteResult>((resolve, reject) => {
      const timer = clock.setTimeout(() => {
        const pending = this.#pending.get(id);
        if (pending?.fallback) clock.clearTimeout(pending.fallback);
        this.#pending.delete(id);
        reject(
          new RequestFailed(
            "timeout",
            `no reply from node ${target} within ${timeoutMs} ms; it may have left the network or be unreachable`,
          ),
        );
      }, timeoutMs);
      const pending: Pending = {
        target,
        sentAt: startedAt,
        viaNeighbour: this.#deps.neighbours.has(target),
        timer,
        fallback: undefined,
        resolve,
        reject,
      };
      this.#pending.set(id, pending);
      void andThen(this.#send(target, { k: "req", id, wait: timeoutMs, p: request }), (sent) => {
        if (sent?.route.kind !== "hint" || this.#pending.get(id) !== pending) return;
        const via = sent.route.via;
        pending.fallback = clock.setTimeout(() => {
          pending.fallback = undefined;
          if (this.#pending.get(id) !== pending) return;
          this.#hintFailed(target, via);
          // The same message: whoever already has it drops the copy, the target answers once.
          this.#deps.counters.sealed_flooded += sendToAll(this.#deps.neighbours, sent.message, [
            via,
          ]);
        }, Math.min(HINT_FALLBACK_MS, timeoutMs / 2));
      });
    });
  }

  /** Drops hints past their time (called every exchange round, so stale ones do not pile up). */
  expireHints(now: number): void {
    for (const [target, hint] of this.#hints) {
      if (hint.until <= now) this.#hints.delete(target);
    }
    for (const [target, bar] of this.#barred) {
      if (bar.until <= now) this.#barred.delete(target);
    }
  }

  /** Forgets routes through a neighbour that is gone. */
  linkClosed(id: string): void {
    for (const [target, hint] of this.#hints) {
      if (hint.via === id || target === id) this.#hints.delete(target);
    }
  }

  /** A node left: requests waiting on it fail now. */
  targetDeparted(id: string): void {
    for (const [requestId, pending] of this.#pending) {
      if (pending.target !== id) continue;
      this.#pending.delete(requestId);
      this.#stopTimers(pending);
      pending.reject(new RequestFailed("gone", `node ${id} left the network`));
    }
  }

  /** Fails every waiting request (shutdown). */
  close(reason: string): void {
    for (const pending of this.#pending.values()) {
      this.#stopTimers(pending);
      pending.reject(new RequestFailed("no_route", reason));
    }
    this.#pending.clear();
  }

  receive(fromId: string, message: Sealed): void {
    const { networkId } = this.#deps;
    const decode = () => {
      const signature = decodeBase64(message.sig);
      const ciphertext = decodeBase64(message.ct);
      if (!signature || !ciphertext) return "malformed";
      const header = sealedHeaderBytes(networkId, message);
      return { signature, signed: concat(header, ciphertext), header, ciphertext };
    };
    andThen(admit(this.#admission, message, decode), (admission) => {
      if (admission.outcome === "admitted") {
        return this.#accept(fromId, message, admission.parts, admission.at);
      }
      switch (admission.reason) {
        case "malformed":
          return this.#deps.penalise(fromId, "sealed message with bad base64");
        case "forged":
          return this.#deps.penalise(fromId, "sealed message with a bad signature");
      }
    });
  }

  #accept(
    fromId: string,
    message: Sealed,
    { header, ciphertext }: { header: Uint8Array; ciphertext: Uint8Array },
    now: number,
  ): void {
    const { selfId, counters } = this.#deps;
    // Whatever the origin sends next (a reply, say) goes back the way this came.
    this.#setHint(message.origin, fromId, now);
    if (message.target !== selfId) {
      if (message.hops > 1) {
        counters.sealed_relayed += this.#forward({ ...message, hops: message.hops - 1 }, fromId);
      }
      return;
    }
    const ephemeral = decodeBase64(message.eph);
    andThen(
      ephemeral ? this.#deps.auth.open(ephemeral, header, ciphertext) : undefined,
      (opened) => {
        const inner = opened ? parseInner(opened) : undefined;
        if (!inner) {
          counters.sealed_unopenable++;
          return;
        }
        counters.sealed_delivered++;
        this.#handleInner(message.origin, inner, MAX_HOPS - message.hops + 1);
      },
    );
  }

  #handleInner(origin: string, inner: Inner, hops: number): void {
    const { clock } = this.#deps;
    if (inner.k === "rep") {
      const pending = this.#pending.get(inner.id);
      // Only the node asked may answer.
      if (!pending || pending.target !== origin) return;
      this.#pending.delete(inner.id);
      this.#stopTimers(pending);
      pending.resolve({
        reply: inner.p,
        rttMs: clock.now() - pending.sentAt,
        hops,
        route: pending.viaNeighbour && hops === 1 ? "direct" : "relayed",
      });
      return;
    }
    const reply = (p: NetworkReply) => void this.#send(origin, { k: "rep", id: inner.id, p });
    if (this.#answering >= MAX_PENDING_REPLIES) {
      return reply({ type: "error", code: "unavailable", message: "the node is busy" });
    }
    this.#answering++;
    const deadline = clock.now() + inner.wait;
    Promise.resolve()
      .then(() => this.#deps.handleRequest(origin, inner.p, deadline))
      .catch((error) => ({
        type: "error" as const,
        code: "internal" as const,
        message: String((error as Error)?.message ?? error).slice(0, 1000),
      }))
      .then((answer) => {
        this.#answering--;
        reply(answer);
      });
  }

  /** Seals, signs and sends; what was sent and which way, or nothing when sealing failed. */
  #send(target: string, inner: Inner): MaybePromise<Sent | undefined> {
    const { selfId, networkId, clock, auth, nonces, counters } = this.#deps;
    const nonce = newNonce();
    const ts = clock.now();
    const fields = { origin: selfId, target, nonce, ts };
    const plaintext = encoder.encode(JSON.stringify(inner));
    return andThen(
      auth.seal(
        target,
        (ephemeral) => sealedHeaderBytes(networkId, { ...fields, eph: encodeBase64(ephemeral) }),
        plaintext,
      ),
      (box): MaybePromise<Sent | undefined> => {
        if (!box) return undefined;
        const eph = encodeBase64(box.ephemeralPublicKey);
        const header = sealedHeaderBytes(networkId, { ...fields, eph });
        return andThen(auth.sign(concat(header, box.ciphertext)), (signature): Sent => {
          nonces.add(nonce, clock.now());
          const message: Sealed = {
            t: "sealed",
            ...fields,
            hops: MAX_HOPS,
            eph,
            ct: encodeBase64(box.ciphertext),
            sig: encodeBase64(signature),
          };
          counters.sealed_sent++;
          const route = this.#route(message, undefined);
          this.#take(route, message, undefined);
          return { message, route };
        });
      },
    );
  }

  /** Direct to the target, else through a hint, else to everyone but the sender. */
  #forward(message: Sealed, fromId: string | undefined): number {
    return this.#take(this.#route(message, fromId), message, fromId);
  }

  #route(message: Sealed, fromId: string | undefined): Route {
    const { neighbours, clock } = this.#deps;
    if (neighbours.has(message.target)) return { kind: "direct" };
    const hint = this.#hints.get(message.target);
    if (hint && hint.until > clock.now() && hint.via !== fromId && neighbours.has(hint.via)) {
      return { kind: "hint", via: hint.via };
    }
    return { kind: "flood" };
  }

  /** Sends along `route`; how many neighbours it went to. A hint that cannot take it floods. */
  #take(route: Route, message: Sealed, fromId: string | undefined): number {
    const { neighbours } = this.#deps;
    switch (route.kind) {
      case "direct":
        return neighbours.send(message.target, message) ? 1 : 0;
      case "hint":
        if (neighbours.send(route.via, message)) return 1;
        return this.#flood(message, fromId);
      case "flood":
        return this.#flood(message, fromId);
    }
  }

  #flood(message: Sealed, fromId: string | undefined): number {
    const copies = sendToAll(this.#deps.neighbours, message, [fromId ?? "", message.origin]);
    this.#deps.counters.sealed_flooded += copies;
    return copies;
  }

  #hintFailed(target: string, via: string): void {
    const { clock, counters } = this.#deps;
    counters.hint_fallbacks++;
    if (this.#hints.get(target)?.via === via) this.#hints.delete(target);
    this.#barred.delete(target);
    while (this.#barred.size >= MAX_ROUTE_HINTS) {
      this.#barred.delete(this.#barred.keys().next().value!);
    }
    this.#barred.set(target, { via, until: clock.now() + this.#deps.hintTtlMs });
  }

  #stopTimers(pending: Pending): void {
    this.#deps.clock.clearTimeout(pending.timer);
    if (pending.fallback) this.#deps.clock.clearTimeout(pending.fallback);
    pending.fallback = undefined;
  }

  #setHint(target: string, via: string, now: number): void {
    const bar = this.#barred.get(target);
    if (bar && bar.via === via && bar.until > now) return;
    const existing = this.#hints.get(target);
    if (existing && existing.via === via) {
      existing.until = now + this.#deps.hintTtlMs;
      return;
    }
    this.#hints.delete(target);
    while (this.#hints.size >= MAX_ROUTE_HINTS) {
      this.#hints.delete(this.#hints.keys().next().value!);
    }
    this.#hints.set(target, { via, until: now + this.#deps.hintTtlMs });
  }
}

function parseInner(bytes: Uint8Array): Inner | undefined {
  try {
    const checked = InnerSchema.safeParse(JSON.parse(decoder.decode(bytes)));
    return checked.success ? checked.data : undefined;
  } catch {
    return undefined;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
