/**
 * Node configuration: one table of fields, each settable from four layers,
 * later layers winning: built-in defaults, a JSON config file (`--config` /
 * `DBC_CONFIG`), `DBC_*` environment variables, then command-line flags.
 * Every field has the same name everywhere: `http_port` in the file,
 * `DBC_HTTP_PORT` in the environment, `--http-port` on the command line.
 *
 * Validation happens once, at start; a bad value stops the node with a
 * {@link ConfigError} that names the field and where its value came from.
 *
 * @example
 * ```ts
 * const { config } = loadConfig({ args: ["--http-port", "9000"], env: {}, cwd: "/srv/dbc" });
 * config.http_port; // 9000
 * ```
 */
import { z } from "zod";
import { LOG_FORMATS, LOG_LEVELS } from "./log.ts";
import { decodeSs58 } from "./wallet/mod.ts";
import { DEFAULT_METRICS_ALLOW, parseCidr } from "./metrics/allow.ts";
import { parseImageServerEntry } from "./image_server_entry.ts";

export const ROLES = ["gpu", "seed", "client"] as const;
export type Role = typeof ROLES[number];

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;

const hostSchema = z.string().refine(
  (host) => IPV4.test(host) || HOSTNAME.test(host) || (host.includes(":") && IPV6.test(host)),
  { message: "expected a host name or an IP address" },
);
const portSchema = z.number({ message: "expected an integer from 1 to 65535" })
  .int({ message: "expected an integer from 1 to 65535" })
  .min(1, { message: "expected an integer from 1 to 65535" })
  .max(65535, { message: "expected an integer from 1 to 65535" });

/** A peer address as written in configuration: `host:port`, or `[v6]:port`. */
export type HostPort = { host: string; port: number };

export function parseHostPort(text: string): HostPort | undefined {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\[\]]+):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const host = hostSchema.safeParse(match[1]);
  const port = portSchema.safeParse(Number(match[2]));
  return host.success && port.success ? { host: host.data, port: port.data } : undefined;
}

/** A seed as configured: where to dial it and, when given, the node id it must answer as. */
export type SeedAddress = HostPort & { id: string | undefined };

const SEED_MULTIADDR =
  /^\/(ip4|ip6|dns|dns4|dns6)\/([^/]+)\/tcp\/(\d{1,5})\/ws(?:\/p2p\/([^/]+))?$/;

/**
 * `host:port`, `host:port/p2p/<node id>` or a WebSocket multiaddr
 * `/ip4/<ip>/tcp/<port>/ws/p2p/<node id>`. A seed given with its id is that node
 * only; the network layer pins a bare one to the id it meets first.
 */
export function parseSeedAddress(text: string): SeedAddress | undefined {
  const multi = SEED_MULTIADDR.exec(text);
  const cut = text.indexOf("/p2p/");
  const [hostPort, id] = multi
    ? [multi[1] === "ip6" ? `[${multi[2]}]:${multi[3]}` : `${multi[2]}:${multi[3]}`, multi[4]]
    : cut < 0
    ? [text, undefined]
    : [text.slice(0, cut), text.slice(cut + 5)];
  const address = parseHostPort(hostPort);
  if (!address || (id !== undefined && !/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/.test(id))) {
    return undefined;
  }
  return { ...address, id };
}

const seedSchema = z.string().refine((text) => parseSeedAddress(text) !== undefined, {
  message:
    "expected host:port (IPv6 as [addr]:port), host:port/p2p/<node id> or /ip4/<ip>/tcp/<port>/ws/p2p/<node id>",
});

type Field<T> = {
  schema: z.ZodType<T>;
  /** Turns the text of an environment variable or flag into the value the schema checks. */
  fromText: (text: string) => unknown;
  defaultValue: T;
  help: string;
};

const asText = (text: string) => text;
/** An integer from `min` to `max`, with the range in the message. */
function intBetween(min: number, max: number) {
  const message = `expected an integer from ${min} to ${max}`;
  return z.number({ message }).int({ message }).min(min, { message }).max(max, { message });
}
const asInteger = (text: string): unknown => (/^-?\d+$/.test(text.trim()) ? Number(text) : text);
const asList = (text: string) =>
  text.split(",").map((item) => item.trim()).filter((item) => item !== "");

function field<T>(
  schema: z.ZodType<T>,
  fromText: Field<T>["fromText"],
  defaultValue: T,
  help: string,
): Field<T> {
  return { schema, fromText, defaultValue, help };
}

/** Every configuration field, its type, default and help text: the single source of truth. */
export const CONFIG_FIELDS = {
  role: field(
    z.enum(ROLES, { message: `expected one of ${ROLES.join(", ")}` }),
    asText,
    "gpu" as Role,
    "what this node does: gpu (runs VMs and containers), seed (entry point), client (serves the renter API)",
  ),
  data_dir: field(
    z.string().min(1, { message: "expected a directory path" }),
    asText,
    "./data",
    "where keys, databases and VM disks live",
  ),
  http_host: field(hostSchema, asText, "127.0.0.1", "address the HTTP API listens on"),
  http_port: field(portSchema, asInteger, 8080, "port the HTTP API listens on"),
  p2p_host: field(hostSchema, asText, "0.0.0.0", "address the peer-to-peer listener binds"),
  p2p_port: field(portSchema, asInteger, 5001, "port the peer-to-peer listener binds"),
  p2p_tcp_port: field(
    z.number({ message: "expected an integer from 0 to 65535" }).int({
      message: "expected an integer from 0 to 65535",
    }).min(0, { message: "expected an integer from 0 to 65535" })
      .max(65535, { message: "expected an integer from 0 to 65535" }),
    asInteger,
    0,
    "port of the peer-to-peer TCP listener beside the WebSocket one (hole punching needs TCP); 0: one the system picks",
  ),
  seeds: field(
    z.array(seedSchema),
    asList,
    [] as string[],
    "seed nodes to join through, comma-separated host:port or host:port/p2p/<node id> (a bare host:port is pinned to the node first met there)",
  ),
  network_id: field(
    z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, {
      message: "expected 1-63 lower-case letters, digits or dashes",
    }),
    asText,
    "dbc-mainnet",
    "network this node belongs to; peers of another network are refused",
  ),
  log_format: field(
    z.enum(LOG_FORMATS, { message: `expected one of ${LOG_FORMATS.join(", ")}` }),
    asText,
    "text" as typeof LOG_FORMATS[number],
    "text (human-readable) or json (one JSON object a line)",
  ),
  log_level: field(
    z.enum(LOG_LEVELS, { message: `expected one of ${LOG_LEVELS.join(", ")}` }),
    asText,
    "info" as typeof LOG_LEVELS[number],
    "lowest level that is logged",
  ),
  request_timeout_ms: field(
    z.number().int().min(100, { message: "expected an integer from 100 to 600000" }).max(600_000, {
      message: "expected an integer from 100 to 600000",
    }),
    asInteger,
    30_000,
    "how long a request waits for a worker or a remote node",
  ),
  docker_socket: field(
    z.string().regex(/^\/[^\0,]*$/, { message: "expected an absolute path without ','" }),
    asText,
    "/var/run/docker.sock",
    "unix socket of the Docker Engine API (Docker, or Podman's API service) that runs containers",
  ),
  container_stop_timeout_s: field(
    z.number().int().min(0, { message: "expected an integer from 0 to 600" }).max(600, {
      message: "expected an integer from 0 to 600",
    }),
    asInteger,
    10,
    "seconds a container has to exit when stopped before it is killed",
  ),
  container_host_ports: field(
    z.string().regex(/^\d{1,5}-\d{1,5}$/, { message: "expected first-last, e.g. 20000-29999" })
      .refine((text) => {
        const [first, last] = text.split("-").map(Number) as [number, number];
        return first >= 1 && last <= 65535 && first <= last;
      }, { message: "expected first-last with 1 <= first <= last <= 65535" }),
    asText,
    "20000-29999",
    "host ports the node picks from when publishing a container port the renter did not name",
  ),
  http_rate_limit_per_s: field(
    z.number().int().min(1, { message: "expected an integer from 1 to 100000" }).max(100_000, {
      message: "expected an integer from 1 to 100000",
    }),
    asInteger,
    50,
    "requests per second one client address may make to the HTTP API, on average",
  ),
  http_rate_burst: field(
    z.number().int().min(1, { message: "expected an integer from 1 to 100000" }).max(100_000, {
      message: "expected an integer from 1 to 100000",
    }),
    asInteger,
    100,
    "requests one client address may make in a burst before the average applies",
  ),
  metrics_allow: field(
    z.array(
      z.string().refine((text) => parseCidr(text) !== undefined, {
        message: "expected IP addresses or CIDR blocks, e.g. 127.0.0.0/8,::1/128,10.0.0.0/8",
      }),
    ),
    asList,
    [...DEFAULT_METRICS_ALLOW],
    "client addresses (CIDR blocks, comma-separated) that may scrape GET /metrics on the HTTP API; empty: nobody",
  ),
  compat_http_port: field(
    intBetween(0, 65_535),
    asInteger,
    5002,
    "port of a client-end's second HTTP listener, which speaks the original DBC node's dialect (on http_host); 0: off",
  ),
  libvirt_uri: field(
    z.string().regex(/^[a-z0-9+]+:\/\/[^\s,]*$/, {
      message: "expected a libvirt URI like qemu:///system",
    }),
    asText,
    "qemu:///system",
    "libvirt connection the node service drives VMs through (virsh -c)",
  ),
  vm_domain_type: field(
    z.enum(["kvm", "qemu"], { message: "expected kvm or qemu" }),
    asText,
    "kvm" as "kvm" | "qemu",
    "libvirt domain type of VMs: kvm (hardware virtualisation) or qemu (emulation, for hosts without /dev/kvm)",
  ),
  vm_dir: field(
    z.string().regex(/^(\/[^\0,]*)?$/, { message: "expected an absolute path, or empty" }),
    asText,
    "",
    "where VM disks (qcow2 overlays) and console logs live; empty: <data_dir>/vms",
  ),
  image_dir: field(
    z.string().regex(/^(\/[^\0,]*)?$/, { message: "expected an absolute path, or empty" }),
    asText,
    "",
    "where VM images live; empty: <data_dir>/images",
  ),
  vm_min_free_disk_gib: field(
    intBetween(0, 1_000_000),
    asInteger,
    10,
    "free space kept on the VM and image volumes: a new VM, a bigger disk, a snapshot or an image download is refused below it",
  ),
  vm_network: field(
    z.string().regex(
      /^(user|bridge:[A-Za-z0-9][A-Za-z0-9_.-]{0,14}|network:[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$/,
      { message: "expected user, bridge:<interface> or network:<libvirt network>" },
    ),
    asText,
    "user",
    "how VMs are networked: user (NAT, login port forwarded), bridge:<interface>, network:<libvirt network>",
  ),
  vm_listen_address: field(
    z.string().regex(
      /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/,
      { message: "expected an IPv4 address" },
    ),
    asText,
    "0.0.0.0",
    "host address VM login ports (SSH/RDP) and VNC listen on",
  ),
  vm_port_range: field(
    z.string().regex(/^\d{1,5}-\d{1,5}$/, { message: "expected first-last, e.g. 30000-32767" })
      .refine((text) => {
        const [first, last] = text.split("-").map(Number) as [number, number];
        return first >= 1 && last <= 65535 && first <= last;
      }, { message: "expected first-last with 1 <= first <= last <= 65535" }),
    asText,
    "30000-32767",
    "host ports the node picks from for a VM's login port (user-mode network) when the renter names none",
  ),
  vm_domain_prefix: field(
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}-$/, {
      message: "expected 1-32 letters, digits, '_', '.' or '-', ending in '-' (e.g. dbc-)",
    }),
    asText,
    "dbc-",
    "prefix of the libvirt domains this node owns; two nodes sharing a libvirt must use different ones",
  ),
  vm_login_user: field(
    z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, {
      message: "expected a Linux user name: a-z or '_', then a-z, 0-9, '_' or '-' (at most 32)",
    }),
    asText,
    "dbc",
    "the user a renter logs in to a Linux VM as (made by cloud-init with the renter's keys and password, sudo without password)",
  ),
  image_download_hosts: field(
    z.array(
      z.string().refine(
        (text) => HOSTNAME.test(text) || IPV4.test(text) || parseHostPort(text) !== undefined,
        {
          message: "expected host or host:port",
        },
      ),
    ),
    asList,
    [] as string[],
    "hosts (host or host:port, comma-separated) the node service may download VM images from",
  ),
  image_download_private: field(
    z.boolean({ message: "expected true or false" }),
    (
      text,
    ) => (/^(true|1|yes|on)$/i.test(text) ? true : /^(false|0|no|off)$/i.test(text) ? false : text),
    false,
    "let image downloads reach loopback, private and link-local addresses (a mirror on the LAN); otherwise a listed host that resolves there is refused at the connection",
  ),
  image_servers: field(
    z.array(z.string()).superRefine((entries, context) => {
      const ids = new Set<string>();
      for (const entry of entries) {
        const parsed = parseImageServerEntry(entry);
        if (!parsed.ok) context.addIssue({ code: "custom", message: parsed.message });
        else if (ids.has(parsed.server.id)) {
          context.addIssue({ code: "custom", message: `image server ${parsed.server.id} twice` });
        } else ids.add(parsed.server.id);
      }
    }),
    asList,
    [] as string[],
    "image servers (WebDAV) renters and the operator download VM images from and upload images and snapshots to: <id>=<http(s) URL>, comma-separated",
  ),
  image_server_private: field(
    z.boolean({ message: "expected true or false" }),
    (
      text,
    ) => (/^(true|1|yes|on)$/i.test(text) ? true : /^(false|0|no|off)$/i.test(text) ? false : text),
    false,
    "let transfers with image servers reach loopback, private and link-local addresses (a server on the LAN); otherwise a server that resolves there is refused at the connection",
  ),
  monitor_interval_s: field(
    intBetween(0, 3_600),
    asInteger,
    30,
    "how often a GPU node sends the metrics of each renter's VMs and of the host to the monitoring servers the renter named (the original's 30 s); 0: never",
  ),
  monitor_allow_private: field(
    z.boolean({ message: "expected true or false" }),
    (
      text,
    ) => (/^(true|1|yes|on)$/i.test(text) ? true : /^(false|0|no|off)$/i.test(text) ? false : text),
    false,
    "let renters name monitoring servers at loopback, private and link-local addresses (a LAN's own monitoring); otherwise such an address is refused, and a name that resolves there is refused at the connection",
  ),
  p2p_target_outbound: field(
    intBetween(1, 64),
    asInteger,
    8,
    "outbound peer links the node keeps open",
  ),
  p2p_max_inbound: field(
    intBetween(0, 1024),
    asInteger,
    32,
    "inbound peer links the node accepts at most; beyond it newcomers get other peers' addresses",
  ),
  p2p_exchange_interval_ms: field(
    intBetween(100, 3_600_000),
    asInteger,
    30_000,
    "how often the node sends each neighbour its peer list (departures travel faster, batched)",
  ),
  p2p_ping_interval_ms: field(
    intBetween(100, 600_000),
    asInteger,
    15_000,
    "how often each neighbour is pinged",
  ),
  p2p_ping_misses: field(
    intBetween(1, 100),
    asInteger,
    3,
    "missed pings in a row after which a neighbour is dropped and probed once",
  ),
  p2p_nonce_cache_size: field(
    intBetween(100, 10_000_000),
    asInteger,
    // Nonces live p2p_nonce_ttl_ms (300 s): room for 1,333 new messages a second, 12 times the
    // market's refreshes at 65,536 GPU nodes; about 100 bytes each, 40 MiB when full.
    400_000,
    "broadcast and routed-message nonces remembered at most (duplicates are dropped)",
  ),
  p2p_nonce_ttl_ms: field(
    intBetween(10_000, 3_600_000),
    asInteger,
    300_000,
    "how long nonces are remembered; older messages are refused by their time stamp",
  ),
  p2p_rate_limit_per_s: field(
    intBetween(1, 100_000),
    asInteger,
    200,
    "messages a second one peer may send on average (twice that in a burst); more are dropped, and a peer sending four times as many is cut off; its bytes a second may be 8 KiB a message, 2 MiB at least",
  ),
  auth_timestamp_window_s: field(
    intBetween(10, 3_600),
    asInteger,
    300,
    "how far the time a wallet signed a request may lie from now, either way (replays are refused)",
  ),
  auth_legacy_nonce_signing: field(
    z.boolean({ message: "expected true or false" }),
    (
      text,
    ) => (/^(true|1|yes|on)$/i.test(text) ? true : /^(false|0|no|off)$/i.test(text) ? false : text),
    false,
    "also accept original clients that sign only the nonce (weaker: not bound to the request)",
  ),
  lease_check_interval_s: field(
    intBetween(1, 86_400),
    asInteger,
    60,
    "how often a GPU node asks the verification service about each lease",
  ),
  lease_retention_days: field(
    intBetween(0, 365),
    asInteger,
    10,
    "days an instance whose rental ended is kept (stopped) for a renewal before it is deleted",
  ),
  verification_service: field(
    z.enum(["ledger", "substrate"], { message: "expected ledger or substrate" }),
    asText,
    "ledger" as "ledger" | "substrate",
    "where rentals are recorded: ledger (the seeds' embedded ledger) or substrate (the original chain)",
  ),
  substrate_rpc_url: field(
    z.string().regex(/^(wss?:\/\/[^\s,]+)?$/, { message: "expected ws://host:port or wss://host" }),
    asText,
    "",
    "WebSocket JSON-RPC endpoint of the chain when verification_service is substrate",
  ),
  substrate_machine_id: field(
    z.string().regex(/^([A-Za-z0-9][A-Za-z0-9._-]{0,127})?$/, { message: "expected a machine id" }),
    asText,
    "",
    "this machine's id on the chain; empty: the node id",
  ),
  machine_id: field(
    z.string().regex(/^([0-9a-f]{64})?$/, { message: "expected 64 lower-case hex digits" }),
    asText,
    "",
    "the machine id original clients name this GPU node by (64 hex); empty: substrate_machine_id when it has that form, else derived from the node key",
  ),
  ledger_validators: field(
    z.array(
      z.string().refine((text) => decodeSs58(text) !== undefined, {
        message: "expected SS58 account addresses",
      }),
    ),
    asList,
    [] as string[],
    "wallets (SS58, comma-separated) that may validate machines in a seed's ledger; empty: refused at start unless ledger_open_validation",
  ),
  ledger_open_validation: field(
    z.boolean({ message: "expected true or false" }),
    (
      text,
    ) => (/^(true|1|yes|on)$/i.test(text) ? true : /^(false|0|no|off)$/i.test(text) ? false : text),
    false,
    "devnets and tests only: a ledger with empty ledger_validators lets any wallet but the owner validate; otherwise such a ledger refuses to start",
  ),
  ledger_authority: field(
    z.string().regex(/^(12D3KooW[1-9A-HJ-NP-Za-km-z]{44})?$/, {
      message: "expected a node id (12D3KooW followed by 44 base58 characters), or empty",
    }),
    asText,
    "",
    "node id of the one seed that keeps the network's ledger; every other node asks only it; empty: only a lone seed keeps its own",
  ),
  ledger_admins: field(
    z.array(
      z.string().refine((text) => decodeSs58(text) !== undefined, {
        message: "expected SS58 account addresses",
      }),
    ),
    asList,
    [] as string[],
    "wallets (SS58, comma-separated) that may fund accounts in a seed's ledger; empty: nobody can, so only free machines rent",
  ),
  ledger_heartbeat_timeout_s: field(
    intBetween(0, 86_400),
    asInteger,
    90,
    "a machine whose heartbeat the ledger has not had for this long is down, and its renter is not billed for the time; 0: not watched",
  ),
  machine_heartbeat_interval_s: field(
    intBetween(1, 3_600),
    asInteger,
    20,
    "how often a GPU node tells the ledger authority it is alive (signed by its node key)",
  ),
  owner_wallet: field(
    z.string().refine((text) => text === "" || decodeSs58(text) !== undefined, {
      message: "expected an SS58 account address, or empty",
    }),
    asText,
    "",
    "the wallet (SS58) that owns this GPU node: the only one its node key agrees to register it for",
  ),
  ledger_verification_window_s: field(
    intBetween(90, 30 * 86_400),
    asInteger,
    36 * 3_600,
    "how long a validation round lasts on a seed's ledger; cut into 9 slots, 3 per validator",
  ),
  announce_interval_s: field(
    intBetween(1, 3_600),
    asInteger,
    600,
    "how often a GPU node announces its unchanged machine (GPUs, CPU, memory, disk, state, price) to the network; a change is announced at once",
  ),
  rent_price_per_hour: field(
    z.string().regex(/^(0|[1-9][0-9]{0,37})?$/, {
      message: "expected a non-negative integer as decimal text (smallest currency unit), or empty",
    }),
    asText,
    "",
    "the asking price per hour a GPU node announces, in the smallest currency unit; empty: none",
  ),
} as const;

export type ConfigKey = keyof typeof CONFIG_FIELDS;
type ValueOf<K extends ConfigKey> = (typeof CONFIG_FIELDS)[K] extends Field<infer T> ? T : never;
/** The validated configuration every part of the node reads. */
export type NodeConfig = { readonly [K in ConfigKey]: ValueOf<K> };

export type ConfigSource =
  | { kind: "default" }
  | { kind: "file"; path: string }
  | { kind: "env"; variable: string }
  | { kind: "flag"; flag: string };

/** A configuration that cannot be used; `field` names the offending field (or flag). */
export class ConfigError extends Error {
  constructor(readonly field: string, readonly source: ConfigSource | undefined, detail: string) {
    super(
      `invalid configuration: ${field}${
        source ? ` (from ${describeSource(source)})` : ""
      }: ${detail}`,
    );
    this.name = "ConfigError";
  }
}

export function describeSource(source: ConfigSource): string {
  switch (source.kind) {
    case "default":
      return "default";
    case "file":
      return `config file ${source.path}`;
    case "env":
      return `environment variable ${source.variable}`;
    case "flag":
      return `flag ${source.flag}`;
  }
}

export const envName = (key: ConfigKey) => `DBC_${key.toUpperCase()}`;
export const flagName = (key: ConfigKey) => `--${key.replaceAll("_", "-")}`;
const CONFIG_KEYS = Object.keys(CONFIG_FIELDS) as ConfigKey[];

export type LoadedConfig = {
  config: NodeConfig;
  sources: Record<ConfigKey, ConfigSource>;
  /** The config file that was read, if any. */
  configFile?: string;
};

/** What the command line asked for besides configuration. */
export type CommandLine =
  | { action: "run"; loaded: LoadedConfig }
  | { action: "help" }
  | { action: "version" };

export type LoadConfigInput = {
  args: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** Directory that relative paths are resolved against. */
  cwd: string;
  /** Reads the config file; injectable so tests need no files. */
  readTextFile?: (path: string) => string;
};

/** Parses flags and layers configuration; throws {@link ConfigError} on any bad input. */
export function parseCommandLine(input: LoadConfigInput): CommandLine {
  const flags = parseFlags(input.args);
  if (flags.help) return { action: "help" };
  if (flags.version) return { action: "version" };
  return { action: "run", loaded: layerConfig(input, flags) };
}

/** Convenience for callers that only want the configuration. */
export function loadConfig(input: LoadConfigInput): LoadedConfig {
  const line = parseCommandLine(input);
  if (line.action !== "run") {
    throw new ConfigError(line.action, undefined, "not a configuration flag here");
  }
  return line.loaded;
}

type ParsedFlags = {
  values: Map<ConfigKey, { text: string; flag: string }>;
  configPath?: string;
  help: boolean;
  version: boolean;
};

function parseFlags(args: readonly string[]): ParsedFlags {
  const parsed: ParsedFlags = { values: new Map(), help: false, version: false };
  const byFlag = new Map(CONFIG_KEYS.map((key) => [flagName(key), key]));
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === "--help" || arg === "-h") {
      parsed.help = true;
      continue;
    }
    if (arg === "--version") {
      parsed.version = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      throw new ConfigError(arg, undefined, "unexpected argument; flags look like --name value");
    }
    const equals = arg.indexOf("=");
    const flag = equals === -1 ? arg : arg.slice(0, equals);
    let text: string | undefined = equals === -1 ? undefined : arg.slice(equals + 1);
    if (text === undefined) {
      const next = args[index + 1];
      if (next === undefined || next.startsWith("--")) {
        throw new ConfigError(flag, undefined, "missing value");
      }
      text = next;
      index++;
    }
    if (flag === "--config") {
      parsed.configPath = text;
      continue;
    }
    const key = byFlag.get(flag);
    if (!key) throw new ConfigError(flag, undefined, "unknown flag (see --help)");
    parsed.values.set(key, { text, flag });
  }
  return parsed;
}

function layerConfig(input: LoadConfigInput, flags: ParsedFlags): LoadedConfig {
  const raw = new Map<ConfigKey, { value: unknown; source: ConfigSource }>();
  for (const key of CONFIG_KEYS) {
    raw.set(key, { value: CONFIG_FIELDS[key].defaultValue, source: { kind: "default" } });
  }

  const configPath = flags.configPath ?? nonEmpty(input.env.DBC_CONFIG);
  let configFile: string | undefined;
  if (configPath !== undefined) {
    configFile = resolvePath(input.cwd, configPath);
    for (const [key, value] of Object.entries(readConfigFile(configFile, input.readTextFile))) {
      if (!isConfigKey(key)) {
        throw new ConfigError(
          key,
          { kind: "file", path: configFile },
          `unknown configuration key; known keys: ${CONFIG_KEYS.join(", ")}`,
        );
      }
      raw.set(key, { value, source: { kind: "file", path: configFile } });
    }
  }
  for (const key of CONFIG_KEYS) {
    const text = input.env[envName(key)];
    if (text !== undefined) {
      raw.set(key, {
        value: CONFIG_FIELDS[key].fromText(text),
        source: { kind: "env", variable: envName(key) },
      });
    }
  }
  for (const [key, { text, flag }] of flags.values) {
    raw.set(key, { value: CONFIG_FIELDS[key].fromText(text), source: { kind: "flag", flag } });
  }

  const config: Record<string, unknown> = {};
  const sources = {} as Record<ConfigKey, ConfigSource>;
  for (const key of CONFIG_KEYS) {
    const { value, source } = raw.get(key)!;
    const result = (CONFIG_FIELDS[key].schema as z.ZodType).safeParse(value);
    if (!result.success) {
      const issue = result.error.issues[0];
      const where = issue && issue.path.length > 0 ? `[${issue.path.join(".")}] ` : "";
      throw new ConfigError(
        key,
        source,
        `${where}${issue?.message ?? "invalid value"}; got ${JSON.stringify(value)}`,
      );
    }
    config[key] = result.data;
    sources[key] = source;
  }
  config.data_dir = resolvePath(input.cwd, config.data_dir as string);
  return { config: config as NodeConfig, sources, configFile };
}

function readConfigFile(
  path: string,
  readTextFile = (p: string) => Deno.readTextFileSync(p),
): Record<string, unknown> {
  let text: string;
  try {
    text = readTextFile(path);
  } catch (error) {
    throw new ConfigError(
      "config",
      { kind: "flag", flag: "--config" },
      `cannot read ${path}: ${(error as Error).message}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      "config",
      { kind: "file", path },
      `not valid JSON: ${(error as Error).message}`,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(
      "config",
      { kind: "file", path },
      "expected a JSON object of configuration keys",
    );
  }
  return parsed as Record<string, unknown>;
}

function isConfigKey(key: string): key is ConfigKey {
  return Object.hasOwn(CONFIG_FIELDS, key);
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text === "" ? undefined : text;
}

/** Resolves `path` against `cwd` without touching the file system. */
export function resolvePath(cwd: string, path: string): string {
  const joined = path.startsWith("/") ? path : `${cwd.replace(/\/+$/, "")}/${path}`;
  const parts: string[] = [];
  for (const part of joined.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

/** The `--help` text, generated from {@link CONFIG_FIELDS} so it never drifts. */
export function helpText(): string {
  const lines = [
    "Usage: deno task node [flags]",
    "",
    "Each flag has an environment variable and a config-file key of the same name;",
    "precedence: flags > DBC_* environment > config file > defaults.",
    "",
    `  ${"--config PATH".padEnd(28)} JSON config file (DBC_CONFIG)`,
  ];
  for (const key of CONFIG_KEYS) {
    const spec = CONFIG_FIELDS[key];
    lines.push(
      `  ${`${flagName(key)} VALUE`.padEnd(28)} ${spec.help} (${envName(key)}; default ${
        JSON.stringify(spec.defaultValue)
      })`,
    );
  }
  lines.push(`  ${"--help".padEnd(28)} this text`, `  ${"--version".padEnd(28)} print the version`);
  return lines.join("\n");
}
