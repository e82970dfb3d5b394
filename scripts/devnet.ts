/**
 * `deno task devnet`: a whole network on loopback — one seed (with the
 * embedded ledger, every other node's `ledger_authority`), two GPU nodes and two client-ends — each a real node
 * process started the way operators start one (`deno task node`), with its
 * own data directory and ports. Prints where to point the CLI; Ctrl-C stops
 * them all.
 *
 * Flags: --base-port N (default 18080: HTTP ports N.., p2p ports N+1000.., the client-ends'
 *        original-dialect ports N+2000..),
 *        --dir PATH (default ./data-devnet), --fresh (wipe the data first).
 * Extra node settings pass through DBC_* variables (e.g. DBC_VM_DOMAIN_TYPE=qemu).
 */

export type DevnetNode = {
  name: string;
  role: "seed" | "gpu" | "client";
  httpPort: number;
  p2pPort: number;
  /** A client-end's listener in the original dialect (http/compat/); absent or 0: none. */
  compatPort?: number;
  dataDir: string;
  /**
   * Its libvirt domains' prefix: the GPU nodes share the host's libvirt, and each must see only
   * its own domains (neither the other's, nor a production node's `dbc-` ones).
   */
  domainPrefix: string;
};

export const DEVNET_NETWORK_ID = "dbc-devnet";

/**
 * The well-known development accounts (`//Alice`, `//Ferdie`: the polkadot-js keyring's dev
 * seeds, public knowledge): Alice owns the devnet's GPU nodes, Ferdie is its ledger admin, the
 * bank that funds renters. A devnet is for trying things; nothing of value is kept on it.
 */
export const DEVNET_OWNER = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
export const DEVNET_LEDGER_ADMIN = "5CiPPseXPECbkjWCa6MnjNokrgYjMqmKndv2rSnekmSK2DjL";
/**
 * A validation round of 270 s: nine slots of 30 s, so three validators check a machine within a
 * minute and a half (production: 36 hours).
 */
export const DEVNET_VERIFICATION_WINDOW_S = 270;

/** The five nodes of the devnet, their roles and ports; `domainRoot` starts every domain prefix. */
export function devnetLayout(basePort: number, dir: string, domainRoot = "dbcdev-"): DevnetNode[] {
  const roles: Array<[string, DevnetNode["role"]]> = [
    ["seed", "seed"],
    ["gpu-1", "gpu"],
    ["gpu-2", "gpu"],
    ["client-1", "client"],
    ["client-2", "client"],
  ];
  return roles.map(([name, role], index) => ({
    name,
    role,
    httpPort: basePort + index,
    p2pPort: basePort + 1000 + index,
    compatPort: role === "client" ? basePort + 2000 + index : 0,
    dataDir: `${dir}/${name}`,
    domainPrefix: `${domainRoot}${name}-`,
  }));
}

/**
 * A node's flags. Every node but the seed joins through the seed and asks the seed's ledger only:
 * `seedId` (known once the seed is up) is its `ledger_authority`.
 */
export function nodeArgs(node: DevnetNode, seedP2pPort: number, seedId?: string): string[] {
  const args = [
    "--role",
    node.role,
    "--data-dir",
    node.dataDir,
    "--http-port",
    String(node.httpPort),
    "--p2p-host",
    "127.0.0.1",
    "--p2p-port",
    String(node.p2pPort),
    "--network-id",
    DEVNET_NETWORK_ID,
    "--vm-domain-prefix",
    node.domainPrefix,
  ];
  if (node.role === "seed") {
    args.push(
      "--ledger-open-validation",
      "true",
      "--ledger-admins",
      DEVNET_LEDGER_ADMIN,
      "--ledger-verification-window-s",
      String(DEVNET_VERIFICATION_WINDOW_S),
    );
  }
  if (node.role === "gpu") args.push("--owner-wallet", DEVNET_OWNER);
  if (node.role === "client") args.push("--compat-http-port", String(node.compatPort ?? 0));
  if (node.role !== "seed") args.push("--seeds", `127.0.0.1:${seedP2pPort}`);
  if (node.role !== "seed" && seedId) args.push("--ledger-authority", seedId);
  return args;
}

/** The operator API takes absolute paths only. */
function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path.replace(/^\.\//, "")}`;
}

function flag(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index === -1 ? undefined : args[index + 1];
}

async function waitForNode(
  node: DevnetNode,
  child: Deno.ChildProcess,
  deadline: number,
): Promise<string> {
  let exited = false;
  void child.status.then(() => (exited = true));
  while (Date.now() < deadline && !exited) {
    try {
      const response = await fetch(`http://127.0.0.1:${node.httpPort}/api/v1/node`);
      const body = await response.json();
      if (response.ok) return body.data.node_id as string;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${node.name} did not come up${exited ? " (it exited; see its log above)" : ""}`);
}

async function main(args: string[]): Promise<number> {
  const basePort = Number(flag(args, "--base-port") ?? 18080);
  const dir = flag(args, "--dir") ?? "./data-devnet";
  if (!Number.isInteger(basePort) || basePort < 1024 || basePort > 60_000) {
    console.error("--base-port must be an integer from 1024 to 60000");
    return 2;
  }
  if (args.includes("--fresh")) await Deno.remove(dir, { recursive: true }).catch(() => {});
  const layout = devnetLayout(basePort, dir);
  const seed = layout[0]!;
  const children = new Map<string, Deno.ChildProcess>();
  const stopAll = async () => {
    for (const child of children.values()) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
    }
    await Promise.all([...children.values()].map((child) => child.status));
  };
  Deno.addSignalListener("SIGINT", () => void stopAll().then(() => Deno.exit(0)));
  Deno.addSignalListener("SIGTERM", () => void stopAll().then(() => Deno.exit(0)));

  const ids = new Map<string, string>();
  for (const node of layout) {
    const child = new Deno.Command(Deno.execPath(), {
      // The seed comes up first; its id is every other node's ledger authority.
      args: ["task", "-q", "node", ...nodeArgs(node, seed.p2pPort, ids.get(seed.name))],
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    children.set(node.name, child);
    try {
      ids.set(node.name, await waitForNode(node, child, Date.now() + 60_000));
    } catch (error) {
      console.error((error as Error).message);
      await stopAll();
      return 1;
    }
  }
  const lines = ["", `devnet "${DEVNET_NETWORK_ID}" is up (data in ${dir}); Ctrl-C stops it.`];
  for (const node of layout) {
    lines.push(
      `  ${node.name.padEnd(9)} ${
        node.role.padEnd(7)
      } http://127.0.0.1:${node.httpPort}  p2p 127.0.0.1:${node.p2pPort}  ${ids.get(node.name)}`,
    );
  }
  const client = layout.find((node) => node.role === "client")!;
  const gpu = layout.find((node) => node.role === "gpu")!;
  lines.push(
    "",
    `Point the CLI at a client-end:  DBC_API=http://127.0.0.1:${client.httpPort} deno task cli machines`,
    `Original DBC clients (the original dialect):  http://127.0.0.1:${client.compatPort}`,
    `Offer a VM image on ${gpu.name} (operator API, its token in its data directory):`,
    `  curl -H "Authorization: Bearer $(cat ${gpu.dataDir}/operator.token)" ` +
      `-H 'content-type: application/json' -d '{"name":"<name>","path":"${
        absolute(gpu.dataDir)
      }/images/<file>"}' ` +
      `http://127.0.0.1:${gpu.httpPort}/api/v1/operator/images/vm`,
    `Bring ${gpu.name} online and rent it with the CLI alone (README, "A local network"):`,
    `  DBC_API=http://127.0.0.1:${gpu.httpPort} DBC_WALLET_URI=//Alice ` +
      `DBC_OPERATOR_TOKEN=$(cat ${gpu.dataDir}/operator.token) deno task cli machine register --prices hour=10`,
    `  DBC_API=http://127.0.0.1:${client.httpPort} DBC_WALLET_URI=//Charlie ` +
      `deno task cli validate ${ids.get(gpu.name)} --image <name>   # and //Eve, //Ferdie`,
    `  DBC_API=http://127.0.0.1:${client.httpPort} DBC_WALLET_URI=//Ferdie ` +
      `deno task cli ledger fund <renter> 1000`,
  );
  console.log(lines.join("\n"));
  const exited = await Promise.race(
    [...children.entries()].map(([name, child]) =>
      child.status.then((status) => ({ name, status }))
    ),
  );
  console.error(`${exited.name} exited with code ${exited.status.code}; stopping the devnet`);
  await stopAll();
  return 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
