/**
 * Links between nodes in one process, for tests and the simulation. Every
 * message and every close takes the link's latency on the given clock, in
 * order. A node can leave three ways: {@link MemoryNetwork.unlisten} (then it
 * says goodbye itself), {@link MemoryNetwork.crash} (its links drop at once,
 * like a killed process whose sockets the kernel closes) and
 * {@link MemoryNetwork.cut} (its links stay up but carry nothing, like a
 * pulled cable: only missed pings reveal it).
 */
import type { Clock } from "../mod/mod.ts";
import type { Link, LinkDirection, LinkEvents, Transport } from "./transport.ts";
import type { WireMessage } from "./wire.ts";

export type MemoryNetworkOptions = {
  clock: Clock;
  /** One-way latency of a new link, in ms; called once per link. */
  latencyMs?: () => number;
};

type Listener = { nodeId: string; host: string; accept: (link: Link) => void };

class MemoryLink implements Link {
  other!: MemoryLink;
  #events: LinkEvents | undefined;
  #early: Array<{ kind: "message"; message: WireMessage } | { kind: "closed" }> = [];
  #closed = false;

  constructor(
    readonly network: MemoryNetwork,
    readonly localId: string,
    readonly remoteId: string,
    readonly remoteHost: string,
    readonly direction: LinkDirection,
    readonly latencyMs: number,
  ) {}

  attach(events: LinkEvents): void {
    this.#events = events;
    for (const event of this.#early.splice(0)) {
      if (event.kind === "message") events.message(event.message);
      else events.closed();
    }
  }

  send(message: WireMessage): boolean {
    if (this.#closed || this.network.isCut(this.localId)) return !this.#closed;
    this.network.messagesSent++;
    this.network.tap?.(this.localId, this.remoteId, message);
    const other = this.other;
    this.network.clock.setTimeout(() => other.deliver(message), this.latencyMs);
    return true;
  }

  ping(timeoutMs: number): Promise<number> {
    const clock = this.network.clock;
    return new Promise((resolve, reject) => {
      const unreachable = this.#closed || this.network.isCut(this.localId) ||
        this.network.isCut(this.remoteId);
      if (unreachable || 2 * this.latencyMs > timeoutMs) {
        clock.setTimeout(() => reject(new Error("ping timed out")), timeoutMs);
      } else {
        clock.setTimeout(() => resolve(2 * this.latencyMs), 2 * this.latencyMs);
      }
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.network.release(this);
    // Behind a cut cable, not even the close gets through.
    if (this.network.isCut(this.localId)) return;
    const other = this.other;
    // The far end learns of the close after the messages already under way.
    this.network.clock.setTimeout(() => other.remoteClosed(), this.latencyMs);
    this.network.clock.setTimeout(() => this.#emitClosed(), 0);
  }

  /** The process died: no goodbye, and the far end notices as soon as the kernel tells it. */
  drop(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.network.release(this);
    const other = this.other;
    this.network.clock.setTimeout(() => other.remoteClosed(), this.latencyMs);
  }

  deliver(message: WireMessage): void {
    if (this.#closed || this.network.isCut(this.localId)) return;
    this.network.messagesDelivered++;
    if (this.#events) this.#events.message(message);
    else this.#early.push({ kind: "message", message });
  }

  remoteClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.network.release(this);
    this.#emitClosed();
  }

  #emitClosed(): void {
    if (this.#events) this.#events.closed();
    else this.#early.push({ kind: "closed" });
  }
}

export class MemoryNetwork {
  readonly clock: Clock;
  /** Sees every message sent (tests capture traffic with it). */
  tap: ((fromId: string, toId: string, message: WireMessage) => void) | undefined;
  messagesSent = 0;
  messagesDelivered = 0;
  #latencyMs: () => number;
  #listeners = new Map<string, Listener>();
  #links = new Map<string, Set<MemoryLink>>();
  #cut = new Set<string>();

  constructor(options: MemoryNetworkOptions) {
    this.clock = options.clock;
    this.#latencyMs = options.latencyMs ?? (() => 20);
  }

  /** Accepts links at `host:port` for `nodeId`. */
  listen(address: string, nodeId: string, accept: (link: Link) => void): void {
    this.#listeners.set(address, {
      nodeId,
      host: address.slice(0, address.lastIndexOf(":")),
      accept,
    });
  }

  /** Stops accepting links at `address` (existing links stay). */
  unlisten(address: string): void {
    this.#listeners.delete(address);
  }

  /** The transport a node with id `nodeId` at host `host` dials with. */
  transport(nodeId: string, host: string): Transport {
    return {
      dial: (address, expectedId, timeoutMs) =>
        this.#dial(nodeId, host, address, expectedId, timeoutMs),
    };
  }

  /** Kills a node: it stops listening and its links drop without a word. */
  crash(nodeId: string, address: string): void {
    this.unlisten(address);
    for (const link of [...(this.#links.get(nodeId) ?? [])]) link.drop();
    this.#links.delete(nodeId);
  }

  /** Cuts a node off: links stay open but carry nothing; dials to it time out. */
  cut(nodeId: string): void {
    this.#cut.add(nodeId);
  }

  isCut(nodeId: string): boolean {
    return this.#cut.has(nodeId);
  }

  #dial(
    fromId: string,
    fromHost: string,
    address: string,
    expectedId: string | undefined,
    timeoutMs: number,
  ): Promise<Link> {
    const latency = this.#latencyMs();
    return new Promise((resolve, reject) => {
      const listener = this.#listeners.get(address);
      if (!listener || this.#cut.has(fromId) || (listener && this.#cut.has(listener.nodeId))) {
        const refused = !listener;
        this.clock.setTimeout(
          () => reject(new Error(refused ? "connection refused" : "dial timed out")),
          refused ? 2 * latency : timeoutMs,
        );
        return;
      }
      if (expectedId !== undefined && listener.nodeId !== expectedId) {
        this.clock.setTimeout(() => reject(new Error("peer id mismatch")), 2 * latency);
        return;
      }
      const outbound = new MemoryLink(
        this,
        fromId,
        listener.nodeId,
        address.slice(0, address.lastIndexOf(":")),
        "outbound",
        latency,
      );
      const inbound = new MemoryLink(this, listener.nodeId, fromId, fromHost, "inbound", latency);
      outbound.other = inbound;
      inbound.other = outbound;
      this.#register(fromId, outbound);
      this.#register(listener.nodeId, inbound);
      this.clock.setTimeout(() => listener.accept(inbound), latency);
      this.clock.setTimeout(() => resolve(outbound), 2 * latency);
    });
  }

  /** Forgets a closed link. */
  release(link: MemoryLink): void {
    this.#links.get(link.localId)?.delete(link);
  }

  #register(nodeId: string, link: MemoryLink): void {
    let links = this.#links.get(nodeId);
    if (!links) this.#links.set(nodeId, links = new Set());
    links.add(link);
  }
}
