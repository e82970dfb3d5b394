/**
 * Requests a second and latency of a wallet-signed renter query routed through a
 * client-end to a GPU node that is not its neighbour (each is linked to the seed
 * alone), on loopback, with real node processes started as `deno task node`
 * starts them. The client-end finds the GPU node and keeps a request link to it
 * (network/routing/), so the requests go client-end -> GPU node on that link.
 *
 * Sets up a seed (with the embedded ledger), one GPU node and one client-end
 * in a scratch directory; registers the GPU node's machine, has three
 * validator wallets verify it and a renter wallet (//Alice) rent it, all
 * through the client-end. Then, for each concurrency level, it sends
 * `GET /api/v1/containers?node_id=<GPU node>` signed by the renter with the
 * typed API client (a fresh nonce and signature each time), `--requests`
 * requests a run, `--runs` runs after a warm-up, and checks every answer: HTTP
 * 200, the envelope's container list, served by the GPU node. Latency is what
 * the renter's client sees, its own signing included. Each run of the
 * routed path is paired with one of the same query sent straight to the GPU
 * node's own API (zero hops), for the ratio. Apart from that it times, in this
 * process, signing one request (the client's share) and the signature check
 * the GPU node makes of it (its share), so the reader can see where the time
 * goes, and the network's share alone (pings); and the CPU time every process
 * and thread (each node's main thread and workers, this process) spent per
 * request on each path, read from /proc (`proc_cpu.ts`), which holds however
 * busy the machine is; and, from the `Server-Timing` header of every routed
 * answer, the median time of each span the client-end reports (`client-end`,
 * `network`, `node`: http/remote.ts), as `routed_split_ms`. Per-run figures and
 * medians are printed, then a JSON line of everything, and last the summary line
 * `{"routed": {"1": {p50_ms, p99_ms, rps}, "16": ...}, "direct": {...}}`. The nodes' data lives in
 * `.test-tmp/bench-api-*`, removed at the end; the nodes are stopped on any
 * exit, Ctrl-C included.
 *
 *   deno run -A scripts/bench_api.ts [--runs 5] [--requests 300] [--concurrency 1,16]
 *                                    [--warmup 50]
 *
 * That they are not neighbours is guaranteed by the topology, not hoped for:
 * the client-end and the GPU node accept no inbound peer link
 * (`--p2p-max-inbound 0`) and keep one outbound link, to the seed, the only
 * address they are given; so neither can become the other's neighbour even
 * once the seed's peer exchange tells them of it. The script checks it before
 * and after measuring (each one's active peers are the seed alone) and during
 * (every answer names the GPU node as its server, which answered each as a call on
 * a link, and no node can pass a call on; the client-end opened one request
 * link), and stops if it does not hold.
 *
 * The per-client HTTP limit (50 a second by default; a GPU node counts all
 * requests tunnelled from one client-end as one client) and the per-peer
 * message budget (200 a second) are raised on every node: with them the
 * figure would be the limits, not the path.
 */
import { parseArgs } from "node:util";
import { addCpu, cpuByThread, cpuSpent } from "./proc_cpu.ts";
import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { z } from "zod";
import {
  ApiClient,
  type ApiClientOptions,
  newNonce,
  parseServerTiming,
  signatureHeaders,
  type Signer,
  walletSigner,
} from "../http/mod.ts";
import {
  authFieldsFromHeaders,
  ContainerSchema,
  type Machine,
  type MachineConfig,
  newReplayGuards,
  verifyRequestAuth,
} from "../mod/mod.ts";
import { freePort, GiveUp, REPO_ROOT, scratchDir, waitFor } from "../tests/helpers.ts";
import { type DevnetNode, nodeArgs } from "./devnet.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "5" },
    requests: { type: "string", default: "300" },
    concurrency: { type: "string", default: "1,16" },
    warmup: { type: "string", default: "50" },
  },
});
const RUNS = positiveInteger("--runs", values.runs);
const REQUESTS = positiveInteger("--requests", values.requests);
const WARMUP = positiveInteger("--warmup", values.warmup);
const LEVELS = values.concurrency.split(",").map((text) => positiveInteger("--concurrency", text));
/** Signatures timed per run of the signing and checking figures. */
const SIGNATURES_PER_RUN = 300;
/** Pings timed to each of the seed and the GPU node. */
const PINGS = 50;
/** The shortest verification round the ledger allows (9 slots of 10 s), so setup takes seconds. */
const VERIFICATION_WINDOW_S = 90;
const NODE_START_TIMEOUT_MS = 90_000;
const LINK_TIMEOUT_MS = 60_000;
/** How long a node has to exit after SIGTERM before it is killed. */
const STOP_GRACE_MS = 10_000;
const SIGNED_WINDOW_MS = 300_000;
const DOCKER_SOCKET = Deno.env.get("DBC_DOCKER_SOCKET") ?? "/run/dbc-podman/podman.sock";
const MACHINE_CONFIG: MachineConfig = {
  gpu_model: "none",
  gpu_count: 0,
  cpu_model: "qemu",
  cpu_cores: 2,
  memory_gib: 4,
  disk_gib: 20,
};
const ContainerListSchema = z.object({ containers: z.array(ContainerSchema) });

function positiveInteger(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`${flag} must be a positive integer, got ${text}`);
    Deno.exit(2);
  }
  return value;
}

const progress = (what: string) => console.error(`[bench_api] ${what}`);

// --- Node processes ------------------------------------------------------------------------------

type Running = DevnetNode & { child: Deno.ChildProcess; log: Promise<string>; nodeId: string };

const running: Running[] = [];
let scratch: string | undefined;
let stopping: Promise<void> | undefined;

/** Stops every node this script started and removes the scratch directory; once. */
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    await Promise.all(running.map(async (node) => {
      try {
        node.child.kill("SIGTERM");
      } catch {
        return; // Already gone.
      }
      const timer = setTimeout(() => {
        try {
          node.child.kill("SIGKILL");
        } catch {
          // Exited meanwhile.
        }
      }, STOP_GRACE_MS);
      await node.child.status;
      clearTimeout(timer);
    }));
    if (scratch) await Deno.remove(scratch, { recursive: true }).catch(() => {});
  })();
  return stopping;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void stopAll().then(() => Deno.exit(130)));
}

/**
 * The `deno task node` command line (`bash scripts/node.sh`, which execs the node), as argv for
 * bash in the project directory, so the nodes run with exactly the operators' permissions.
 */
async function nodeCommand(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}/deno.json`));
  return (config.tasks.node as string).split(/\s+/).slice(1);
}

async function startNode(
  node: DevnetNode,
  seedP2pPort: number,
  extraArgs: string[],
): Promise<Running> {
  const child = new Deno.Command("bash", {
    args: [...await nodeCommand(), ...nodeArgs(node, seedP2pPort), ...extraArgs],
    cwd: REPO_ROOT,
    env: {
      DBC_LOG_LEVEL: "error",
      DBC_DOCKER_SOCKET: DOCKER_SOCKET,
      DBC_VM_DOMAIN_TYPE: "qemu",
      DBC_LEDGER_VERIFICATION_WINDOW_S: String(VERIFICATION_WINDOW_S),
      DBC_HTTP_RATE_LIMIT_PER_S: "100000",
      DBC_HTTP_RATE_BURST: "100000",
      DBC_P2P_RATE_LIMIT_PER_S: "100000",
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Read as it comes so a chatty node never blocks on a full pipe; shown if something fails.
  const log = new Response(child.stderr).text();
  const entry: Running = { ...node, child, log, nodeId: "" };
  running.push(entry);
  let exited = false;
  void child.status.then(() => (exited = true));
  entry.nodeId = await waitFor(`${node.name} to answer`, async () => {
    if (exited) throw new GiveUp(`${node.name} exited:\n${await log}`);
    return (await api(node).node()).node_id;
  }, NODE_START_TIMEOUT_MS);
  return entry;
}

function api(node: DevnetNode, options: Omit<ApiClientOptions, "baseUrl"> = {}): ApiClient {
  return new ApiClient({ baseUrl: `http://127.0.0.1:${node.httpPort}`, ...options });
}

// --- Topology ------------------------------------------------------------------------------------

type Topology = { seed: Running; gpu: Running; client: Running };

async function activePeerIds(node: Running): Promise<string[]> {
  return (await api(node).peers()).peers.map((peer) => peer.id);
}

/** Throws unless the client-end and the GPU node are each linked to the seed alone. */
async function assertNotNeighbours(
  { seed, gpu, client }: Topology,
): Promise<Awaited<ReturnType<ApiClient["ping"]>>> {
  for (const [node, other] of [[client, gpu], [gpu, client]] as const) {
    const peers = await activePeerIds(node);
    if (peers.includes(other.nodeId)) {
      throw new Error(`${node.name} is linked directly to ${other.name}: not two hops`);
    }
    if (peers.length !== 1 || peers[0] !== seed.nodeId) {
      throw new Error(`${node.name}'s links are [${peers.join(", ")}], not the seed alone`);
    }
  }
  const ping = await api(client).ping(gpu.nodeId);
  if (ping.hops !== 1 || ping.route !== "direct") {
    throw new Error(
      `a ping from the client-end to the GPU node went ${ping.hops} hops, ${ping.route}`,
    );
  }
  return ping;
}

/**
 * What shows where requests went: the GPU node answers them as calls, and the client-end keeps
 * one link. No node can pass a request on: a call is answered where it arrives
 * (network/routing/), so the seed carries none (its own answered calls are the GPU node's lease
 * checks, which ask the seed's ledger).
 */
async function routingCounters({ gpu, client }: Topology) {
  const [gpuCounters, clientCounters] = await Promise.all(
    [gpu, client].map(async (node) => (await api(node).networkStatus()).counters ?? {}),
  );
  return {
    gpuAnswered: gpuCounters!.calls_answered ?? 0,
    requestLinks: clientCounters!.request_links_opened ?? 0,
  };
}

// --- Setup: register, verify and rent the machine ------------------------------------------------

type Wallets = Record<"alice" | "charlie" | "dave" | "eve" | "ferdie", KeyringPair>;

async function devWallets(): Promise<Wallets> {
  await cryptoWaitReady();
  const keyring = new Keyring({ type: "sr25519", ss58Format: 42 });
  const pair = (name: string) => keyring.addFromUri(`//${name}`);
  return {
    alice: pair("Alice"),
    charlie: pair("Charlie"),
    dave: pair("Dave"),
    eve: pair("Eve"),
    ferdie: pair("Ferdie"),
  };
}

/**
 * Alice (the GPU node's owner_wallet) registers its machine with the node's own proof, three
 * validators verify it, Ferdie (the ledger admin) funds Dave, Dave rents it.
 */
async function rentMachine({ gpu, client }: Topology, wallets: Wallets): Promise<void> {
  const as = (signer: KeyringPair) => api(client, { signer });
  const machineId = gpu.nodeId;
  const token = (await Deno.readTextFile(`${gpu.dataDir}/operator.token`)).trim();
  const { registration } = await api(gpu).operatorRegistration(token, {
    prices: { hour: "10" },
    config: MACHINE_CONFIG,
  });
  await as(wallets.alice).registerMachine(registration);
  progress("machine registered; validators grab it");
  const validators = [wallets.charlie, wallets.eve, wallets.ferdie];
  let machine: Machine | undefined;
  for (const validator of validators) {
    machine = await as(validator).request<Machine>(
      "POST",
      `/api/v1/ledger/machines/${machineId}/grab`,
      { body: {} },
    );
  }
  // Each validator may report only inside its own slot of the round.
  for (const validator of validators) {
    const order = machine!.validation.validators.find((item) =>
      item.validator === validator.address
    );
    const slot = order?.slots.find((candidate) => candidate.ends_at > Date.now() + 300);
    if (!slot) throw new Error(`no slot left for validator ${validator.address}`);
    const wait = slot.starts_at - Date.now() + 100;
    if (wait > 0) {
      progress(`waiting ${Math.ceil(wait / 1000)} s for a validator's slot`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    await as(validator).request("POST", `/api/v1/ledger/machines/${machineId}/report`, {
      body: { report: { kind: "observed", observed: MACHINE_CONFIG } },
    });
  }
  const status = (await as(wallets.dave).ledgerMachine(machineId)).status;
  if (status !== "online") throw new Error(`the machine is ${status} after verification`);
  await as(wallets.ferdie).fund(wallets.dave.address, "1000");
  const rental = await as(wallets.dave).rent({ machine_id: machineId, unit: "hour", count: 1 });
  if (rental.renter !== wallets.dave.address) throw new Error("the rental names another renter");
}

// --- Measurement ---------------------------------------------------------------------------------

type RunFigures = {
  requestsPerS: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  errors: number;
};
type PathName = "routed" | "direct";

/** The `Server-Timing` spans of the routed answers of the run being measured, when one is. */
let routedSpans: Array<Record<string, number>> | undefined;

/**
 * A fetch that accepts only HTTP 200 from the expected server: a forwarded answer names the node
 * that served it, a local one names none. A forwarded answer's spans go to `routedSpans`.
 */
function checkedFetch(servedBy: string | null): typeof fetch {
  return async (input: RequestInfo | URL, init?: RequestInit) => {
    const response = await fetch(input, init);
    if (response.status !== 200) return response; // The client turns it into its error.
    const server = response.headers.get("x-dbc-served-by");
    if (server !== servedBy) {
      await response.body?.cancel();
      throw new Error(`served by ${server ?? "the node asked"}, expected ${servedBy ?? "it"}`);
    }
    const timing = response.headers.get("server-timing");
    if (servedBy !== null && timing) routedSpans?.push(parseServerTiming(timing));
    return response;
  };
}

/** The median of each span over `spans` (a span missing from an answer is left out of its median). */
function spanMedians(spans: Array<Record<string, number>>): Record<string, number> {
  const names = [...new Set(spans.flatMap((entry) => Object.keys(entry)))];
  return Object.fromEntries(names.map((name) => {
    const values = spans.flatMap((entry) => entry[name] ?? []).sort((a, b) => a - b);
    return [name, Number(percentile(values, 0.5).toFixed(3))];
  }));
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

/** CPU µs per request by `<process> <thread>`, the threads that spent under 1 µs left out. */
function cpuPerRequest(spent: Map<string, number>, requests: number): Record<string, number> {
  const entries = [...spent].map(([key, ns]) => [key, ns / 1000 / requests] as const)
    .filter(([, us]) => us >= 1)
    .sort(([a], [b]) => a.localeCompare(b));
  return Object.fromEntries(entries.map(([key, us]) => [key, Math.round(us)]));
}

/** Lines of a table: CPU µs per request, each process's threads and its total, routed and direct. */
function cpuTable(perRequest: Record<PathName, Record<string, number>>): string[] {
  const keys = [...new Set([...Object.keys(perRequest.routed), ...Object.keys(perRequest.direct)])]
    .sort();
  const total = (path: PathName, prefix = "") =>
    Object.entries(perRequest[path]).filter(([key]) => key.startsWith(prefix))
      .reduce((sum, [, us]) => sum + us, 0);
  const lines = [
    `  CPU µs per request (all cores)   ${"routed".padStart(8)} ${"direct".padStart(8)}`,
  ];
  for (const process of new Set(keys.map((key) => key.split(" ")[0]!))) {
    for (const key of keys.filter((key) => key.startsWith(`${process} `))) {
      lines.push(
        `    ${key.padEnd(28)} ${String(perRequest.routed[key] ?? 0).padStart(8)} ${
          String(perRequest.direct[key] ?? 0).padStart(8)
        }`,
      );
    }
  }
  lines.push(
    `    ${"all processes".padEnd(28)} ${String(total("routed")).padStart(8)} ${
      String(total("direct")).padStart(8)
    }`,
  );
  return lines;
}

function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** `total` signed list queries, `concurrency` in flight; latency of each success. */
async function measure(
  client: ApiClient,
  gpuNodeId: string,
  total: number,
  concurrency: number,
  /** Why requests failed, and how often; added to. */
  failures: Map<string, number>,
): Promise<RunFigures> {
  const latencies: number[] = [];
  let errors = 0;
  let issued = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, async () => {
    while (issued < total) {
      issued++;
      const sentAt = performance.now();
      try {
        ContainerListSchema.parse(await client.listContainers(gpuNodeId));
        latencies.push(performance.now() - sentAt);
      } catch (error) {
        errors++;
        const message = error instanceof Error ? error.message : String(error);
        failures.set(message, (failures.get(message) ?? 0) + 1);
      }
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requestsPerS: latencies.length / seconds,
    p50Ms: percentile(latencies, 0.5),
    p90Ms: percentile(latencies, 0.9),
    p99Ms: percentile(latencies, 0.99),
    errors,
  };
}

type SignatureCosts = { signUs: number; checkUs: number; rawCheckUs: number };

/**
 * Microseconds to sign one request as the API client does (the client's share) and to check it as
 * the GPU node does (its share). The client signs as `walletSigner` does (the `<Bytes>` wrapping
 * browser extensions apply, scheme named); a bare signature of the raw message is timed too, since
 * a node not told the scheme tries ed25519, then sr25519 wrapped, then sr25519 raw.
 */
async function signatureCosts(renter: KeyringPair, gpuNodeId: string): Promise<SignatureCosts> {
  const request = {
    method: "GET",
    pathAndQuery: `/api/v1/containers?node_id=${encodeURIComponent(gpuNodeId)}`,
    body: undefined,
  };
  const client = walletSigner(renter);
  const guards = newReplayGuards(SIGNED_WINDOW_MS);
  const signAll = async (signer: Signer) => {
    const signed: Record<string, string>[] = [];
    for (let index = 0; index < SIGNATURES_PER_RUN; index++) {
      const options = { timestampMs: Date.now(), nonce: newNonce() };
      signed.push(await signatureHeaders(signer, request, options));
    }
    return signed;
  };
  const checkAll = async (signed: Record<string, string>[]) => {
    for (const headers of signed) {
      const outcome = await verifyRequestAuth({
        request,
        fields: authFieldsFromHeaders(new Headers(headers)),
        now: Date.now(),
        guards,
        config: { timestampWindowMs: SIGNED_WINDOW_MS, allowLegacyNonce: false },
      });
      if (!outcome.ok) throw new Error(`a signature did not check: ${outcome.message}`);
    }
  };
  const microsecondsEach = async (work: () => Promise<unknown>) => {
    const startedAt = performance.now();
    await work();
    return ((performance.now() - startedAt) * 1000) / SIGNATURES_PER_RUN;
  };
  const sign: number[] = [];
  const check: number[] = [];
  const rawCheck: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    let signed: Record<string, string>[] = [];
    sign.push(await microsecondsEach(async () => (signed = await signAll(client))));
    check.push(await microsecondsEach(() => checkAll(signed)));
    // A bare signature of the raw message: the node tries each scheme and form in turn.
    const raw = await signAll(renter);
    rawCheck.push(await microsecondsEach(() => checkAll(raw)));
  }
  return { signUs: median(sign), checkUs: median(check), rawCheckUs: median(rawCheck) };
}

/**
 * The network's share alone: pings from the client-end, timed by its network worker (no HTTP, no
 * wallet signature), to the seed (its neighbour) and to the GPU node (on the request link).
 */
async function pingRoundTrips(
  { seed, gpu, client }: Topology,
): Promise<{ seedMs: number; gpuMs: number }> {
  const rtts = async (target: Running, hops: number) => {
    const times: number[] = [];
    for (let index = 0; index < PINGS; index++) {
      // Timed here: the node's own figure is in whole milliseconds (its clock's).
      const started = performance.now();
      const ping = await api(client).ping(target.nodeId);
      times.push(performance.now() - started);
      if (ping.hops !== hops) throw new Error(`a ping to ${target.name} went ${ping.hops} hops`);
    }
    return median(times);
  };
  return { seedMs: await rtts(seed, 1), gpuMs: await rtts(gpu, 1) };
}

// --- Report --------------------------------------------------------------------------------------

const fixed = (value: number, digits: number) =>
  Number.isFinite(value) ? value.toFixed(digits) : "-";

function row(label: string, figures: RunFigures): string {
  return `  ${label.padEnd(16)} ${fixed(figures.requestsPerS, 0).padStart(8)} ${
    fixed(figures.p50Ms, 2).padStart(8)
  } ${fixed(figures.p90Ms, 2).padStart(8)} ${fixed(figures.p99Ms, 2).padStart(8)} ${
    String(figures.errors).padStart(7)
  }`;
}

function medianFigures(runs: RunFigures[]): RunFigures {
  return {
    requestsPerS: median(runs.map((run) => run.requestsPerS)),
    p50Ms: median(runs.map((run) => run.p50Ms)),
    p90Ms: median(runs.map((run) => run.p90Ms)),
    p99Ms: median(runs.map((run) => run.p99Ms)),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
  };
}

const rounded = (figures: RunFigures) => ({
  requests_per_s: Math.round(figures.requestsPerS),
  p50_ms: Number(figures.p50Ms.toFixed(3)),
  p90_ms: Number(figures.p90Ms.toFixed(3)),
  p99_ms: Number(figures.p99Ms.toFixed(3)),
  errors: figures.errors,
});

// --- Main ----------------------------------------------------------------------------------------

async function main(): Promise<number> {
  scratch = await scratchDir("bench-api");
  const node = (name: string, role: DevnetNode["role"]): DevnetNode => ({
    name,
    role,
    httpPort: freePort(),
    p2pPort: freePort(),
    dataDir: `${scratch}/${name}`,
    domainPrefix: `dbcbench-${name}-`,
  });
  // The leaves refuse every inbound link and keep one outbound: the seed, the only one they know.
  const leaf = ["--p2p-max-inbound", "0", "--p2p-target-outbound", "1"];
  const seedNode = node("seed", "seed");
  progress(`starting a seed, a GPU node and a client-end in ${scratch}`);
  const seed = await startNode(seedNode, seedNode.p2pPort, []);
  // The seed is the ledger authority of the other two.
  const authority = ["--ledger-authority", seed.nodeId];
  const [gpu, client] = await Promise.all([
    startNode(node("gpu", "gpu"), seedNode.p2pPort, [...leaf, ...authority]),
    startNode(node("client", "client"), seedNode.p2pPort, [...leaf, ...authority]),
  ]);
  const topology: Topology = { seed, gpu, client };
  await waitFor("the client-end and the GPU node linked to the seed", async () => {
    const [fromClient, fromGpu] = await Promise.all([activePeerIds(client), activePeerIds(gpu)]);
    return fromClient.includes(seed.nodeId) && fromGpu.includes(seed.nodeId) ? true : undefined;
  }, LINK_TIMEOUT_MS);
  const ping = await assertNotNeighbours(topology);
  progress(
    `not neighbours; routed on a request link: client-end -> GPU node (ping ${
      ping.rtt_ms.toFixed(1)
    } ms)`,
  );

  const wallets = await devWallets();
  await rentMachine(topology, wallets);
  progress("machine verified and rented by //Dave");

  const renter = wallets.dave;
  const clients: Record<PathName, ApiClient> = {
    routed: api(client, { signer: walletSigner(renter), fetch: checkedFetch(gpu.nodeId) }),
    direct: api(gpu, { signer: walletSigner(renter), fetch: checkedFetch(null) }),
  };
  const results: Array<{
    concurrency: number;
    runs: Record<PathName, RunFigures[]>;
    cpu: Record<PathName, Map<string, number>>;
    /** The client-end's `Server-Timing` of every routed answer. */
    spans: Array<Record<string, number>>;
  }> = [];
  const failures = new Map<string, number>();
  const pids = {
    bench: Deno.pid,
    seed: topology.seed.child.pid,
    gpu: gpu.child.pid,
    client: client.child.pid,
  };
  /** `measure`, and the CPU every process and thread spent meanwhile, added to `cpu`. */
  const measured = async (
    path: PathName,
    concurrency: number,
    cpu: Map<string, number>,
  ): Promise<RunFigures> => {
    const before = await cpuByThread(pids);
    const figures = await measure(clients[path], gpu.nodeId, REQUESTS, concurrency, failures);
    addCpu(cpu, cpuSpent(before, await cpuByThread(pids)));
    return figures;
  };
  for (const concurrency of LEVELS) {
    for (const path of ["routed", "direct"] as const) {
      // Failures while routes and connections settle are not the figure; they are not kept.
      await measure(clients[path], gpu.nodeId, WARMUP, concurrency, new Map());
    }
    const runs: Record<PathName, RunFigures[]> = { routed: [], direct: [] };
    const cpu: Record<PathName, Map<string, number>> = { routed: new Map(), direct: new Map() };
    const spans: Array<Record<string, number>> = [];
    for (let run = 0; run < RUNS; run++) {
      const before = await routingCounters(topology);
      routedSpans = spans;
      const routed = await measured("routed", concurrency, cpu.routed);
      routedSpans = undefined;
      const after = await routingCounters(topology);
      if (after.gpuAnswered - before.gpuAnswered < REQUESTS - routed.errors) {
        throw new Error(
          `the GPU node answered ${after.gpuAnswered - before.gpuAnswered} calls for ${REQUESTS}`,
        );
      }
      if (after.requestLinks !== 1) {
        throw new Error(`the client-end opened ${after.requestLinks} request links, not one`);
      }
      runs.routed.push(routed);
      runs.direct.push(await measured("direct", concurrency, cpu.direct));
      progress(`concurrency ${concurrency}: run ${run + 1} of ${RUNS} done`);
    }
    results.push({ concurrency, runs, cpu, spans });
  }
  await assertNotNeighbours(topology);
  const costs = await signatureCosts(renter, gpu.nodeId);
  const pings = await pingRoundTrips(topology);

  const lines = [
    "",
    `Signed GET /api/v1/containers?node_id=<GPU node> by the renter, ${REQUESTS} requests a run, ` +
    `${RUNS} runs after ${WARMUP} warm-up requests; latency in ms.`,
    "  routed: through the client-end, on its request link to the GPU node;  direct: the GPU node's own API.",
  ];
  const summary: Array<{
    concurrency: number;
    medians: Record<PathName, RunFigures>;
    routed: ReturnType<typeof rounded> & { runs: ReturnType<typeof rounded>[] };
    direct: ReturnType<typeof rounded> & { runs: ReturnType<typeof rounded>[] };
    p50_ratio: number;
    requests_per_s_ratio: number;
    cpu_us_per_request: Record<PathName, Record<string, number>>;
    routed_split_ms: Record<string, number>;
  }> = [];
  for (const { concurrency, runs, cpu, spans } of results) {
    lines.push(
      "",
      `concurrency ${concurrency}`,
      `  ${"".padEnd(16)} ${"req/s".padStart(8)} ${"p50".padStart(8)} ${"p90".padStart(8)} ${
        "p99".padStart(8)
      } ${"errors".padStart(7)}`,
    );
    const medians = { routed: medianFigures(runs.routed), direct: medianFigures(runs.direct) };
    for (const path of ["routed", "direct"] as const) {
      runs[path].forEach((figures, index) => lines.push(row(`${path} run ${index + 1}`, figures)));
      lines.push(row(`${path} median`, medians[path]));
    }
    const latencyRatio = medians.routed.p50Ms / medians.direct.p50Ms;
    const rateRatio = medians.routed.requestsPerS / medians.direct.requestsPerS;
    lines.push(
      `  routed / direct: p50 x${fixed(latencyRatio, 2)}, req/s x${fixed(rateRatio, 2)}`,
    );
    const perRequest = {
      routed: cpuPerRequest(cpu.routed, RUNS * REQUESTS),
      direct: cpuPerRequest(cpu.direct, RUNS * REQUESTS),
    };
    lines.push(...cpuTable(perRequest));
    const split = spanMedians(spans);
    lines.push(
      `  routed, where a request's time went (medians of the client-end's Server-Timing, ms): ${
        Object.entries(split).map(([name, ms]) => `${name} ${fixed(ms, 3)}`).join(", ")
      }; the rest of the routed p50 is the renter's client and its HTTP hop`,
    );
    summary.push({
      concurrency,
      medians,
      routed: { ...rounded(medians.routed), runs: runs.routed.map(rounded) },
      direct: { ...rounded(medians.direct), runs: runs.direct.map(rounded) },
      p50_ratio: Number(latencyRatio.toFixed(2)),
      requests_per_s_ratio: Number(rateRatio.toFixed(2)),
      cpu_us_per_request: perRequest,
      routed_split_ms: split,
    });
  }
  lines.push(
    "",
    "Where the time goes (medians; signing and checking timed in this process):",
    `  signing it, as the API client does (sr25519, <Bytes>-wrapped, typed): ${
      fixed(costs.signUs, 0)
    } µs`,
    `  checking it, as the GPU node does: ${fixed(costs.checkUs, 0)} µs ` +
      `(${fixed(costs.rawCheckUs, 0)} µs for a bare signature of the raw message)`,
    `  ping through the client-end's API (its HTTP and network workers, the link, the ` +
      `target's network worker; no API work there): ` +
      `${fixed(pings.seedMs, 2)} ms to the seed (neighbour link), ` +
      `${fixed(pings.gpuMs, 2)} ms to the GPU node (request link), median of ${PINGS}`,
  );
  if (failures.size > 0) {
    lines.push("", "errors:");
    for (const [message, count] of failures) lines.push(`  ${count} x ${message}`);
  }
  console.log(lines.join("\n"));
  console.log(JSON.stringify({
    bench: "api",
    requests: REQUESTS,
    runs: RUNS,
    warmup: WARMUP,
    levels: summary.map(({ medians: _medians, ...level }) => level),
    sign_us: Math.round(costs.signUs),
    check_us: Math.round(costs.checkUs),
    check_raw_us: Math.round(costs.rawCheckUs),
    ping_seed_ms: Number(pings.seedMs.toFixed(3)),
    ping_gpu_ms: Number(pings.gpuMs.toFixed(3)),
  }));
  // Last: the summary line of issue #14, by path and requests in flight.
  const byLevel = (path: PathName) =>
    Object.fromEntries(summary.map(({ concurrency, medians }) => [String(concurrency), {
      p50_ms: Number(medians[path].p50Ms.toFixed(3)),
      p99_ms: Number(medians[path].p99Ms.toFixed(3)),
      rps: Math.round(medians[path].requestsPerS),
    }]));
  console.log(JSON.stringify({ routed: byLevel("routed"), direct: byLevel("direct") }));
  return failures.size > 0 ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(`bench_api: ${error instanceof Error ? error.message : error}`);
  await stopAll();
  for (const node of running) {
    const log = (await node.log).trim();
    if (log) console.error(`--- ${node.name} log (tail) ---\n${log.slice(-4000)}`);
  }
} finally {
  await stopAll();
}
Deno.exit(code);
