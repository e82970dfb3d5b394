/**
 * How other workers receive network messages: a worker subscribes to topics
 * (`network.subscribe`), then long-polls `network.receive`; requests it gets
 * that way are answered with `network.reply` before their deadline. Every
 * queue is bounded (the oldest message goes, and the drop is counted), and a
 * subscription nobody polls for a while is dropped, so a worker that crashed
 * costs nothing for long.
 *
 * @example
 * ```ts
 * const { subscription_id } = await call("network.subscribe", { topics: ["node.info"] });
 * for (;;) {
 *   const { messages } = await call("network.receive", { subscription_id, wait_ms: 20_000 }, { timeoutMs: 25_000 });
 *   for (const m of messages) if (m.kind === "request") await call("network.reply", { request_id: m.request_id, reply: { ok: true, body: info() } });
 * }
 * ```
 */
import {
  type Clock,
  type InboundNetworkMessage,
  type NetworkReply,
  type Party,
  RpcError,
  type TimerHandle,
} from "../mod/mod.ts";
import type { BroadcastDelivery } from "./broadcast/mod.ts";
import {
  MAX_INBOX_MESSAGES,
  MAX_PENDING_REPLIES,
  MAX_RECEIVE_WAIT_MS,
  MAX_SUBSCRIPTIONS,
  SUBSCRIPTION_IDLE_MS,
} from "./constants.ts";

type Kind = InboundNetworkMessage["kind"];

type Subscription = {
  id: string;
  owner: Party;
  topics: ReadonlySet<string>;
  kinds: ReadonlySet<Kind>;
  queue: InboundNetworkMessage[];
  dropped: number;
  lastPolled: number;
  waiter: { wake: () => void; timer: TimerHandle } | undefined;
};

type AppReply = Extract<NetworkReply, { type: "app" }>;

type PendingReply = { topic: string; resolve: (reply: NetworkReply) => void; timer: TimerHandle };

export type ReplyInput =
  | { ok: true; body: unknown }
  | { ok: false; code: Extract<NetworkReply, { type: "error" }>["code"]; message: string };

export class Inbox {
  #clock: Clock;
  #nodeId: string;
  #subscriptions = new Map<string, Subscription>();
  #pending = new Map<string, PendingReply>();
  #roundRobin = 0;

  constructor(options: { clock: Clock; nodeId: string }) {
    this.#clock = options.clock;
    this.#nodeId = options.nodeId;
  }

  get subscriptionCount(): number {
    return this.#subscriptions.size;
  }

  subscribe(owner: Party, topics: readonly string[], kinds: readonly Kind[]): string {
    this.#dropIdle();
    if (this.#subscriptions.size >= MAX_SUBSCRIPTIONS) {
      throw new RpcError("unavailable", `at most ${MAX_SUBSCRIPTIONS} subscriptions at a time`);
    }
    const id = crypto.randomUUID();
    this.#subscriptions.set(id, {
      id,
      owner,
      topics: new Set(topics),
      kinds: new Set(kinds),
      queue: [],
      dropped: 0,
      lastPolled: this.#clock.now(),
      waiter: undefined,
    });
    return id;
  }

  unsubscribe(id: string): void {
    const subscription = this.#subscriptions.get(id);
    if (!subscription) return;
    this.#subscriptions.delete(id);
    this.#wake(subscription);
  }

  /** Queued messages; when there are none, waits up to `waitMs` for the first. */
  async receive(
    id: string,
    owner: Party,
    waitMs: number,
    max: number,
  ): Promise<{ messages: InboundNetworkMessage[]; dropped: number }> {
    const subscription = this.#subscriptions.get(id);
    if (!subscription || subscription.owner !== owner) {
      throw new RpcError("not_found", `no subscription ${id}; subscribe again`);
    }
    subscription.lastPolled = this.#clock.now();
    if (subscription.queue.length === 0 && waitMs > 0 && !subscription.waiter) {
      await new Promise<void>((resolve) => {
        const timer = this.#clock.setTimeout(
          () => this.#wake(subscription),
          Math.min(waitMs, MAX_RECEIVE_WAIT_MS),
        );
        subscription.waiter = { wake: resolve, timer };
      });
    }
    subscription.lastPolled = this.#clock.now();
    const messages = subscription.queue.splice(0, max);
    const dropped = subscription.dropped;
    subscription.dropped = 0;
    return { messages, dropped };
  }

  /**
   * Queues a broadcast for every subscriber of its topic (or only for `subscriptionId`);
   * returns how many got it.
   */
  deliverBroadcast(delivery: BroadcastDelivery, subscriptionId?: string): number {
    let body: unknown;
    try {
      body = JSON.parse(delivery.body);
    } catch {
      return 0; // Signed, but not JSON: nothing a subscriber could use.
    }
    let count = 0;
    for (const subscription of this.#matching(delivery.topic, "broadcast")) {
      if (subscriptionId !== undefined && subscription.id !== subscriptionId) continue;
      this.#enqueue(subscription, {
        kind: "broadcast",
        nonce: delivery.nonce,
        from: delivery.origin,
        topic: delivery.topic,
        body: body as InboundNetworkMessage["body"],
        received_at: delivery.receivedAt,
      });
      count++;
    }
    return count;
  }

  /** Hands a request to a subscriber of its topic and resolves with the answer (or an error reply). */
  request(origin: string, topic: string, body: unknown, deadline: number): Promise<NetworkReply> {
    const candidates = this.#matching(topic, "request");
    if (candidates.length === 0) {
      return Promise.resolve({
        type: "error",
        code: "not_found",
        message: `node ${this.#nodeId} has no handler for ${topic}`,
      });
    }
    if (this.#pending.size >= MAX_PENDING_REPLIES) {
      return Promise.resolve({ type: "error", code: "unavailable", message: "the node is busy" });
    }
    const subscription = candidates[this.#roundRobin++ % candidates.length]!;
    const requestId = crypto.randomUUID();
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        this.#pending.delete(requestId);
        resolve({ type: "error", code: "timeout", message: `no answer to ${topic} in time` });
      }, Math.max(0, deadline - this.#clock.now()));
      this.#pending.set(requestId, { topic, resolve, timer });
      this.#enqueue(subscription, {
        kind: "request",
        request_id: requestId,
        from: origin,
        topic,
        body: body as InboundNetworkMessage["body"],
        deadline,
      });
    });
  }

  /** An answer from a subscriber; false when the request is unknown or already timed out. */
  reply(requestId: string, reply: ReplyInput): boolean {
    const pending = this.#pending.get(requestId);
    if (!pending) return false;
    this.#pending.delete(requestId);
    this.#clock.clearTimeout(pending.timer);
    pending.resolve(
      reply.ok
        ? { type: "app", topic: pending.topic, body: reply.body as AppReply["body"] }
        : { type: "error", code: reply.code, message: reply.message },
    );
    return true;
  }

  /** Wakes every poller and fails every waiting request (shutdown). */
  close(): void {
    for (const subscription of this.#subscriptions.values()) this.#wake(subscription);
    this.#subscriptions.clear();
    for (const pending of this.#pending.values()) {
      this.#clock.clearTimeout(pending.timer);
      pending.resolve({ type: "error", code: "unavailable", message: "the node is shutting down" });
    }
    this.#pending.clear();
  }

  #matching(topic: string, kind: Kind): Subscription[] {
    this.#dropIdle();
    return [...this.#subscriptions.values()].filter((subscription) =>
      subscription.topics.has(topic) && subscription.kinds.has(kind)
    );
  }

  #enqueue(subscription: Subscription, message: InboundNetworkMessage): void {
    if (subscription.queue.length >= MAX_INBOX_MESSAGES) {
      subscription.queue.shift();
      subscription.dropped++;
    }
    subscription.queue.push(message);
    this.#wake(subscription);
  }

  #wake(subscription: Subscription): void {
    const waiter = subscription.waiter;
    if (!waiter) return;
    subscription.waiter = undefined;
    this.#clock.clearTimeout(waiter.timer);
    waiter.wake();
  }

  #dropIdle(): void {
    const now = this.#clock.now();
    for (const subscription of this.#subscriptions.values()) {
      if (!subscription.waiter && now - subscription.lastPolled > SUBSCRIPTION_IDLE_MS) {
        this.#subscriptions.delete(subscription.id);
      }
    }
  }
}
