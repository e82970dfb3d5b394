/**
 * Real node processes of a devnet (scripts/devnet.ts's layout), for the
 * integration tests: start one the way operators do (`deno task node`) and
 * wait until it answers, stop it (SIGTERM, or SIGKILL as a crash would), and
 * talk to its native API, wallet-signed or with its operator token.
 */
import assert from "node:assert/strict";
import type { KeyringPair } from "@polkadot/keyring/types";
import { type DevnetNode, nodeArgs } from "../../scripts/devnet.ts";
import { DENO_BIN, GiveUp, REPO_ROOT, waitFor } from "../helpers.ts";
import { walletHeaders } from "../wallets.ts";

/** Answers are read field by field and asserted on; their static shape adds nothing here. */
// deno-lint-ignore no-explicit-any
export type Json = any;

export type Running = DevnetNode & {
  child: Deno.ChildProcess;
  log: Promise<string>;
  nodeId: string;
};

const DOCKER_SOCKET = Deno.env.get("DBC_DOCKER_SOCKET") ?? "/run/dbc-podman/podman.sock";

/** Settings every devnet test node gets (TCG guests, Podman, quiet logs), before a test's own. */
export const TEST_NODE_ENV: Record<string, string> = {
  DBC_LOG_LEVEL: "warn",
  DBC_DOCKER_SOCKET: DOCKER_SOCKET,
  DBC_VM_DOMAIN_TYPE: "qemu",
  DBC_REQUEST_TIMEOUT_MS: "15000",
};

/**
 * Starts `node` and waits (90 s at most) until its API answers with its node id and all its
 * workers run. `args` come after the devnet's own flags, so they win over them (a shorter
 * validation round, say).
 */
export async function startNode(
  node: DevnetNode,
  seedP2pPort: number,
  seedId?: string,
  env: Record<string, string> = {},
  args: readonly string[] = [],
): Promise<Running> {
  const child = new Deno.Command(DENO_BIN, {
    args: ["task", "-q", "node", ...nodeArgs(node, seedP2pPort, seedId), ...args],
    cwd: REPO_ROOT,
    env: { ...TEST_NODE_ENV, ...env },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = new Response(child.stderr).text();
  let exited = false;
  void child.status.then(() => (exited = true));
  const nodeId = await waitFor(`${node.name} to answer`, async () => {
    if (exited) throw new GiveUp(`${node.name} exited: ${await log}`);
    const response = await fetch(`http://127.0.0.1:${node.httpPort}/api/v1/node`);
    const body = await response.json();
    if (!response.ok) return undefined;
    // The API answers as soon as the HTTP worker is up; the node service (operator endpoints,
    // images) and the network may still be starting, and a request to them would get a 503.
    const workers = Object.values(body.data.workers as Record<string, { state: string }>);
    return workers.every((worker) => worker.state === "running")
      ? body.data.node_id as string
      : undefined;
  }, 90_000);
  return { ...node, child, log, nodeId };
}

/** The process ids below `pid` (the node under `deno task`), deepest first. */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/)
      .filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.flatMap((child) => [...descendants(child), child]);
}

/** Stops a node; SIGKILL goes to the node process itself, as a crash or a cut cable would. */
export async function stop(node: Running, signal: Deno.Signal = "SIGTERM"): Promise<void> {
  const targets = signal === "SIGKILL"
    ? [...descendants(node.child.pid), node.child.pid]
    : [node.child.pid];
  for (const pid of targets) {
    try {
      Deno.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
  await node.child.status;
  await node.log;
}

/** A signed (or unsigned) JSON request to a node's API; answers status and envelope. */
export async function api(
  node: DevnetNode,
  method: string,
  path: string,
  options: { signer?: KeyringPair; body?: unknown } = {},
): Promise<
  {
    status: number;
    body: { error_code: number; error_message?: string; data?: Json };
    headers: Headers;
  }
> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.signer) {
    Object.assign(
      headers,
      walletHeaders(options.signer, { method, path, body: options.body, timestamp: Date.now() }),
    );
  }
  const response = await fetch(`http://127.0.0.1:${node.httpPort}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

/** The data of a successful answer; fails the test with the error otherwise. */
export function ok<T = Json>(
  answer: { status: number; body: { error_code: number; error_message?: string; data?: T } },
): T {
  assert.equal(answer.body.error_code, 0, `HTTP ${answer.status}: ${answer.body.error_message}`);
  return answer.body.data as T;
}

/** A request to a node's operator endpoints, with the token from its data directory. */
export async function operator(
  node: DevnetNode,
  method: string,
  path: string,
  body?: unknown,
): Promise<Json> {
  const token = (await Deno.readTextFile(`${node.dataDir}/operator.token`)).trim();
  const response = await fetch(`http://127.0.0.1:${node.httpPort}/api/v1/operator/${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return ok({ status: response.status, body: await response.json() });
}
