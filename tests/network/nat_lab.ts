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
