/**
 * Container create-to-running time, and what the node adds over the bare
 * Docker Engine API calls. Four ways to the same running container, run
 * interleaved so that drift on a shared machine hits them alike:
 *
 * - bare: `POST /containers/create` + `POST /containers/{id}/start` over the
 *   socket with Deno's fetch, nothing else;
 * - client: the same two calls through {@link DockerEngine};
 * - service: {@link ContainerService.create} (host-port check with `ss`,
 *   engine listing, records and GPU allocation in SQLite, volume, event log);
 * - node: `container.create` sent to a running node's node-service worker.
 *
 * Usage:
 *   deno run --unstable-worker-options --allow-all scripts/bench_container.ts [--runs 7] [--socket PATH] [--image REF]
 */
import { parseArgs } from "node:util";
import { startNode } from "../main.ts";
import {
  ContainerCreateParamsSchema,
  generateNodeKeys,
  loadConfig,
  nodePaths,
  openDatabase,
  silentLogger,
  systemClock,
} from "../mod/mod.ts";
import {
  containerCreateBody,
  ContainerService,
  ContainerStore,
  DockerEngine,
  EventLog,
  GpuAllocator,
  listeningPorts,
  SERVICE_MIGRATIONS,
} from "../node_service/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "7" },
    socket: { type: "string", default: "/run/dbc-podman/podman.sock" },
    image: { type: "string", default: "localhost/dbc-test-busybox:latest" },
  },
});
const RUNS = Number(values.runs);
const SOCKET = values.socket!;
const IMAGE = values.image!;
const BENCH_LABEL = "dbc.bench";
const runId = crypto.randomUUID().slice(0, 8);
const COMMAND = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"];

const client = Deno.createHttpClient({ proxy: { transport: "unix", path: SOCKET } });
async function raw(method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`http://engine/v1.41${path}`, {
    method,
    client,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status >= 300 && response.status !== 304) {
    throw new Error(`${method} ${path}: ${response.status} ${text}`);
  }
  return text === "" ? null : JSON.parse(text);
}

const dir = await Deno.makeTempDir({ prefix: "bench-container-" });
const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS);
const engine = new DockerEngine(SOCKET);
/** Time spent waiting on the engine, so the service's own share can be told apart from it. */
let engineMs = 0;
const timedEngine = new Proxy(engine, {
  get(target, property) {
    const value = Reflect.get(target, property, target);
    if (typeof value !== "function") return value;
    return async (...args: unknown[]) => {
      const started = performance.now();
      try {
        return await value.apply(target, args);
      } finally {
        engineMs += performance.now() - started;
      }
    };
  },
});
const service = new ContainerService({
  engine: timedEngine,
  store: new ContainerStore(db, Date.now),
  gpus: new GpuAllocator(db, Date.now),
  events: new EventLog(db, Date.now),
  gpuReport: () => Promise.resolve({ state: "none", gpus: [], reason: "bench", queried_at: 0 }),
  listeningPorts,
  hostPortRange: { first: 20000, last: 29999 },
  stopTimeoutS: 10,
  nodeId: "bench",
  extraLabels: { [BENCH_LABEL]: runId },
});

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

const keys = generateNodeKeys();
const { config } = loadConfig({
  args: [
    "--data-dir",
    `${dir}/data`,
    "--http-port",
    String(freePort()),
    "--p2p-host",
    "127.0.0.1",
    "--p2p-port",
    String(freePort()),
    "--log-level",
    "error",
    "--docker-socket",
    SOCKET,
  ],
  env: {},
  cwd: dir,
});
const paths = nodePaths(config.data_dir);
for (const sub of [paths.dataDir, paths.networkDir, paths.serviceDir]) {
  await Deno.mkdir(sub, { recursive: true });
}
const node = await startNode({ config, paths, keys, log: silentLogger, clock: systemClock });

let serial = 0;
const ways: Record<string, () => Promise<void>> = {
  bare: async () => {
    const name = `dbc-bench-${runId}-${serial++}`;
    const body = containerCreateBody({
      name,
      image: IMAGE,
      command: COMMAND,
      labels: { [BENCH_LABEL]: runId },
      gpuDeviceIds: [],
      ports: [],
    });
    const created = await raw(
      "POST",
      `/containers/create?name=${name}`,
      body,
    ) as { Id: string };
    await raw("POST", `/containers/${created.Id}/start`);
  },
  client: async () => {
    const id = await engine.createContainer({
      name: `dbc-bench-${runId}-${serial++}`,
      image: IMAGE,
      command: COMMAND,
      labels: { [BENCH_LABEL]: runId },
      gpuDeviceIds: [],
      ports: [],
    });
    await engine.startContainer(id);
  },
  service: async () => {
    await service.create(
      ContainerCreateParamsSchema.parse({ actor: "bench", image: IMAGE, command: COMMAND }),
    );
  },
  node: async () => {
    await node.rpc.call("container.create", { actor: "bench", image: IMAGE, command: COMMAND });
  },
};

/** Also measured with a published port and a volume: what a rented container has. */
const fullWays: Record<string, () => Promise<void>> = {
  "service+port+volume": async () => {
    await service.create(ContainerCreateParamsSchema.parse({
      actor: "bench",
      image: IMAGE,
      command: COMMAND,
      ssh: {},
      volume: { mount_path: "/data" },
    }));
  },
};

const timings: Record<string, number[]> = {};
/** Per service create: total minus engine time (ss, SQLite, event log, bookkeeping). */
const serviceOwnMs: number[] = [];
try {
  // One unmeasured round warms connections, the image cache and the JIT.
  for (const work of Object.values(ways)) await work();
  for (let run = 0; run < RUNS; run++) {
    for (const [name, work] of Object.entries({ ...ways, ...fullWays })) {
      engineMs = 0;
      const started = performance.now();
      await work();
      const total = performance.now() - started;
      (timings[name] ??= []).push(total);
      if (name === "service") serviceOwnMs.push(total - engineMs);
    }
    await cleanUp();
  }
} finally {
  await cleanUp();
  await node.stop("bench over");
  engine.close();
  client.close();
  db.close();
  await Deno.remove(dir, { recursive: true });
}

const median = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const bare = median(timings.bare!);
console.log(`create-to-running, ${RUNS} runs each, engine on ${SOCKET}, image ${IMAGE}`);
console.log("way                    median ms   min ms   max ms   ratio to bare");
for (const [name, samples] of Object.entries(timings)) {
  console.log(
    `${name.padEnd(22)} ${median(samples).toFixed(1).padStart(9)} ${
      Math.min(...samples).toFixed(1).padStart(8)
    } ${Math.max(...samples).toFixed(1).padStart(8)} ${
      (median(samples) / bare).toFixed(2).padStart(15)
    }`,
  );
}
console.log(
  `service's own work per create (total minus time waiting on the engine): median ${
    median(serviceOwnMs).toFixed(1)
  } ms`,
);
console.log(
  `node overhead over the bare API calls: ${(median(timings.node!) - bare).toFixed(1)} ms (${
    (median(timings.node!) / bare).toFixed(2)
  }x)`,
);

async function cleanUp(): Promise<void> {
  for (const label of [`${BENCH_LABEL}=${runId}`, `dbc.node=${keys.nodeId}`]) {
    const filters = encodeURIComponent(JSON.stringify({ label: [label] }));
    const containers = await raw("GET", `/containers/json?all=true&filters=${filters}`) as {
      Id: string;
    }[];
    for (const container of containers) {
      await raw("DELETE", `/containers/${container.Id}?force=true&v=true`);
    }
    const volumes = await raw("GET", `/volumes?filters=${filters}`) as {
      Volumes: { Name: string }[] | null;
    };
    for (const volume of volumes.Volumes ?? []) {
      await raw("DELETE", `/volumes/${volume.Name}?force=true`);
    }
  }
}
