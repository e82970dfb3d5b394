/**
 * A GPU node process for the chain tests: `deno task node` (its workers with
 * their own narrow permissions) with `verification_service=substrate` against
 * a chain under chopsticks, answering to the chain's machine id, the recorded
 * nvidia-smi of two H100s on its PATH, Podman for containers, TCG guests and
 * a test domain prefix for VMs. Requests to its API, wallet-signed or with
 * its operator token; stop.
 *
 * @example
 * ```ts
 * const node = await startChainNode({ chainUrl: chain.url, machineId, dir });
 * try {
 *   const answer = await node.signed(alice, "GET", `/api/v1/tasks?node_id=${node.nodeId}`);
 * } finally {
 *   await node.stop();
 * }
 * ```
 */
import type { KeyringPair } from "@polkadot/keyring/types";
import { DENO_BIN, freePort, GiveUp, REPO_ROOT, waitFor, writeScript } from "../helpers.ts";
import { testPrefix } from "../node_service/vm/libvirt_fixture.ts";
import { walletHeaders } from "../wallets.ts";

const RECORDED_GPUS = `${REPO_ROOT}/tests/fixtures/nvidia-smi/two_h100.csv`;
const DOCKER_SOCKET = Deno.env.get("DBC_DOCKER_SOCKET") ?? "/run/dbc-podman/podman.sock";
/** A node process compiles its workers at start; more on a busy machine. */
const START_TIMEOUT_MS = 90_000;

/** Answers are read field by field and asserted on; their static shape adds nothing here. */
// deno-lint-ignore no-explicit-any
export type Json = any;

export type Answer = { status: number; body: Json };

export type ChainNode = {
  /** `http://127.0.0.1:<port>` */
  base: string;
  nodeId: string;
  /** The id the node answers to: the chain's. */
  machineId: string;
  dataDir: string;
  /** Every libvirt domain of this node starts with it (a test prefix, see libvirt_fixture.ts). */
  domainPrefix: string;
  /** A request signed by `who`'s wallet. */
  signed(who: KeyringPair, method: string, path: string, body?: unknown): Promise<Answer>;
  /** A request to `/api/v1/operator/<path>` with the token from the node's data directory. */
  operator(method: string, path: string, body?: unknown): Promise<Answer>;
  /** SIGTERM, and waits for the process to end; its log (stderr). */
  stop(): Promise<string>;
};

export type ChainNodeOptions = {
  chainUrl: string;
  /** The chain's machine id (64 hex). */
  machineId: string;
  /** Scratch directory: the node's data and the recorded nvidia-smi go below it. */
  dir: string;
};

/** Starts the node and resolves once its API answers with all its workers running. */
export async function startChainNode(options: ChainNodeOptions): Promise<ChainNode> {
  const bin = `${options.dir}/bin`;
  await Deno.mkdir(bin, { recursive: true });
  await writeScript(
    `${bin}/nvidia-smi`,
    `case "$*" in *--query-gpu=index,uuid,name,pci.bus_id,*--format=csv,noheader,nounits*) cat '${RECORDED_GPUS}';; *) echo "unexpected arguments: $*" >&2; exit 2;; esac`,
  );
  const dataDir = `${options.dir}/data`;
  const domainPrefix = testPrefix();
  const httpPort = freePort();
  const child = new Deno.Command(DENO_BIN, {
    args: [
      "task",
      "-q",
      "node",
      "--data-dir",
      dataDir,
      "--http-port",
      String(httpPort),
      "--p2p-host",
      "127.0.0.1",
      "--p2p-port",
      String(freePort()),
      "--vm-domain-prefix",
      domainPrefix,
      "--verification-service",
      "substrate",
      "--substrate-rpc-url",
      options.chainUrl,
      "--substrate-machine-id",
      options.machineId,
      // The lease loop asks the chain every second here (a minute by default).
      "--lease-check-interval-s",
      "1",
    ],
    cwd: REPO_ROOT,
    env: {
      PATH: `${bin}:${Deno.env.get("PATH")}`,
      DBC_LOG_LEVEL: "warn",
      DBC_DOCKER_SOCKET: DOCKER_SOCKET,
      // No /dev/kvm here: guests are emulated.
      DBC_VM_DOMAIN_TYPE: "qemu",
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = new Response(child.stderr).text();
  let exited = false;
  void child.status.then(() => (exited = true));
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    return await log;
  };
  const base = `http://127.0.0.1:${httpPort}`;
  let nodeId: string;
  try {
    nodeId = await waitFor("the GPU node to answer", async () => {
      if (exited) throw new GiveUp(`the node exited: ${await log}`);
      const response = await fetch(`${base}/api/v1/node`);
      const body = await response.json();
      if (!response.ok) return undefined;
      // The API answers once the HTTP worker is up; the node service may still be starting.
      const workers = Object.values(body.data.workers as Record<string, { state: string }>);
      if (!workers.every((worker) => worker.state === "running")) return undefined;
      if (body.data.machine_id !== options.machineId) {
        throw new GiveUp(`the node answers to ${body.data.machine_id}, not ${options.machineId}`);
      }
      return body.data.node_id as string;
    }, START_TIMEOUT_MS);
  } catch (error) {
    await stop();
    throw error;
  }

  const request = async (
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: unknown,
  ) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  };
  return {
    base,
    nodeId,
    machineId: options.machineId,
    dataDir,
    domainPrefix,
    signed: (who, method, path, body) =>
      request(
        method,
        path,
        walletHeaders(who, { method, path, body, timestamp: Date.now() }),
        body,
      ),
    async operator(method, path, body) {
      const token = (await Deno.readTextFile(`${dataDir}/operator.token`)).trim();
      return request(
        method,
        `/api/v1/operator/${path}`,
        { authorization: `Bearer ${token}` },
        body,
      );
    },
    stop,
  };
}
