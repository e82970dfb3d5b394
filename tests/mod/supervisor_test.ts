/**
 * The supervisor with real Web Workers: messages round-trip between the main
 * thread and workers and from worker to worker (on a direct port once both
 * run); an unanswered request times out with a typed error; a worker killed
 * by an uncaught error is restarted while the others keep answering, and
 * calls waiting for it fail at once.
 */
import assert from "node:assert/strict";
import {
  generateNodeKeys,
  type NodeConfig,
  nodePaths,
  RpcError,
  type RpcMessage,
  RpcPeer,
  silentLogger,
  Supervisor,
  systemClock,
  WORKER_NAMES,
  type WorkerSpec,
} from "../../mod/mod.ts";
import { startNode, workerSpecs } from "../../main.ts";
import { scratchDir, testNodeConfig, waitFor } from "../helpers.ts";

async function nodeSetting(extraArgs: string[] = []) {
  const dir = await scratchDir("supervisor");
  const config = testNodeConfig(dir, extraArgs);
  const paths = nodePaths(config.data_dir);
  for (const sub of [paths.dataDir, paths.networkDir, paths.serviceDir]) {
    await Deno.mkdir(sub, { recursive: true });
  }
  return { dir, config, paths, keys: generateNodeKeys() };
}

async function getNode(config: NodeConfig) {
  const response = await fetch(`http://127.0.0.1:${config.http_port}/api/v1/node`);
  return { status: response.status, body: await response.json() };
}

Deno.test("requests round-trip between main and workers, and between workers through the hub", async () => {
  const { dir, config, paths, keys } = await nodeSetting();
  const node = await startNode({ config, paths, keys, log: silentLogger, clock: systemClock });
  try {
    for (const name of WORKER_NAMES) await node.supervisor.whenRunning(name);
    const network = await node.rpc.call("network.status", {});
    assert.equal(network.connected_peers, 0);
    assert.ok(
      network.listening.some((address) => address.includes(`/tcp/${config.p2p_port}/`)),
      network.listening.join(" "),
    );
    const gpu = await node.rpc.call("gpu.inventory", {});
    assert.ok(["none", "present", "error"].includes(gpu.state));
    // The HTTP worker answers by asking main (node.status) and the node service (gpu.inventory).
    const { status, body } = await getNode(config);
    assert.equal(status, 200);
    assert.equal(body.error_code, 0);
    assert.equal(body.data.node_id, keys.nodeId);
    assert.deepEqual(
      Object.values(body.data.workers).map((worker) => (worker as { state: string }).state),
      ["running", "running", "running"],
    );
  } finally {
    await node.stop("test over");
    await Deno.remove(dir, { recursive: true });
  }
});

function fixtureSupervisor(
  config: NodeConfig,
  paths: ReturnType<typeof nodePaths>,
  keys: ReturnType<typeof generateNodeKeys>,
) {
  const real = workerSpecs({
    config,
    paths,
    keys,
    operatorToken: "test-operator-token",
    startedAt: Date.now(),
    searchPath: Deno.env.get("PATH"),
  });
  const specs: WorkerSpec[] = real.map((spec) =>
    spec.name === "network"
      ? { ...spec, url: new URL("../fixtures/faulty_network_worker.ts", import.meta.url) }
      : spec
  );
  const rpc: RpcPeer<"main"> = new RpcPeer({
    self: "main",
    send: (message) => supervisor.route(message),
    handlers: {
      "node.status": () => ({
        node_id: keys.nodeId,
        role: config.role,
        version: "test",
        network_id: config.network_id,
        started_at: 0,
        uptime_s: 0,
        workers: supervisor.status(),
      }),
    },
  });
  const supervisor: Supervisor = new Supervisor({
    specs,
    clock: systemClock,
    log: silentLogger,
    deliverToMain: (message) => rpc.receive(message),
    backoff: { initialMs: 100, maxMs: 1_000, resetAfterMs: 60_000 },
  });
  return { supervisor, rpc };
}

Deno.test("an unanswered request between workers fails with a typed time-out", async () => {
  const { dir, config, paths, keys } = await nodeSetting(["--network-id", "silent"]);
  const { supervisor, rpc } = fixtureSupervisor(config, paths, keys);
  await supervisor.start();
  for (const name of WORKER_NAMES) await supervisor.whenRunning(name);
  try {
    const started = Date.now();
    await assert.rejects(
      rpc.call("network.status", {}, { timeoutMs: 300 }),
      (error: unknown) => error instanceof RpcError && error.code === "timeout",
    );
    assert.ok(Date.now() - started >= 290);
  } finally {
    rpc.close("test over");
    await supervisor.stop("test over");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a worker killed by an uncaught error is restarted, its pending request fails fast, and the others go on", async () => {
  const { dir, config, paths, keys } = await nodeSetting(["--network-id", "crash-once"]);
  const { supervisor, rpc } = fixtureSupervisor(config, paths, keys);
  await supervisor.start();
  for (const name of WORKER_NAMES) await supervisor.whenRunning(name);
  try {
    const started = Date.now();
    await assert.rejects(
      rpc.call("network.status", {}, { timeoutMs: 20_000 }),
      (error: unknown) =>
        error instanceof RpcError && error.code === "unavailable" && /crashed/.test(error.message),
    );
    assert.ok(
      Date.now() - started < 10_000,
      "the caller learns of the crash without waiting for its time-out",
    );
    const during = supervisor.status().network;
    assert.ok(
      during.state === "restarting" || during.state === "starting",
      `network is ${during.state}`,
    );
    // The HTTP worker and the node service were untouched.
    const { status, body } = await getNode(config);
    assert.equal(status, 200);
    assert.equal(body.data.workers.http.restarts, 0);

    await supervisor.whenRunning("network");
    assert.deepEqual(await rpc.call("network.status", {}), { listening: [], connected_peers: 7 });
    const after = await waitFor("node info after restart", async () => {
      const { body } = await getNode(config);
      return body.data.workers.network.state === "running" ? body : undefined;
    });
    assert.equal(after.data.workers.network.restarts, 1);
  } finally {
    rpc.close("test over");
    await supervisor.stop("test over");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("workers call each other on a direct port, and a call waiting there fails fast when the callee dies", async () => {
  const { dir, config, paths, keys } = await nodeSetting(["--network-id", "crash-once"]);
  const { supervisor, rpc } = fixtureSupervisor(config, paths, keys);
  // What the main thread routes: a call between two linked workers is not among it.
  const routed: RpcMessage[] = [];
  const route = supervisor.route.bind(supervisor);
  supervisor.route = (message) => {
    routed.push(message);
    route(message);
  };
  const fromHttpToNetwork = () =>
    routed.filter((message) => message.from === "http" && message.to === "network").length;
  const get = async (path: string) => {
    const response = await fetch(`http://127.0.0.1:${config.http_port}${path}`);
    return { status: response.status, body: await response.json() };
  };
  /** Until a call from the HTTP worker to the network worker goes without the main thread. */
  const linked = (what: string) =>
    waitFor(what, async () => {
      const before = fromHttpToNetwork();
      // The stand-in network worker refuses this one; the call is what is looked at.
      await get("/api/v1/peers/active");
      return fromHttpToNetwork() === before ? true : undefined;
    });
  await supervisor.start();
  for (const name of WORKER_NAMES) await supervisor.whenRunning(name);
  try {
    await linked("the HTTP and network workers linked");
    // The HTTP worker asks the network worker, which dies of it; the HTTP worker hears so from
    // the main thread (unlink), long before the call's own time-out.
    const before = fromHttpToNetwork();
    const started = Date.now();
    const during = await get("/api/v1/peers/status");
    assert.equal(during.status, 503, JSON.stringify(during.body));
    assert.ok(Date.now() - started < 10_000, "the call failed when the callee died");
    assert.equal(fromHttpToNetwork(), before, "the call went on the port");
    // Linked again once the new network worker runs.
    await supervisor.whenRunning("network");
    await linked("the HTTP worker linked to the restarted network worker");
    const after = await get("/api/v1/peers/status");
    assert.equal(after.status, 200);
    assert.equal(after.body.data.connected_peers, 7);
  } finally {
    rpc.close("test over");
    await supervisor.stop("test over");
    await Deno.remove(dir, { recursive: true });
  }
});
