/**
 * The host side of renters' LANs: libvirt networks (through `virsh`), VXLAN devices and their
 * forwarding entries (through `ip` and `bridge`), and what the host's own networks are. Every
 * command is one argument array (never a shell string), names checked before they are passed,
 * every failure a {@link LanHostError} that says which command failed and why.
 *
 * VXLAN is unicast to the peers the renter named (one all-zero forwarding entry per peer, the
 * kernel's head-end replication), with learning off: frames leave only towards those peers, and
 * a host nobody named can never be learned as where a guest lives. (The original used a multicast
 * group, which only reaches hosts on one network segment.)
 */
import type { ServiceProgram } from "../../mod/mod.ts";
import { runTool, type ToolResult } from "../tools.ts";
import { virshMessage } from "../vm/mod.ts";
import { type Ipv4Range, parseIpv4, parseRange } from "./cidr.ts";
import { LAN_MTU, LAN_TOOL_TIMEOUT_MS, VXLAN_PORT } from "./constants.ts";

/** Runs `ip`, `bridge` or `virsh`; the tests run `ip` and `bridge` inside network namespaces. */
export type LanToolRunner = (
  program: Extract<ServiceProgram, "ip" | "bridge" | "virsh">,
  args: readonly string[],
) => Promise<ToolResult>;

export const systemRunner: LanToolRunner = (program, args) =>
  runTool(program, args, LAN_TOOL_TIMEOUT_MS);

export class LanHostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LanHostError";
  }
}

export type VxlanSpec = { device: string; bridge: string; vni: number; peers: readonly string[] };

/** What the LAN service needs of the host; the tests drive the real one. */
export interface LanHost {
  /** The IPv4 ranges of the host's addresses and routes (the default route left out). */
  hostRanges(): Promise<Ipv4Range[]>;
  /** The source address of the default route: this host's tunnel end; null without one. */
  vtep(): Promise<string | null>;
  /** Defines (from the XML file), starts and autostarts a libvirt network; idempotent. */
  ensureNetwork(name: string, xmlPath: string, bridge: string): Promise<void>;
  /** Stops and undefines a libvirt network; nothing when there is none. */
  removeNetwork(name: string): Promise<void>;
  /** The VXLAN device on the bridge, up, forwarding to exactly `peers`; idempotent. */
  ensureVxlan(spec: VxlanSpec): Promise<void>;
  removeVxlan(device: string): Promise<void>;
}

const IFACE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const NETWORK = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ALL_ZERO_MAC = "00:00:00:00:00:00";

function checked(pattern: RegExp, value: string, what: string): string {
  if (!pattern.test(value)) throw new LanHostError(`bad ${what} ${JSON.stringify(value)}`);
  return value;
}

export class SystemLanHost implements LanHost {
  readonly #uri: string;
  readonly #run: LanToolRunner;

  constructor(options: { libvirtUri: string; run?: LanToolRunner }) {
    this.#uri = options.libvirtUri;
    this.#run = options.run ?? systemRunner;
  }

  async hostRanges(): Promise<Ipv4Range[]> {
    const addresses = JSON.parse(await this.#tool("ip", ["-j", "-4", "addr", "show"])) as {
      addr_info?: { local?: string; prefixlen?: number }[];
    }[];
    const routes = JSON.parse(await this.#tool("ip", ["-j", "-4", "route", "show"])) as {
      dst?: string;
    }[];
    const texts = [
      ...addresses.flatMap((link) =>
        (link.addr_info ?? []).map((info) => `${info.local}/${info.prefixlen}`)
      ),
      ...routes.map((route) => route.dst ?? "default").filter((dst) => dst !== "default")
        .map((dst) => (dst.includes("/") ? dst : `${dst}/32`)),
    ];
    return texts.flatMap((text) => parseRange(text) ?? [])
      // A /0 route other than `default` (e.g. 0.0.0.0/1 halves of a VPN) holds everything.
      .filter((range) => range.prefix > 0);
  }

  async vtep(): Promise<string | null> {
    const routes = JSON.parse(
      await this.#tool("ip", ["-j", "-4", "route", "show", "default"]),
    ) as { dev?: string; prefsrc?: string }[];
    const route = routes[0];
    if (!route?.dev) return null;
    if (route.prefsrc && parseIpv4(route.prefsrc) !== undefined) return route.prefsrc;
    const links = JSON.parse(
      await this.#tool("ip", [
        "-j",
        "-4",
        "addr",
        "show",
        "dev",
        checked(IFACE, route.dev, "device"),
      ]),
    ) as { addr_info?: { local?: string }[] }[];
    return links[0]?.addr_info?.[0]?.local ?? null;
  }

  async ensureNetwork(name: string, xmlPath: string, bridge: string): Promise<void> {
    checked(NETWORK, name, "network name");
    const info = await this.#networkInfo(name);
    if (info === undefined) {
      await this.#virsh(["net-define", "--file", xmlPath]);
    }
    // libvirt may think a network active whose bridge someone deleted: start it afresh.
    if (info?.active && !(await this.#linkExists(bridge))) {
      await this.#virsh(["net-destroy", "--network", name]);
      await this.#virsh(["net-start", "--network", name]);
    } else if (!info?.active) {
      await this.#virsh(["net-start", "--network", name]);
    }
    if (!info?.autostart) await this.#virsh(["net-autostart", "--network", name]);
  }

  async removeNetwork(name: string): Promise<void> {
    checked(NETWORK, name, "network name");
    const info = await this.#networkInfo(name);
    if (info === undefined) return;
    if (info.active) await this.#virsh(["net-destroy", "--network", name]);
    await this.#virsh(["net-undefine", "--network", name]);
  }

  async ensureVxlan(spec: VxlanSpec): Promise<void> {
    const device = checked(IFACE, spec.device, "device name");
    const bridge = checked(IFACE, spec.bridge, "bridge name");
    for (const peer of spec.peers) {
      if (parseIpv4(peer) === undefined) throw new LanHostError(`bad peer ${peer}`);
    }
    if (!(await this.#linkExists(device))) {
      await this.#tool("ip", [
        "link",
        "add",
        device,
        "mtu",
        String(LAN_MTU),
        "type",
        "vxlan",
        "id",
        String(spec.vni),
        "dstport",
        String(VXLAN_PORT),
        "nolearning",
      ]);
    }
    await this.#tool("ip", ["link", "set", "dev", device, "master", bridge]);
    await this.#tool("ip", ["link", "set", "dev", device, "up"]);
    const entries = JSON.parse(
      await this.#tool("bridge", ["-j", "fdb", "show", "dev", device]),
    ) as { mac?: string; dst?: string }[];
    const present = new Set(
      entries.filter((entry) => entry.mac === ALL_ZERO_MAC && entry.dst).map((entry) => entry.dst!),
    );
    const wanted = new Set(spec.peers);
    for (const peer of present) {
      if (!wanted.has(peer)) {
        await this.#tool("bridge", ["fdb", "del", ALL_ZERO_MAC, "dev", device, "dst", peer]);
      }
    }
    for (const peer of wanted) {
      if (!present.has(peer)) {
        await this.#tool("bridge", ["fdb", "append", ALL_ZERO_MAC, "dev", device, "dst", peer]);
      }
    }
  }

  async removeVxlan(device: string): Promise<void> {
    checked(IFACE, device, "device name");
    if (await this.#linkExists(device)) await this.#tool("ip", ["link", "del", "dev", device]);
  }

  async #linkExists(name: string): Promise<boolean> {
    const result = await this.#run("ip", ["-j", "link", "show", "dev", name]);
    if (result.kind === "exited" && result.code === 0) return true;
    if (result.kind === "exited" && /does not exist/i.test(result.stderr)) return false;
    throw new LanHostError(`ip link show ${name}: ${describe(result)}`);
  }

  async #networkInfo(
    name: string,
  ): Promise<{ active: boolean; autostart: boolean } | undefined> {
    const result = await this.#run("virsh", ["-c", this.#uri, "net-info", "--network", name]);
    if (result.kind === "exited" && result.code !== 0 && /not found/i.test(result.stderr)) {
      return undefined;
    }
    const text = this.#output(`virsh net-info ${name}`, result);
    const field = (key: string) => new RegExp(`^${key}:\\s*(\\S+)`, "m").exec(text)?.[1];
    return { active: field("Active") === "yes", autostart: field("Autostart") === "yes" };
  }

  async #virsh(args: string[]): Promise<string> {
    const what = `virsh ${args.filter((arg) => !arg.startsWith("--")).join(" ")}`;
    return this.#output(what, await this.#run("virsh", ["-c", this.#uri, ...args]));
  }

  async #tool(program: "ip" | "bridge", args: string[]): Promise<string> {
    return this.#output(`${program} ${args.join(" ")}`, await this.#run(program, args));
  }

  #output(what: string, result: ToolResult): string {
    if (result.kind === "exited" && result.code === 0) return result.stdout;
    throw new LanHostError(`${what}: ${describe(result)}`);
  }
}

function describe(result: ToolResult): string {
  switch (result.kind) {
    case "not_found":
      return `${result.program} is not installed (${
        result.program === "virsh" ? "libvirt-clients" : "iproute2"
      })`;
    case "timed_out":
      return `no answer within ${result.timeoutMs} ms`;
    case "exited":
      return `exit ${result.code}: ${virshMessage(result.stderr)}`;
  }
}
