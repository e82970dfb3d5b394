/**
 * Messages a second relayed between two node processes on loopback.
 *
 * Starts node A and node B (`deno task node`'s command line, B joining
 * through A) and links a peer of its own to A. That peer sends broadcasts,
 * signed in advance so its own signing does not limit the figure; A checks
 * each signature and nonce and relays it to B, which checks it again and
 * delivers it. The rate is B's deliveries a second, median of several runs,
 * after a warm-up run that is not counted (the first thousands of messages run
 * before the JIT has compiled the path). B's count is polled every
 * {@link POLL_MS}; a run is long enough (10,000 messages, over a second) that
 * the poll's granularity is a small share of it, and short enough that our
 * peer's link, which queues the whole run at once, stays under its 4 MiB send
 * buffer.
 * Then sealed pings from A to B through A's HTTP API (sealed, signed,
 * verified and opened both ways), with 16 in flight.
 *
 *   deno run -A scripts/bench_relay.ts [--messages 10000] [--runs 5]
 *
 * The last line is one JSON object with the figures.
 */
import { parseArgs } from "node:util";
import { generateNodeKeys, type NetworkStatus, silentLogger } from "../mod/mod.ts";
import {
  type Broadcast,
  broadcastSignedBytes,
  encodeBase64,
  helloProofBytes,
  type Link,
  nodeAuthenticator,
  PROTOCOL_VERSION,
  type WireMessage,
} from "../network/mod.ts";
import { Libp2pTransport } from "../network/libp2p_node.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    messages: { type: "string", default: "10000" },
    runs: { type: "string", default: "5" },
    pings: { type: "string", default: "1000" },
  },
});
const MESSAGES = Number(values.messages);
const RUNS = Number(values.runs);
const PINGS = Number(values.pings);
const NETWORK = "bench-relay";
const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** How often B's delivered count is read while a run goes on. */
const POLL_MS = 10;
const WARM_UP_MESSAGES = 5_000;

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 120_000,
  pollMs = 100,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

type Node = { child: Deno.ChildProcess; http: number; address: string };

async function startNode(dataDir: string, seeds: string[]): Promise<Node> {
  const config = JSON.parse(await Deno.readTextFile(`${REPO}/deno.json`));
  const http = freePort();
  const p2p = freePort();
  // `deno task node` is `bash scripts/node.sh`, which execs the node with the grants it needs.
  const child = new Deno.Command("bash", {
    args: [
      ...(config.tasks.node as string).split(/\s+/).slice(1),
      "--data-dir",
      dataDir,
      "--http-port",
      String(http),
      "--p2p-host",
      "127.0.0.1",
      "--p2p-port",
      String(p2p),
      "--network-id",
      NETWORK,
      "--p2p-target-outbound",
      "1",
      "--p2p-max-inbound",
      "4",
      "--p2p-rate-limit-per-s",
      "100000",
      // The benchmark is the one client of A's HTTP API; its per-client limit would cap the pings.
      "--http-rate-limit-per-s",
      "100000",
      "--http-rate-burst",
      "100000",
      "--log-level",
      "error",
      ...(seeds.length ? ["--seeds", seeds.join(",")] : []),
    ],
    cwd: REPO,
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  return { child, http, address: `127.0.0.1:${p2p}` };
}

async function get<T>(node: Node, path: string): Promise<T | undefined> {
  const response = await fetch(`http://127.0.0.1:${node.http}${path}`);
  const body = await response.json();
  return body.error_code === 0 ? body.data as T : undefined;
}

const delivered = async (node: Node) =>
  (await get<NetworkStatus>(node, "/api/v1/peers/status"))?.counters?.broadcasts_delivered ?? 0;

const dir = await Deno.makeTempDir({ dir: `${REPO}/.test-tmp`, prefix: "bench-relay-" }).catch(
  async () => {
    await Deno.mkdir(`${REPO}/.test-tmp`, { recursive: true });
    return Deno.makeTempDir({ dir: `${REPO}/.test-tmp`, prefix: "bench-relay-" });
  },
);
const a = await startNode(`${dir}/a`, []);
await until("node A", () => get<NetworkStatus>(a, "/api/v1/peers/status"));
const b = await startNode(`${dir}/b`, [a.address]);
const bId = await until("node B linked to A", async () => {
  const status = await get<NetworkStatus>(b, "/api/v1/peers/status");
  return status?.outbound === 1 ? status.node_id : undefined;
});

// Our own peer, linked to A by hand so it can send pre-signed messages.
const keys = generateNodeKeys();
const auth = nodeAuthenticator(keys.privateKey);
const transport = await Libp2pTransport.start({
  seed: keys.privateKey,
  publicKey: keys.publicKey,
  nodeId: keys.nodeId,
  listenHost: "127.0.0.1",
  listenPort: freePort(),
  maxConnections: 8,
  log: silentLogger,
  onInbound: (link) => link.close(),
});
const link: Link = await transport.dial(a.address, undefined, 10_000);
const answers: WireMessage[] = [];
link.attach({ message: (message) => answers.push(message), malformed: () => {}, closed: () => {} });
const helloFields = {
  v: PROTOCOL_VERSION,
  net: NETWORK,
  id: keys.nodeId,
  to: link.remoteId,
  role: "client" as const,
  inc: Date.now(),
  port: 1,
  short: true,
  ts: Date.now(),
};
link.send({
  t: "hello",
  ...helloFields,
  proof: encodeBase64(await auth.sign(helloProofBytes(helloFields))),
});
await until(
  "handshake with A",
  () => Promise.resolve(answers[0]?.t === "hello" ? true : undefined),
);

async function signed(count: number): Promise<Broadcast[]> {
  return await Promise.all(Array.from({ length: count }, async (_, index) => {
    const fields = {
      nonce: encodeBase64(crypto.getRandomValues(new Uint8Array(16))),
      origin: keys.nodeId,
      ts: Date.now(),
      topic: "bench.relay",
      body: JSON.stringify({ index, pad: "x".repeat(100) }),
    };
    const sig = await auth.sign(broadcastSignedBytes(NETWORK, fields));
    return { t: "bcast" as const, ...fields, hops: 8, sig: encodeBase64(sig) };
  }));
}

/** Sends `count` broadcasts and answers B's deliveries a second. */
async function relayRun(count: number): Promise<number> {
  const batch = await signed(count);
  const start = await delivered(b);
  const started = performance.now();
  for (const message of batch) link.send(message);
  try {
    await until(
      "B delivered the run",
      async () => (await delivered(b)) >= start + count ? true : undefined,
      60_000,
      POLL_MS,
    );
  } catch (error) {
    // Say what became of the missing ones: each node's counters name drops, sheds and limits.
    for (const [name, node] of [["A", a], ["B", b]] as const) {
      const status = await get<NetworkStatus>(node, "/api/v1/peers/status");
      console.error(`${name}: ${JSON.stringify(status?.counters)}`);
    }
    throw error;
  }
  return count / ((performance.now() - started) / 1000);
}

console.log(`relay: our peer -> node A -> node B, ${MESSAGES} broadcasts a run, ${RUNS} runs`);
console.log(`  warm-up: ${Math.round(await relayRun(WARM_UP_MESSAGES))} messages/s (not counted)`);
const rates: number[] = [];
for (let run = 0; run < RUNS; run++) {
  const rate = await relayRun(MESSAGES);
  rates.push(rate);
  console.log(`  run ${run + 1}: ${Math.round(rate)} messages/s relayed A -> B`);
}
rates.sort((x, y) => x - y);
const relayed = Math.round(rates[rates.length >> 1]!);

// Sealed requests: A pings B through its HTTP API, 16 at a time.
let done = 0;
const pingStarted = performance.now();
await Promise.all(Array.from({ length: 16 }, async () => {
  while (done < PINGS) {
    done++;
    const response = await fetch(`http://127.0.0.1:${a.http}/api/v1/peers/${bId}/ping`);
    const body = await response.json();
    if (body.data?.node_id !== bId) throw new Error(`a ping failed: ${JSON.stringify(body)}`);
  }
}));
const pings = Math.round(PINGS / ((performance.now() - pingStarted) / 1000));
console.log(`sealed pings A -> B -> A through HTTP: ${pings} round trips/s`);

link.close();
await transport.stop();
for (const node of [a, b]) {
  node.child.kill("SIGTERM");
  await node.child.status;
}
await Deno.remove(dir, { recursive: true }).catch(() => {});
console.log(`median: ${relayed} messages/s relayed between two node processes`);
console.log(
  JSON.stringify({
    relayed_messages_per_s: relayed,
    runs: rates.map(Math.round),
    sealed_pings_per_s: pings,
  }),
);
// libp2p's listener keeps the event loop alive after stop().
Deno.exit(0);
