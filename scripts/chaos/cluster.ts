/**
 * The chaos run's network: real node processes on loopback, each started
 * with `deno task node`'s command line (tests/network/node_processes.ts:
 * `bash scripts/node.sh`, which becomes the node, so a signal reaches the
 * node itself), with its own data directory under the tests' scratch root,
 * its own ports and libvirt domain prefix, and quiet logs. A node keeps its
 * ports and data directory across kills, so a restart is the same node (same
 * id, same address) coming back.
 *
 * Kills are SIGKILL to the node process, as a crash or a pulled plug would
 * be. The seed keeps the ledger and is every other node's ledger authority:
 * it is never killed.
 */
import { scratchDir } from "../../tests/helpers.ts";
import { testPrefix } from "../../tests/node_service/vm/libvirt_fixture.ts";
import {
  type NodeProcess,
  startNode,
  stopAll,
  whenUp,
} from "../../tests/network/node_processes.ts";
import { devWallets } from "../../tests/wallets.ts";
import { DOCKER_SOCKET } from "./engine_sweep.ts";
import type { NodePlan, Role } from "./plan.ts";

const NETWORK_ID = "dbc-chaos";
/**
 * Peer exchange every 5 s (the default is 30 s): restarted nodes find their place in the mesh
 * within a few rounds of a run that lasts minutes. Everything else keeps its default.
 */
const EXCHANGE_INTERVAL_MS = 5_000;
/** The shortest validation round a ledger allows: nine slots of 10 s. */
export const VERIFICATION_WINDOW_S = 90;
/** A container's stop: the test command exits at once on SIGTERM anyway. */
const CONTAINER_STOP_TIMEOUT_S = 2;
/** How long a node's requests to another node (and to its own workers) wait. */
export const NODE_REQUEST_TIMEOUT_MS = 15_000;
/** Nodes started at once: each start reads its grants and loads the program (CPU-bound). */
const START_PARALLEL = 3;
/** How long a (re)started node may take until its network worker answers. */
const START_TIMEOUT_MS = 90_000;
/**
 * Ports from a band of their own: below the kernel's ephemeral range (32768 up), so no outgoing
 * connection takes a killed node's port, and below where the other tests put their devnets
 * (21000 up), the containers' host ports (20000-29999) and `deno task devnet` (18080 up).
 */
const PORT_FLOOR = 11_000;
const PORT_SPAN = 7_000;
/** HTTP ports at base + i, p2p ports at base + P2P_OFFSET + i. */
const P2P_OFFSET = 100;

export type ChaosNode = {
  name: string;
  role: Role;
  httpPort: number;
  p2pPort: number;
  dataDir: string;
  domainPrefix: string;
  /** Its node id (known once it first answered; a restart keeps it). */
  id: string;
  /** Undefined while it is down. */
  running: NodeProcess | undefined;
  /** Every start's log (stderr), this one's included. */
  logs: Promise<string>[];
};

export type Progress = (message: string) => void;

export class ChaosCluster {
  readonly dir: string;
  readonly nodes: ChaosNode[];
  readonly #roleArgs: Record<Role, string[]>;

  private constructor(dir: string, nodes: ChaosNode[], roleArgs: Record<Role, string[]>) {
    this.dir = dir;
    this.nodes = nodes;
    this.#roleArgs = roleArgs;
  }

  /** Starts every node of `layout`: the seed first (its id is everyone's ledger authority). */
  static async start(layout: readonly NodePlan[], progress: Progress): Promise<ChaosCluster> {
    const { alice, ferdie } = await devWallets();
    const dir = await scratchDir("chaos");
    const base = freePortBase(layout.length);
    const domainRoot = testPrefix();
    const nodes = layout.map((plan, index): ChaosNode => ({
      name: plan.name,
      role: plan.role,
      httpPort: base + index,
      p2pPort: base + P2P_OFFSET + index,
      dataDir: `${dir}/${plan.name}`,
      domainPrefix: `${domainRoot}${plan.name}-`,
      id: "",
      running: undefined,
      logs: [],
    }));
    // Alice owns the GPU nodes, Ferdie funds renters: the devnet's roles (scripts/devnet.ts).
    const cluster = new ChaosCluster(dir, nodes, {
      seed: [
        "--ledger-admins",
        ferdie.address,
        "--ledger-verification-window-s",
        String(VERIFICATION_WINDOW_S),
      ],
      gpu: [
        "--owner-wallet",
        alice.address,
        "--docker-socket",
        DOCKER_SOCKET,
        "--container-stop-timeout-s",
        String(CONTAINER_STOP_TIMEOUT_S),
      ],
      client: ["--compat-http-port", "0"],
    });
    try {
      await cluster.restart(cluster.seed);
      progress(`seed up (${cluster.seed.id}), data in ${dir}`);
      const rest = nodes.filter((node) => node.role !== "seed");
      for (let index = 0; index < rest.length; index += START_PARALLEL) {
        await Promise.all(
          rest.slice(index, index + START_PARALLEL).map((node) => cluster.restart(node)),
        );
        progress(`${Math.min(index + START_PARALLEL, rest.length) + 1}/${nodes.length} nodes up`);
      }
    } catch (error) {
      await cluster.stopAll();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    }
    return cluster;
  }

  get seed(): ChaosNode {
    return this.nodes[0]!;
  }

  byRole(role: Role): ChaosNode[] {
    return this.nodes.filter((node) => node.role === role);
  }

  byName(name: string): ChaosNode {
    const node = this.nodes.find((node) => node.name === name);
    if (!node) throw new RangeError(`no node ${name}`);
    return node;
  }

  url(node: ChaosNode): string {
    return `http://127.0.0.1:${node.httpPort}`;
  }

  /** Starts the node (again) on its data directory and ports; waits until its network answers. */
  async restart(node: ChaosNode): Promise<void> {
    if (node.running) throw new Error(`${node.name} is running`);
    const taken = [node.httpPort, node.p2pPort].filter((port) => !isFree(port));
    // Someone else's process took it while the node was down: the node could not start there.
    if (taken.length > 0) throw new Error(`${node.name}'s port ${taken.join(", ")} is taken`);
    const seed = this.seed;
    const running = await startNode({
      name: node.name,
      dataDir: node.dataDir,
      role: node.role,
      httpPort: node.httpPort,
      p2pPort: node.p2pPort,
      seeds: node.role === "seed" ? [] : [`127.0.0.1:${seed.p2pPort}`],
      args: [
        "--network-id",
        NETWORK_ID,
        "--vm-domain-prefix",
        node.domainPrefix,
        "--p2p-exchange-interval-ms",
        String(EXCHANGE_INTERVAL_MS),
        "--request-timeout-ms",
        String(NODE_REQUEST_TIMEOUT_MS),
        "--log-level",
        "error",
        ...(node.role === "seed" ? [] : ["--ledger-authority", seed.id]),
        ...this.#roleArgs[node.role],
      ],
    });
    node.logs.push(running.log);
    try {
      await whenUp(running, START_TIMEOUT_MS);
      if (node.id && running.nodeId !== node.id) {
        throw new Error(`${node.name} came back as ${running.nodeId}, not ${node.id}`);
      }
    } catch (error) {
      await stopAll([running]);
      throw error;
    }
    node.id = running.nodeId;
    node.running = running;
  }

  /** SIGKILL to the node process, as a crash would. */
  async kill(node: ChaosNode): Promise<void> {
    if (node.role === "seed") throw new Error("the seed keeps the ledger; it is never killed");
    const running = node.running;
    if (!running) return;
    node.running = undefined;
    running.child.kill("SIGKILL");
    await running.child.status;
  }

  /** Stops every running node (SIGTERM; SIGKILL for one that does not leave in time). */
  async stopAll(): Promise<void> {
    const running = this.nodes.flatMap((node) => node.running ? [node.running] : []);
    for (const node of this.nodes) node.running = undefined;
    await stopAll(running);
  }

  /**
   * Lines the nodes logged at error level (or a crash's last words), across every start. Call it
   * once they all stopped: a log is complete when its process has exited.
   */
  async errorLines(): Promise<{ node: string; line: string }[]> {
    const found: { node: string; line: string }[] = [];
    for (const node of this.nodes) {
      for (const log of node.logs) {
        for (const line of (await log).split("\n")) {
          if (/ ERROR |^error: |Uncaught/.test(line)) found.push({ node: node.name, line });
        }
      }
    }
    return found;
  }
}

/** A base port with `count` free HTTP ports above it and as many p2p ports at +P2P_OFFSET. */
function freePortBase(count: number): number {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = PORT_FLOOR + Math.floor(Math.random() * (PORT_SPAN - P2P_OFFSET - count));
    const ports = Array.from(
      { length: count },
      (_, index) => [base + index, base + P2P_OFFSET + index],
    )
      .flat();
    if (ports.every(isFree)) return base;
  }
  throw new Error(`no run of ${count} free ports from ${PORT_FLOOR}`);
}

function isFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}
