/**
 * The narrowest Deno permissions each worker needs, derived from the
 * configuration. A worker can only narrow what the process holds, so
 * `deno task node` (scripts/node.sh) grants the process the union
 * ({@link nodeProcessPermissions}) and each worker receives its slice.
 * Tests start probe workers with these exact sets to prove what is refused.
 */
import { ConfigError, type ConfigKey, type ConfigSource, type NodeConfig } from "./config.ts";
import { WORKER_NAMES, type WorkerName } from "./schemas/mod.ts";
import { type NodePaths, vmStorageDirs } from "./paths.ts";
import { resolveProgram } from "./programs.ts";

/** The programs the node service may run, and nothing else. */
/**
 * `ss` (iproute2) lists the host's listening sockets, so the node never
 * publishes a container on a port in use: Deno refuses a worker the
 * `/proc/net` tables unless it holds every permission. `stat` and `id`
 * (coreutils) tell the host checks (node_service/host/facts.ts) the modes of
 * /dev/kvm and of every directory above the VM directories, and QEMU's
 * user's groups, without read grants of whole trees.
 */
export const SERVICE_PROGRAMS = ["virsh", "nvidia-smi", "qemu-img", "ss", "stat", "id"] as const;

/**
 * What a GPU node runs besides for renters' private networks (node_service/lan/host.ts): `ip` and
 * `bridge` (iproute2) make and remove a LAN's VXLAN device and its forwarding entries to the
 * renter's other hosts, and read the host's own addresses and routes and its default route's
 * source; libvirt (virsh) makes the LAN's bridge and runs its DHCP. Other roles have no LANs.
 */
export const LAN_PROGRAMS = ["ip", "bridge"] as const;
export type ServiceProgram = typeof SERVICE_PROGRAMS[number] | typeof LAN_PROGRAMS[number];

/** Whether this node keeps renters' private networks: a GPU node. */
export function offersLans(config: Pick<NodeConfig, "role">): boolean {
  return config.role === "gpu";
}

/**
 * Environment the node service reads: PATH to find its programs; the other
 * two are probed by dax's command resolution and Node's child_process layer.
 */
export const SERVICE_ENV = ["PATH", "_ISEXE_TEST_PLATFORM_", "NODE_V8_COVERAGE"] as const;

/**
 * What the node service needs to talk to the container engine: Deno checks a
 * unix-socket connection against read and write of its path and net
 * `unix:<path>` (checked with Deno 2.9.6 through node:http's `socketPath`).
 */
export function engineSocketPermissions(socketPath: string): {
  read: string[];
  write: string[];
  net: string[];
} {
  return { read: [socketPath], write: [socketPath], net: [`unix:${socketPath}`] };
}

/**
 * What the node service asks the system about its machine for the GPU-node
 * announcement (`node_service/market/machine_summary.ts`): CPU model and count,
 * total memory, and the size of the disk that holds VMs. Deno refuses a
 * worker `/proc/cpuinfo` and `/proc/meminfo` unless it holds every
 * permission, so these narrow `sys` grants replace them.
 */
export const SERVICE_SYS = ["cpus", "systemMemoryInfo", "statfs"] as const;

/**
 * What a GPU node that pushes renters' monitoring data (node_service/monitor/) needs besides:
 * the host's load average, which the original sends. Deno itself too: each push runs in a process
 * of its own whose net permissions are the renters' servers (node_service/monitor/push_policy.ts).
 */
export const MONITOR_SYS = ["loadavg"] as const;

/** Whether this node pushes renters' monitoring data: a GPU node, unless the operator turned it off. */
export function pushesMonitoring(config: Pick<NodeConfig, "role" | "monitor_interval_s">): boolean {
  return config.role === "gpu" && config.monitor_interval_s > 0;
}

/** libvirt's QEMU settings; the node service reads which user QEMU runs as. */
export const QEMU_CONF_FILE = "/etc/libvirt/qemu.conf";

export type WorkerPermissions = {
  read: string[] | false;
  write: string[] | false;
  net: string[] | boolean;
  env: string[] | false;
  run: string[] | false;
  sys: Array<typeof SERVICE_SYS[number] | typeof MONITOR_SYS[number]> | false;
  ffi: false;
  import: false;
};

const NOTHING: WorkerPermissions = {
  read: false,
  write: false,
  net: false,
  env: false,
  run: false,
  sys: false,
  ffi: false,
  import: false,
};

export type PermissionInputs = {
  config: NodeConfig;
  paths: NodePaths;
  /** Absolute paths of the service programs found on PATH (dax must stat them). */
  programPaths: readonly string[];
};

export function workerPermissions(worker: WorkerName, inputs: PermissionInputs): WorkerPermissions {
  const { config, paths } = inputs;
  switch (worker) {
    case "network":
      // Peers live at arbitrary addresses, so outbound connections cannot be scoped to hosts.
      return { ...NOTHING, net: true, read: [paths.networkDir], write: [paths.networkDir] };
    case "node_service":
      return {
        ...NOTHING,
        // Deno itself where images may be downloaded or renters' monitoring data pushed: each
        // download and each push runs in a process of its own, with its own permissions
        // (node_service/host/outbound.ts). Nowhere else, so a compiled seed, whose
        // permissions are fixed, is not asked for it.
        run: [
          ...SERVICE_PROGRAMS,
          ...(offersLans(config) ? LAN_PROGRAMS : []),
          ...(config.image_download_hosts.length > 0 || config.image_servers.length > 0 ||
              pushesMonitoring(config)
            ? [Deno.execPath()]
            : []),
        ],
        env: [...SERVICE_ENV],
        sys: [...SERVICE_SYS, ...(pushesMonitoring(config) ? MONITOR_SYS : [])],
        read: [
          paths.serviceDir,
          ...inputs.programPaths,
          ...engineSocketPermissions(config.docker_socket).read,
          ...vmStoragePaths(config, paths),
          // The user libvirt runs QEMU as (its `user` setting), for the host checks.
          QEMU_CONF_FILE,
        ],
        write: [
          paths.serviceDir,
          ...engineSocketPermissions(config.docker_socket).write,
          ...vmStoragePaths(config, paths),
        ],
        // A unix socket and the chain; image hosts are the download process's (host/outbound.ts).
        net: [
          ...engineSocketPermissions(config.docker_socket).net,
          ...chainRpcHosts(config),
        ],
      };
    case "http":
      return {
        ...NOTHING,
        net: [
          listenAddress(config.http_host, config.http_port),
          // A client-end's listener in the original dialect (http/compat/), on the same host.
          ...(config.role === "client" && config.compat_http_port !== 0
            ? [listenAddress(config.http_host, config.compat_http_port)]
            : []),
        ],
      };
  }
}

/** `host:port` as Deno's net permission spells it (IPv6 in brackets). */
export function listenAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The VM and image directories: the node service creates, reads and writes VM disks there. */
function vmStoragePaths(config: NodeConfig, paths: NodePaths): string[] {
  const { vmDir, imageDir } = vmStorageDirs(config, paths);
  return [vmDir, imageDir];
}

/**
 * The chain's JSON-RPC endpoint, when the node reads rentals from the chain:
 * the node service's lease loop connects to it (and to nothing else).
 */
export function chainRpcHosts(
  config: Pick<NodeConfig, "verification_service" | "substrate_rpc_url">,
): string[] {
  if (config.verification_service !== "substrate" || config.substrate_rpc_url === "") return [];
  const url = new URL(config.substrate_rpc_url);
  const port = url.port || (url.protocol === "wss:" ? "443" : "80");
  return [`${url.hostname}:${port}`];
}

/** Where the service programs are on `searchPath` (PATH): the files the node service may stat. */
export function serviceProgramPaths(searchPath: string | undefined): string[] {
  return [...SERVICE_PROGRAMS, ...LAN_PROGRAMS].flatMap((name) =>
    resolveProgram(name, searchPath) ?? []
  );
}

/** What the node reads its configuration from besides flags and `DBC_*` variables. */
export const CONFIG_DIR = "/etc/dbc";

/** The grants of the whole node process: what main.ts needs, and every worker's slice. */
export type ProcessPermissions = {
  read: string[];
  write: string[];
  /** `true`: any host (peers live at arbitrary addresses). */
  net: string[] | true;
  env: string[];
  run: string[];
  sys: string[];
};

export type ProcessPermissionInputs = PermissionInputs & {
  /** The checkout the node's code is loaded from; its files are read at run time. */
  projectRoot: string;
  /** The config file the configuration was read from, if any. */
  configFile?: string;
  /** Where each setting came from, so a refusal names it as a bad value does. */
  sources?: Partial<Record<ConfigKey, ConfigSource>>;
};

/**
 * The process-level grants `deno task node` starts the node with: the union of
 * the three workers' {@link workerPermissions}, plus what the main thread
 * itself needs: read and write of the data directory (key, lock, token, the
 * workers' directories), read of the config file and of `/etc/dbc`, read of
 * the project (the code), the `DBC_*` variables. Paths are exactly those the
 * configuration names, wherever they are; a path below another granted one
 * is left out, the grant covers it. Throws a {@link ConfigError} naming the
 * setting for a path Deno's flags cannot carry (a `,` separates entries).
 */
export function nodeProcessPermissions(inputs: ProcessPermissionInputs): ProcessPermissions {
  const { config, paths } = inputs;
  const named: Array<[string, string, ConfigSource | undefined]> = [
    ["data_dir", paths.dataDir, inputs.sources?.data_dir],
    ["docker_socket", config.docker_socket, inputs.sources?.docker_socket],
    ["vm_dir", vmStorageDirs(config, paths).vmDir, inputs.sources?.vm_dir],
    ["image_dir", vmStorageDirs(config, paths).imageDir, inputs.sources?.image_dir],
    ["the project directory", inputs.projectRoot, undefined],
    ...(inputs.configFile === undefined ? [] : [[
      "config",
      inputs.configFile,
      { kind: "flag", flag: "--config" },
    ] as [string, string, ConfigSource]]),
    ...inputs.programPaths.map((path) =>
      ["PATH", path, { kind: "env", variable: "PATH" }] as [string, string, ConfigSource]
    ),
  ];
  for (const [field, path, source] of named) {
    if (/[,\n\r\0]/.test(path)) {
      throw new ConfigError(
        field,
        source,
        `${
          JSON.stringify(path)
        } contains a ',' (or a line break), which Deno's permission flags cannot carry (they separate paths with ','); choose a path without one`,
      );
    }
  }
  const workers = WORKER_NAMES.map((name) => workerPermissions(name, inputs));
  const list = (pick: (permissions: WorkerPermissions) => string[] | boolean) =>
    workers.flatMap((permissions) => {
      const value = pick(permissions);
      return Array.isArray(value) ? value : [];
    });
  const anyNet = workers.some((permissions) => permissions.net === true);
  return {
    read: coveringPaths([
      inputs.projectRoot,
      CONFIG_DIR,
      ...(inputs.configFile === undefined ? [] : [inputs.configFile]),
      paths.dataDir,
      ...list((permissions) => permissions.read),
    ]),
    write: coveringPaths([paths.dataDir, ...list((permissions) => permissions.write)]),
    net: anyNet ? true : unique(list((permissions) => permissions.net)),
    env: unique(["DBC_*", ...list((permissions) => permissions.env)]),
    run: unique(list((permissions) => permissions.run)),
    sys: unique(list((permissions) => permissions.sys)),
  };
}

/**
 * The `deno run` flags for `permissions`, one flag an element
 * (`--allow-read=/a,/b`); an empty list becomes no flag, so nothing is granted.
 */
export function permissionFlags(permissions: ProcessPermissions): string[] {
  const flag = (name: string, values: string[] | true): string[] => {
    if (values === true) return [`--allow-${name}`];
    if (values.length === 0) return [];
    for (const value of values) {
      if (value === "" || /[,\n\r\0]/.test(value)) {
        throw new Error(`cannot grant --allow-${name} of ${JSON.stringify(value)}`);
      }
    }
    return [`--allow-${name}=${values.join(",")}`];
  };
  return [
    ...flag("read", permissions.read),
    ...flag("write", permissions.write),
    ...flag("net", permissions.net),
    ...flag("env", permissions.env),
    ...flag("run", permissions.run),
    ...flag("sys", permissions.sys),
  ];
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** The paths, without repeats and without those inside another one (its grant covers them). */
function coveringPaths(paths: string[]): string[] {
  const all = unique(paths.map((path) => path.length > 1 ? path.replace(/\/+$/, "") : path));
  return all.filter((path) =>
    !all.some((other) => other !== path && (other === "/" || path.startsWith(`${other}/`)))
  );
}
