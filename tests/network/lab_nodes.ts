/**
 * Node processes in the NAT labs (nat_lab.ts): each started with the `deno task node` command
 * line, outside or inside a network namespace, and its API called from wherever its loopback is
 * (curl inside the namespace). Shared by nat_test.ts and dcutr_test.ts.
 */
import { freePort, REPO_ROOT, waitFor } from "../helpers.ts";
import { testPrefix } from "../node_service/vm/libvirt_fixture.ts";
import { walletHeaders } from "../wallets.ts";
import { nsFetch } from "./nat_lab.ts";
import { type NodeProcess, stopAll } from "./node_processes.ts";

const DOCKER_SOCKET = Deno.env.get("DBC_DOCKER_SOCKET") ?? "/run/dbc-podman/podman.sock";

/** A node process; `ns` names its namespace (undefined: the root one). */
export type LabNode = NodeProcess & { ns?: string };
/** Answers are read field by field and asserted on; their static shape adds nothing here. */
export type Answer = {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: { error_code: number; error_message?: string; data?: any };
};

export type LaunchOptions = {
  name: string;
  /** The scratch directory; the node's data directory is `<dir>/<name>`. */
  dir: string;
  role: "seed" | "gpu" | "client";
  networkId: string;
  /** Where the peer-to-peer listener binds; peers reach the node at `<advertisedHost>:<p2p port>`. */
  p2pHost: string;
  advertisedHost: string;
  ns?: string;
  args?: string[];
  /** DBC_LOG_LEVEL (default info). */
  logLevel?: string;
};

async function taskLine(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}/deno.json`));
  return (config.tasks.node as string).split(/\s+/).slice(1);
}

/** Starts a node process (it has answered nothing yet: see {@link labNodeId}). */
export async function launchLabNode(options: LaunchOptions): Promise<LabNode> {
  const httpPort = freePort();
  const p2pPort = freePort();
  const nodeArgs = [
    ...await taskLine(),
    "--data-dir",
    `${options.dir}/${options.name}`,
    "--role",
    options.role,
    "--network-id",
    options.networkId,
    "--http-port",
    String(httpPort),
    "--p2p-host",
    options.p2pHost,
    "--p2p-port",
    String(p2pPort),
    "--p2p-exchange-interval-ms",
    "2000",
    "--vm-domain-prefix",
    testPrefix(),
    "--docker-socket",
    DOCKER_SOCKET,
    ...options.args ?? [],
  ];
  const [command, ...prefix] = options.ns ? ["ip", "netns", "exec", options.ns, "bash"] : ["bash"];
  const child = new Deno.Command(command!, {
    args: [...prefix, ...nodeArgs],
    cwd: REPO_ROOT,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      DBC_LEDGER_OPEN_VALIDATION: "true",
      DBC_LOG_LEVEL: options.logLevel ?? "info",
    },
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const node: LabNode = {
    name: options.name,
    child,
    httpPort,
    p2pPort,
    address: `${options.advertisedHost}:${p2pPort}`,
    nodeId: "",
    log: new Response(child.stderr).text(),
    exited: false,
    ns: options.ns,
  };
  void child.status.then(() => (node.exited = true));
  return node;
}

/** A request to a node's API, from wherever its loopback is; wallet-signed when `signer`. */
export async function labCall(
  node: LabNode,
  method: string,
  path: string,
  options: { signer?: Parameters<typeof walletHeaders>[0]; body?: unknown; token?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.signer) {
    Object.assign(
      headers,
      walletHeaders(options.signer, { method, path, body: options.body, timestamp: Date.now() }),
    );
  }
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const url = `http://127.0.0.1:${node.httpPort}${path}`;
  if (node.ns) return await nsFetch(node.ns, url, { method, headers, body });
  const response = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(60_000) });
  return { status: response.status, body: await response.json() };
}

/** Waits until the node answers, and fills in its node id. */
export async function labNodeId(node: LabNode): Promise<void> {
  node.nodeId = await waitFor(`${node.name} to answer`, async () => {
    if (node.exited) throw new Error(`${node.name} exited: ${await node.log}`);
    const answer = await labCall(node, "GET", "/api/v1/node");
    return answer.body.error_code === 0 ? answer.body.data.node_id as string : undefined;
  }, 90_000);
}

/** Stops every node and prints the end of each one's log: what a failed lab test shows. */
export async function stopAndShowLogs(nodes: LabNode[], lines = 40): Promise<void> {
  await stopAll(nodes);
  for (const node of nodes) {
    console.error(`--- ${node.name}\n${(await node.log).split("\n").slice(-lines).join("\n")}`);
  }
}
