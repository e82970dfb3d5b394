/**
 * The node program: reads configuration, takes the data directory's lock,
 * loads or creates the node's keys, then starts the network, node-service and
 * HTTP workers, each with only the permissions it needs, and supervises them
 * until SIGINT or SIGTERM.
 *
 * Run it with `deno task node`; `deno task node --help` lists every setting.
 */
import {
  type Clock,
  CONFIG_FIELDS,
  ConfigError,
  type ConfigKey,
  createLogger,
  DataDirLockedError,
  envName,
  helpText,
  KeyFileError,
  listenAddress,
  loadOrCreateNodeKeys,
  loadOrCreateOperatorToken,
  lockDataDir,
  type Logger,
  type NodeConfig,
  type NodeKeys,
  type NodePaths,
  nodePaths,
  OperatorTokenError,
  parseCommandLine,
  RpcPeer,
  serviceProgramPaths,
  Supervisor,
  systemClock,
  VERSION,
  WORKER_NAMES,
  type WorkerName,
  workerPermissions,
  type WorkerSpec,
} from "./mod/mod.ts";
import { HTTP_WORKER_URL } from "./http/mod.ts";
import { NETWORK_WORKER_URL } from "./network/mod.ts";
import { ledgerStartRefusal, NODE_SERVICE_WORKER_URL } from "./node_service/mod.ts";

const WORKER_URLS: Record<WorkerName, URL> = {
  network: NETWORK_WORKER_URL,
  node_service: NODE_SERVICE_WORKER_URL,
  http: HTTP_WORKER_URL,
};

/** Exit codes: 0 clean stop, 1 failed at run time, 2 bad configuration or environment. */
export async function main(args: readonly string[]): Promise<number> {
  let line;
  try {
    line = parseCommandLine({ args, env: readDbcEnv(), cwd: Deno.cwd() });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`${error.message}\n(run with --help for the list of settings)`);
      return 2;
    }
    throw error;
  }
  if (line.action === "help") {
    console.log(helpText());
    return 0;
  }
  if (line.action === "version") {
    console.log(VERSION);
    return 0;
  }
  const { config } = line.loaded;
  const log = createLogger({
    level: config.log_level,
    format: config.log_format,
    component: "main",
  });
  const paths = nodePaths(config.data_dir);
  const problem = missingPermission(config, paths);
  if (problem) {
    log.error(problem);
    return 2;
  }
  let lock;
  let keys: NodeKeys;
  let operatorToken: string;
  try {
    prepareDataDir(paths);
    lock = lockDataDir(paths.lockFile);
    const loaded = loadOrCreateNodeKeys(paths.keyFile);
    keys = loaded.keys;
    if (loaded.created) log.info("created a new node identity", { key_file: paths.keyFile });
    if (loaded.tightened) {
      log.warn("the key file was readable by others; its mode is now 0600", {
        key_file: paths.keyFile,
      });
    }
    operatorToken = loadOrCreateOperatorToken(paths.operatorTokenFile);
    const refusal = ledgerStartRefusal(config, keys.nodeId);
    if (refusal) {
      log.error(`invalid configuration: ${refusal}`);
      lock.release();
      return 2;
    }
  } catch (error) {
    if (
      error instanceof DataDirLockedError || error instanceof KeyFileError ||
      error instanceof OperatorTokenError
    ) {
      log.error(error.message);
      lock?.release();
      return 2;
    }
    throw error;
  }
  try {
    return await runNode(config, paths, keys, operatorToken, log);
  } finally {
    lock.release();
  }
}

async function runNode(
  config: NodeConfig,
  paths: NodePaths,
  keys: NodeKeys,
  operatorToken: string,
  log: Logger,
): Promise<number> {
  log.info("starting node", {
    node_id: keys.nodeId,
    role: config.role,
    version: VERSION,
    data_dir: config.data_dir,
    http: `${config.http_host}:${config.http_port}`,
  });
  const stopRequested = waitForStopSignal(log, systemClock);
  const node = await startNode({ config, paths, keys, operatorToken, log, clock: systemClock });
  const signal = await stopRequested;
  log.info("shutting down", { signal });
  await node.stop(`received ${signal}`);
  log.info("stopped");
  return 0;
}

export type StartNodeOptions = {
  config: NodeConfig;
  paths: NodePaths;
  keys: NodeKeys;
  /** Guards the operator endpoints; read from (or made in) the data directory when absent. */
  operatorToken?: string;
  log: Logger;
  clock: Clock;
};

export type RunningNode = {
  supervisor: Supervisor;
  /** The main thread's own endpoint: answers `node.status`, and can call any worker. */
  rpc: RpcPeer<"main">;
  stop(reason: string): Promise<void>;
};

/** Starts the three workers under a supervisor; resolves once each has had its first start attempt. */
export async function startNode(
  { config, paths, keys, operatorToken, log, clock }: StartNodeOptions,
): Promise<RunningNode> {
  const startedAt = clock.now();
  const specs = workerSpecs({
    config,
    paths,
    keys,
    operatorToken: operatorToken ?? loadOrCreateOperatorToken(paths.operatorTokenFile),
    startedAt,
    searchPath: Deno.env.get("PATH"),
  });
  const rpc: RpcPeer<"main"> = new RpcPeer({
    self: "main",
    // Both ends refer to each other; neither sends before start() below.
    send: (message) => supervisor.route(message),
    clock,
    defaultTimeoutMs: config.request_timeout_ms,
    handlers: {
      "node.status": () => ({
        node_id: keys.nodeId,
        role: config.role,
        version: VERSION,
        network_id: config.network_id,
        started_at: startedAt,
        uptime_s: Math.floor((clock.now() - startedAt) / 1000),
        workers: supervisor.status(),
      }),
    },
  });
  const supervisor: Supervisor = new Supervisor({
    specs,
    clock,
    log: log.child("supervisor"),
    deliverToMain: (message) => rpc.receive(message),
  });
  await supervisor.start();
  return {
    supervisor,
    rpc,
    async stop(reason) {
      rpc.close("node is shutting down");
      await supervisor.stop(reason);
    },
  };
}

/** The three workers, each with its permissions and its start-up message. */
export function workerSpecs(options: {
  config: NodeConfig;
  paths: NodePaths;
  keys: NodeKeys;
  operatorToken: string;
  startedAt: number;
  searchPath: string | undefined;
}): WorkerSpec[] {
  const { config, paths, keys, startedAt } = options;
  const programPaths = serviceProgramPaths(options.searchPath);
  return WORKER_NAMES.map((name) => ({
    name,
    url: WORKER_URLS[name],
    permissions: workerPermissions(name, { config, paths, programPaths }),
    init: {
      worker: name,
      config,
      node_id: keys.nodeId,
      public_key: keys.publicKey,
      // The private key goes to the one worker that signs and opens sealed messages.
      ...(name === "network" ? { private_key: keys.privateKey } : {}),
      ...(name === "http" ? { operator_token: options.operatorToken } : {}),
      started_at: startedAt,
      paths,
    },
  }));
}

/**
 * A signal within this long of the first is the same request arriving twice:
 * Ctrl-C under `deno task` reaches the node from the terminal and again from
 * the task runner, which forwards it.
 */
const REPEAT_SIGNAL_GRACE_MS = 1_000;

function waitForStopSignal(log: Logger, clock: Clock): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    let firstAt: number | undefined;
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => {
        if (firstAt === undefined) {
          firstAt = clock.now();
          return resolve(signal);
        }
        if (clock.now() - firstAt < REPEAT_SIGNAL_GRACE_MS) return;
        log.warn("second signal: exiting without waiting for workers", { signal });
        Deno.exit(130);
      });
    }
  });
}

/** Reads only the DBC_* variables the node knows: the process may read no others. */
function readDbcEnv(): Record<string, string | undefined> {
  const names = [...(Object.keys(CONFIG_FIELDS) as ConfigKey[]).map(envName), "DBC_CONFIG"];
  return Object.fromEntries(names.map((name) => [name, Deno.env.get(name)]));
}

/**
 * Says which permission flag is missing for the configured paths and address, if any. `deno task
 * node` (scripts/node.sh) grants exactly what the configuration names, so this speaks to whoever
 * starts main.ts with a `deno run` line of their own, or runs an executable compiled with fixed
 * grants (scripts/compile.ts).
 */
function missingPermission(config: NodeConfig, paths: NodePaths): string | undefined {
  const granted = (descriptor: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(descriptor).state === "granted";
  for (const name of ["read", "write"] as const) {
    if (!granted({ name, path: paths.dataDir })) {
      return `data_dir ${paths.dataDir} is outside this process's --allow-${name}; ${
        howToGrant(`--allow-read=${paths.dataDir} --allow-write=${paths.dataDir}`)
      }`;
    }
  }
  const address = listenAddress(config.http_host, config.http_port);
  if (!granted({ name: "net", host: address })) {
    return `the HTTP address ${address} is outside this process's --allow-net; ${
      howToGrant("--allow-net")
    }`;
  }
  // A worker cannot be given more than the process holds: without this the node service could not start.
  for (const name of ["read", "write"] as const) {
    if (!granted({ name, path: config.docker_socket })) {
      return `docker_socket ${config.docker_socket} is outside this process's --allow-${name}; ${
        howToGrant(`--allow-read=${config.docker_socket} --allow-write=${config.docker_socket}`)
      }`;
    }
  }
  return undefined;
}

/** How to get the grants `flags` name: from `deno task node`, or when compiling an executable. */
function howToGrant(flags: string): string {
  const compiled = !/(^|\/)deno$/.test(Deno.execPath());
  return compiled
    ? `this executable holds the grants it was compiled with (scripts/compile.ts PERMISSIONS: the directory it starts in, ${COMPILED_DATA_HOME}); start it from a directory holding the data directory, use one under ${COMPILED_DATA_HOME}, or add ${flags} to PERMISSIONS in scripts/compile.ts and compile again`
    : `start the node with deno task node (it grants exactly what the configuration names), or add ${flags} to the deno run line`;
}

/** Where the compiled seed executable may keep its data besides its working directory. */
const COMPILED_DATA_HOME = "/var/lib/dbc";

function prepareDataDir(paths: NodePaths): void {
  // The data directory itself is traversable (0711, not listable) because QEMU runs as its own
  // user and must reach the VM disks below it; what is secret stays closed: the key file is 0600,
  // the workers' directories 0700.
  Deno.mkdirSync(paths.dataDir, { recursive: true, mode: 0o711 });
  Deno.chmodSync(paths.dataDir, 0o711);
  for (const dir of [paths.networkDir, paths.serviceDir]) {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
