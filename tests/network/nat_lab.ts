/**
 * A home network behind NAT, made of Linux network namespaces (root only):
 *
 *   root namespace (the "internet"): OUTSIDE_HOST on veth dbcnat-up
 *     └─ namespace dbcnat-r (the router): OUTSIDE_ROUTER on dbcnat-wan, bridge dbcnat-lan
 *          MASQUERADE out of the WAN; FORWARD drops every connection opened from outside
 *          ├─ namespace dbcnat-g1: 10.232.0.11 (a GPU node)
 *          └─ namespace dbcnat-g2: 10.232.0.12 (a GPU node)
 *
 * `setUp` removes whatever an earlier run left first, so it can run after a failure.
 */
export const OUTSIDE_HOST = "10.231.0.1";
export const OUTSIDE_ROUTER = "10.231.0.2";
export const ROUTER = "dbcnat-r";
export const HOMES = [
  { ns: "dbcnat-g1", ip: "10.232.0.11" },
  { ns: "dbcnat-g2", ip: "10.232.0.12" },
] as const;
const LAN_GATEWAY = "10.232.0.1";

async function run(args: string[], allowFailure = false): Promise<string> {
  const output = await new Deno.Command(args[0]!, { args: args.slice(1), stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success && !allowFailure) {
    throw new Error(`${args.join(" ")}: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  return text;
}

const inNs = (ns: string, ...args: string[]) => ["ip", "netns", "exec", ns, ...args];

/** Why the lab cannot be built here, or undefined when it can. */
export async function unavailable(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "network namespaces need root";
  try {
    await run(["ip", "-V"]);
    await run(["iptables", "--version"]);
  } catch (error) {
    return `ip or iptables missing: ${(error as Error).message}`;
  }
  return undefined;
}

/** Removes the namespaces and links (each is gone with its namespace or its peer). */
export async function tearDown(): Promise<void> {
  for (const ns of [ROUTER, ...HOMES.map((home) => home.ns)]) {
    await run(["ip", "netns", "del", ns], true);
  }
  await run(["ip", "link", "del", "dbcnat-up"], true);
}

export async function setUp(): Promise<void> {
  await tearDown();
  await run(["ip", "netns", "add", ROUTER]);
  await run(["ip", "link", "add", "dbcnat-up", "type", "veth", "peer", "name", "dbcnat-wan"]);
  await run(["ip", "link", "set", "dbcnat-wan", "netns", ROUTER]);
  await run(["ip", "addr", "add", `${OUTSIDE_HOST}/24`, "dev", "dbcnat-up"]);
  await run(["ip", "link", "set", "dbcnat-up", "up"]);
  const router = (...args: string[]) => run(inNs(ROUTER, ...args));
  await router("ip", "addr", "add", `${OUTSIDE_ROUTER}/24`, "dev", "dbcnat-wan");
  await router("ip", "link", "set", "dbcnat-wan", "up");
  await router("ip", "link", "set", "lo", "up");
  await router("ip", "route", "add", "default", "via", OUTSIDE_HOST);
  await router("ip", "link", "add", "dbcnat-lan", "type", "bridge");
  await router("ip", "addr", "add", `${LAN_GATEWAY}/24`, "dev", "dbcnat-lan");
  await router("ip", "link", "set", "dbcnat-lan", "up");
  await router("sysctl", "-qw", "net.ipv4.ip_forward=1");
  await router(
    "iptables",
    "-t",
    "nat",
    "-A",
    "POSTROUTING",
    "-s",
    "10.232.0.0/24",
    "-o",
    "dbcnat-wan",
    "-j",
    "MASQUERADE",
  );
  // Replies to what the LAN opened pass; anything opened from outside is dropped.
  await router(
    "iptables",
    "-A",
    "FORWARD",
    "-m",
    "conntrack",
    "--ctstate",
    "ESTABLISHED,RELATED",
    "-j",
    "ACCEPT",
  );
  await router("iptables", "-A", "FORWARD", "-i", "dbcnat-wan", "-j", "DROP");
  await router(
    "iptables",
    "-A",
    "INPUT",
    "-i",
    "dbcnat-wan",
    "-m",
    "conntrack",
    "--ctstate",
    "NEW",
    "-j",
    "DROP",
  );
  for (const [index, home] of HOMES.entries()) {
    const inside = `dbcnat-h${index}`;
    const port = `dbcnat-p${index}`;
    await run(["ip", "netns", "add", home.ns]);
    await router("ip", "link", "add", port, "type", "veth", "peer", "name", inside);
    await router("ip", "link", "set", inside, "netns", home.ns);
    await router("ip", "link", "set", port, "master", "dbcnat-lan");
    await router("ip", "link", "set", port, "up");
    const host = (...args: string[]) => run(inNs(home.ns, ...args));
    await host("ip", "addr", "add", `${home.ip}/24`, "dev", inside);
    await host("ip", "link", "set", inside, "up");
    await host("ip", "link", "set", "lo", "up");
    await host("ip", "route", "add", "default", "via", LAN_GATEWAY);
  }
}

/** The argv prefix that runs a command inside a namespace. */
export function inNamespace(ns: string): string[] {
  return inNs(ns);
}

/** An HTTP request from inside a namespace (its API listens on its own loopback), with curl. */
export async function nsFetch(
  ns: string,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<
  { status: number; body: { error_code: number; error_message?: string; data?: unknown } }
> {
  const args = inNs(
    ns,
    "curl",
    "-s",
    "-m",
    "60",
    "-w",
    "\n%{http_code}",
    "-X",
    init.method ?? "GET",
  );
  for (const [name, value] of Object.entries(init.headers ?? {})) {
    args.push("-H", `${name}: ${value}`);
  }
  if (init.body !== undefined) args.push("--data-binary", init.body);
  args.push(url);
  const text = await run(args, true);
  const newline = text.lastIndexOf("\n");
  const status = Number(text.slice(newline + 1));
  try {
    return { status, body: JSON.parse(text.slice(0, newline)) };
  } catch {
    return { status, body: { error_code: -1, error_message: text } };
  }
}

/**
 * A second lab for hole punching (dcutr_test.ts), all of it in namespaces so that no route in
 * the root namespace changes:
 *
 *   namespace dbcp-net (the "internet"): bridge inet, PUNCH_NET
 *     ├─ dbcp-seed, dbcp-seed2: PUNCH.seed, PUNCH.seed2 (seeds, and the relays of the NAT'd)
 *     ├─ dbcp-client: PUNCH.client (a client-end)
 *     └─ dbcp-r1: router, WAN PUNCH.router, MASQUERADE, drops what is opened from outside
 *          └─ dbcp-g1: PUNCH.home (a GPU node)
 *
 * The outside addresses are public ones: js-libp2p's DCUtR and AutoNAT pass over every private
 * range (10/8, 100.64/10, the documentation ranges, ...), so a lab on those never punches.
 */
export const PUNCH = {
  seed: { ns: "dbcp-seed", ip: "100.200.0.10" },
  seed2: { ns: "dbcp-seed2", ip: "100.200.0.11" },
  client: { ns: "dbcp-client", ip: "100.200.0.20" },
  router: { ns: "dbcp-r1", ip: "100.200.0.101" },
  home: { ns: "dbcp-g1", ip: "10.234.1.11" },
} as const;
const PUNCH_INTERNET = "dbcp-net";
const PUNCH_PREFIX_LENGTH = 24;
const PUNCH_LAN = "10.234.1.0";
const PUNCH_GATEWAY = "10.234.1.1";

/** Removes the hole-punching lab's namespaces (their links go with them). */
export async function tearDownPunch(): Promise<void> {
  for (const ns of [PUNCH_INTERNET, ...Object.values(PUNCH).map((host) => host.ns)]) {
    await run(["ip", "netns", "del", ns], true);
  }
}

/** Builds the hole-punching lab (see {@link PUNCH}), after removing what an earlier run left. */
export async function setUpPunch(): Promise<void> {
  await tearDownPunch();
  await run(["ip", "netns", "add", PUNCH_INTERNET]);
  const internet = (...args: string[]) => run(inNs(PUNCH_INTERNET, ...args));
  await internet("ip", "link", "set", "lo", "up");
  await internet("ip", "link", "add", "inet", "type", "bridge");
  await internet("ip", "link", "set", "inet", "up");
  const outside = [PUNCH.seed, PUNCH.seed2, PUNCH.client, PUNCH.router];
  for (const [index, host] of outside.entries()) {
    await run(["ip", "netns", "add", host.ns]);
    await cable(PUNCH_INTERNET, `port${index}`, "inet", host.ns, "wan0", host.ip);
  }
  const { router, home } = PUNCH;
  await run(["ip", "netns", "add", home.ns]);
  const inRouter = (...args: string[]) => run(inNs(router.ns, ...args));
  await inRouter("ip", "link", "add", "lan", "type", "bridge");
  await inRouter("ip", "addr", "add", `${PUNCH_GATEWAY}/${PUNCH_PREFIX_LENGTH}`, "dev", "lan");
  await inRouter("ip", "link", "set", "lan", "up");
  await cable(router.ns, "port0", "lan", home.ns, "eth0", home.ip);
  await run(inNs(home.ns, "ip", "route", "add", "default", "via", PUNCH_GATEWAY));
  await masquerade(router.ns, `${PUNCH_LAN}/${PUNCH_PREFIX_LENGTH}`, "wan0");
}

/**
 * A veth pair from a bridge in namespace `at` to interface `inside` of namespace `ns`, which
 * gets `ip` and is brought up with its loopback.
 */
async function cable(
  at: string,
  port: string,
  bridge: string,
  ns: string,
  inside: string,
  ip: string,
): Promise<void> {
  await run(
    inNs(at, "ip", "link", "add", port, "type", "veth", "peer", "name", inside, "netns", ns),
  );
  await run(inNs(at, "ip", "link", "set", port, "master", bridge));
  await run(inNs(at, "ip", "link", "set", port, "up"));
  await run(inNs(ns, "ip", "addr", "add", `${ip}/${PUNCH_PREFIX_LENGTH}`, "dev", inside));
  await run(inNs(ns, "ip", "link", "set", inside, "up"));
  await run(inNs(ns, "ip", "link", "set", "lo", "up"));
}

/**
 * A home router's rules: the LAN masqueraded out of `wan`; replies to what the LAN opened pass,
 * anything opened from outside (forwarded or to the router itself) is dropped.
 */
async function masquerade(router: string, lan: string, wan: string): Promise<void> {
  const rule = (...args: string[]) => run(inNs(router, "iptables", ...args));
  await run(inNs(router, "sysctl", "-qw", "net.ipv4.ip_forward=1"));
  await rule("-t", "nat", "-A", "POSTROUTING", "-s", lan, "-o", wan, "-j", "MASQUERADE");
  await rule(
    "-A",
    "FORWARD",
    "-m",
    "conntrack",
    "--ctstate",
    "ESTABLISHED,RELATED",
    "-j",
    "ACCEPT",
  );
  await rule("-A", "FORWARD", "-i", wan, "-j", "DROP");
  await rule("-A", "INPUT", "-i", wan, "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP");
}

/** The TCP connections established in a namespace, as `local peer` address pairs (`ss`). */
export async function establishedTcp(ns: string): Promise<Array<{ local: string; peer: string }>> {
  const text = await run(inNs(ns, "ss", "-Htn", "state", "established"));
  return text.split("\n").filter((line) => line.trim()).map((line) => {
    const fields = line.trim().split(/\s+/);
    return { local: fields[2] ?? "", peer: fields[3] ?? "" };
  });
}
