/**
 * Many {@link PeerNode}s in one process: the same protocol code as the node,
 * over {@link MemoryNetwork} links and an {@link EventClock}. The simulation
 * (scripts/sim.ts) and the protocol tests both build networks with it.
 */
import { base58 } from "@scure/base";
import { generateNodeKeys, type Logger, type Role, silentLogger } from "../../mod/mod.ts";
import {
  type Authenticator,
  type BroadcastDelivery,
  EventClock,
  MemoryNetwork,
  nodeAuthenticator,
  PeerNode,
  type PeerNodeConfig,
  type PeerNodeDeps,
  simulatedAuthenticator,
} from "../../network/mod.ts";
import { mulberry32 } from "../seeded_random.ts";

export type SimNode = {
  id: string;
  address: string;
  role: Role;
  peer: PeerNode;
  auth: Authenticator;
  /** Nonce -> times delivered here. */
  deliveries: Map<string, number>;
  alive: boolean;
};

export type ClusterOptions = {
  config?: Partial<PeerNodeConfig>;
  /** "simulated": no crypto cost (default); "real": Ed25519 keys, signatures and sealing. */
  crypto?: "simulated" | "real";
  /** Deterministic randomness for protocol choices. */
  seed?: number;
  latencyMs?: [number, number];
  log?: Logger;
};

export const DEFAULT_SIM_CONFIG: Omit<PeerNodeConfig, "role" | "listenPort" | "seeds"> = {
  networkId: "dbc-sim",
  targetOutbound: 8,
  maxInbound: 32,
  exchangeIntervalMs: 30_000,
  pingIntervalMs: 15_000,
  pingMisses: 3,
  nonceCacheSize: 100_000,
  nonceTtlMs: 300_000,
  rateLimitPerS: 200,
};

/**
 * Where the virtual clock starts: a day and some in, not at today's date. Nothing depends on
 * the epoch, and times below 2^30 ms are small integers to V8: every timestamp the nodes keep
 * (book entries, departures, incarnations, timers) is then stored inline rather than as a heap
 * number of its own, which at 10,000 nodes is millions of objects fewer.
 */
export const SIM_EPOCH_MS = 100_000_000;

export class SimCluster {
  readonly clock: EventClock;
  readonly network: MemoryNetwork;
  readonly nodes: SimNode[] = [];
  readonly random: () => number;
  #options: ClusterOptions;
  #counter = 0;

  constructor(options: ClusterOptions = {}) {
    this.#options = options;
    this.random = mulberry32(options.seed ?? 1);
    this.clock = new EventClock(SIM_EPOCH_MS);
    const [low, high] = options.latencyMs ?? [10, 80];
    this.network = new MemoryNetwork({
      clock: this.clock,
      latencyMs: () => low + Math.floor(this.random() * (high - low + 1)),
    });
  }

  /** Adds and starts a node that joins through `seeds` (addresses of earlier nodes). */
  add(
    options: {
      role?: Role;
      seeds?: string[];
      config?: Partial<PeerNodeConfig>;
      /** Answers `app` requests to the node (none: it answers that it serves none). */
      onAppRequest?: PeerNodeDeps["onAppRequest"];
    } = {},
  ): SimNode {
    const index = ++this.#counter;
    const role = options.role ?? "gpu";
    const host = `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;
    const address = `${host}:5001`;
    let id: string;
    let auth: Authenticator;
    if (this.#options.crypto === "real") {
      const keys = generateNodeKeys();
      id = keys.nodeId;
      // noble answers synchronously, in step with the virtual clock.
      auth = nodeAuthenticator(keys.privateKey, { signatures: "noble" });
    } else {
      id = fakeNodeId(this.random);
      auth = simulatedAuthenticator(id);
    }
    const deliveries = new Map<string, number>();
    const peer = new PeerNode({
      ...DEFAULT_SIM_CONFIG,
      ...this.#options.config,
      ...options.config,
      role,
      listenPort: 5001,
      seeds: options.seeds ?? [],
    }, {
      selfId: id,
      transport: this.network.transport(id, host),
      auth,
      clock: this.clock,
      log: this.#options.log ?? silentLogger,
      version: "sim",
      random: this.random,
      onBroadcast: (delivery: BroadcastDelivery) =>
        deliveries.set(delivery.nonce, (deliveries.get(delivery.nonce) ?? 0) + 1),
      onAppRequest: options.onAppRequest,
    });
    this.network.listen(address, id, (link) => peer.acceptInbound(link));
    const node: SimNode = { id, address, role, peer, auth, deliveries, alive: true };
    this.nodes.push(node);
    peer.start();
    return node;
  }

  get alive(): SimNode[] {
    return this.nodes.filter((node) => node.alive);
  }

  /** A graceful shutdown: goodbyes, then the listener goes. */
  leave(node: SimNode): void {
    node.alive = false;
    node.peer.stop();
    this.network.unlisten(node.address);
  }

  /** Killed: links drop without a goodbye. */
  crash(node: SimNode): void {
    node.alive = false;
    this.network.crash(node.id, node.address);
    node.peer.stop();
  }

  /** Cable cut: links stay up but carry nothing; the node itself is stopped silently. */
  cut(node: SimNode): void {
    node.alive = false;
    this.network.cut(node.id);
    node.peer.stop();
  }

  /** True when no live node lists `id` among its links or in its address book. */
  forgotten(id: string): boolean {
    return this.alive.every((node) =>
      !node.peer.isLinked(id) && node.peer.book.get(id) === undefined
    );
  }

  /** Every live node has its target number of outbound links. */
  converged(): boolean {
    return this.alive.every((node) => node.peer.outboundCount >= node.peer.status().targetOutbound);
  }
}

/** A well-formed node id without a key behind it (the simulated crypto needs none). */
function fakeNodeId(random: () => number): string {
  const bytes = new Uint8Array(38);
  bytes.set([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]);
  for (let index = 6; index < 38; index++) bytes[index] = Math.floor(random() * 256);
  return base58.encode(bytes);
}
