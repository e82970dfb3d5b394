/**
 * Real node processes for the peer-to-peer tests, started with exactly the
 * command line of `deno task node` (`bash scripts/node.sh`, which execs the
 * node) but without the task runner in between, so a signal (SIGKILL
 * included) reaches the node itself.
 */
import { freePort, GiveUp, REPO_ROOT, waitFor } from "../helpers.ts";
import { testPrefix } from "../node_service/vm/libvirt_fixture.ts";

export type NodeProcess = {
  name: string;
  child: Deno.ChildProcess;
  httpPort: number;
  p2pPort: number;
  /** `127.0.0.1:<p2p port>`, what other nodes use as a seed address. */
  address: string;
  nodeId: string;
  /** The process's log (stderr), once it has exited. */
  log: Promise<string>;
  exited: boolean;
};

/** The `deno task node` command line, as argv for bash (run in the project directory). */
async function nodeCommand(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}/deno.json`));
  const words = (config.tasks.node as string).split(/\s+/);
  if (words[0] !== "bash") throw new Error(`unexpected task line: ${config.tasks.node}`);
  return words.slice(1);
}

export type StartOptions = {
  name: string;
  dataDir: string;
  role?: "gpu" | "seed" | "client";
  seeds?: string[];
  args?: string[];
  /** Fixed ports, e.g. to start a node again where it was; free ones when absent. */
  httpPort?: number;
  p2pPort?: number;
  /** The node's PATH (a stand-in program first); this process's when absent. */
  path?: string;
};

export async function startNode(options: StartOptions): Promise<NodeProcess> {
  const httpPort = options.httpPort ?? freePort();
  const p2pPort = options.p2pPort ?? freePort();
  const child = new Deno.Command("bash", {
    args: [
      ...await nodeCommand(),
      "--data-dir",
      options.dataDir,
      "--role",
      options.role ?? "gpu",
      "--http-port",
      String(httpPort),
      "--p2p-host",
      "127.0.0.1",
      "--p2p-port",
      String(p2pPort),
      "--vm-domain-prefix",
      testPrefix(),
      ...(options.seeds?.length ? ["--seeds", options.seeds.join(",")] : []),
      ...(options.args ?? []),
    ],
    cwd: REPO_ROOT,
    env: { PATH: options.path ?? Deno.env.get("PATH") ?? "", DBC_LEDGER_OPEN_VALIDATION: "true" },
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = new Response(child.stderr).text();
  const node: NodeProcess = {
    name: options.name,
    child,
    httpPort,
    p2pPort,
    address: `127.0.0.1:${p2pPort}`,
    nodeId: "",
    log,
    exited: false,
  };
  void child.status.then(() => (node.exited = true));
  return node;
}

/** What the nodes of one test network share on their command lines. */
export type NetworkOptions = {
  networkId: string;
  targetOutbound?: number;
  maxInbound?: number;
  exchangeIntervalMs?: number;
  pingIntervalMs?: number;
  pingMisses?: number;
};

/** The command-line flags of `options` (absent ones keep the node's defaults); logs at `warn`. */
export function networkArgs(options: NetworkOptions): string[] {
  const flags: Array<[string, string | number | undefined]> = [
    ["--network-id", options.networkId],
    ["--p2p-target-outbound", options.targetOutbound],
    ["--p2p-max-inbound", options.maxInbound],
    ["--p2p-exchange-interval-ms", options.exchangeIntervalMs],
    ["--p2p-ping-interval-ms", options.pingIntervalMs],
    ["--p2p-ping-misses", options.pingMisses],
    ["--log-level", "warn"],
  ];
  return flags.flatMap(([flag, value]) => value === undefined ? [] : [flag, String(value)]);
}

/**
 * The node processes of one test: each with its data directory under `dir` and the network's
 * `args` (see {@link networkArgs}) before its own; {@link stop} ends them all.
 */
export class TestNetwork {
  /** Every node started, in order; a test may add nodes it started itself. */
  readonly nodes: NodeProcess[] = [];

  constructor(readonly dir: string, readonly args: readonly string[]) {}

  /** Starts the seed and waits until it is up: the others join through it. */
  async startSeed(extraArgs: string[] = []): Promise<NodeProcess> {
    const seed = await this.#start({ name: "seed", role: "seed" }, extraArgs);
    await whenUp(seed);
    return seed;
  }

  /** Starts a node that joins through `seed`; {@link whenUp} waits for it. */
  join(
    name: string,
    role: "gpu" | "client",
    seed: NodeProcess,
    extraArgs: string[] = [],
  ): Promise<NodeProcess> {
    return this.#start({ name, role, seeds: [seed.address] }, extraArgs);
  }

  /** Stops every node (see {@link stopAll}). */
  stop(): Promise<void> {
    return stopAll(this.nodes);
  }

  async #start(
    options: Pick<StartOptions, "name" | "role" | "seeds">,
    extraArgs: string[],
  ): Promise<NodeProcess> {
    const node = await startNode({
      ...options,
      dataDir: `${this.dir}/${options.name}`,
      args: [...this.args, ...extraArgs],
    });
    this.nodes.push(node);
    return node;
  }
}

/** Waits until the node's network worker answers, and learns its id. */
export async function whenUp(node: NodeProcess, timeoutMs = 90_000): Promise<void> {
  try {
    const status = await waitFor(`${node.name} network worker`, async () => {
      if (node.exited) throw new GiveUp(`${node.name} exited: ${await node.log}`);
      return await api<{ node_id?: string }>(node, "/api/v1/peers/status");
    }, timeoutMs);
    node.nodeId = status.node_id!;
  } catch (error) {
    if (error instanceof GiveUp) throw error;
    // The log only comes whole once the process ends; without it a timeout says nothing of why.
    await stopAll([node]);
    const log = await node.log;
    throw new Error(
      `${error instanceof Error ? error.message : error}; its log ends:\n${log.slice(-4000)}`,
    );
  }
}

/** GET an API path; the `data` of a success, `undefined` for an error answer or no answer. */
export async function api<T>(node: NodeProcess, path: string): Promise<T | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${node.httpPort}${path}`, {
      signal: AbortSignal.timeout(30_000),
    });
    const body = await response.json();
    return body.error_code === 0 ? body.data as T : undefined;
  } catch {
    return undefined;
  }
}

/** GET that must succeed. */
export async function mustGet<T>(node: NodeProcess, path: string): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${node.httpPort}${path}`, {
    signal: AbortSignal.timeout(30_000),
  });
  const body = await response.json();
  if (body.error_code !== 0) throw new Error(`${node.name} ${path}: ${JSON.stringify(body)}`);
  return body.data as T;
}

/** Stops every node still running (SIGTERM, then SIGKILL after a grace period). */
export async function stopAll(nodes: NodeProcess[]): Promise<void> {
  await Promise.all(nodes.map(async (node) => {
    if (!node.exited) {
      try {
        node.child.kill("SIGTERM");
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          node.child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 15_000);
      await node.child.status;
      clearTimeout(timer);
    }
    await node.log;
  }));
}

/** Resident memory of a process in KiB (Linux /proc). */
export async function residentKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}
