/**
 * Builds the seed node's single executable (`dist/dbc-seed`) with
 * `deno compile`. Deno embeds the program into its runtime binary, "denort",
 * which it downloads unless `DENORT_BIN` names a local copy; where the
 * download is impossible (closed networks) this script says exactly what to
 * fetch and how to point at it.
 *
 * Usage: deno task compile        (DENORT_BIN=/path/to/denort deno task compile offline)
 */
import { VERSION } from "../mod/mod.ts";

const OUTPUT = "dist/dbc-seed";
const TARGET = "x86_64-unknown-linux-gnu";
/**
 * Fixed grants, baked into the executable (it has no launcher to compute them from the
 * configuration, as `deno task node` does): data under the directory it starts in or
 * /var/lib/dbc. For a data directory (or VM directory, engine socket) elsewhere, add it to the
 * --allow-read and --allow-write lists here and compile again; the executable names the flags
 * when it refuses one. --unstable-worker-options lets workers narrow them.
 */
const PERMISSIONS = [
  "--unstable-worker-options",
  "--allow-env=DBC_*,PATH,_ISEXE_TEST_PLATFORM_,NODE_V8_COVERAGE",
  "--allow-read=.,/etc/dbc,/var/lib/dbc,/usr/bin,/usr/sbin,/usr/local/bin,/bin,/sbin,/var/run/docker.sock,/run/dbc-podman/podman.sock,/etc/libvirt/qemu.conf",
  "--allow-write=.,/var/lib/dbc,/var/run/docker.sock,/run/dbc-podman/podman.sock",
  "--allow-net",
  "--allow-run=virsh,nvidia-smi,qemu-img,ss,stat,id",
  "--allow-sys=cpus,systemMemoryInfo,statfs",
];
/**
 * What the executable does not need from node_modules: every package only development needs
 * (package-lock.json marks them `dev`: the Deno binary the npm `deno` package brings, about 95 MB,
 * test and browser tooling, bundlers), type declarations, and the test suites some packages ship
 * (prom-client's bintrees ships 2 MB of test data on which `deno compile` overflows its stack;
 * polkadot-js's types-support, chain metadata for its mock provider).
 * `--exclude` matches files by path.
 */
async function excluded(): Promise<string[]> {
  const paths = [
    "node_modules/deno/deno",
    "node_modules/@types",
    "node_modules/bintrees/test",
    // Chain metadata fixtures for polkadot-js's mock provider and its tests (about 70 MB); the
    // node's chain client (WsProvider) never loads them.
    "node_modules/@polkadot/types-support",
  ];
  try {
    const lock = JSON.parse(await Deno.readTextFile("package-lock.json")) as PackageLock;
    for (const [path, entry] of Object.entries(lock.packages ?? {})) {
      if (entry.dev && path.startsWith("node_modules/")) paths.push(path);
    }
    paths.push(...onlyThrough(lock, LOADED_ON_DEMAND));
  } catch {
    // No lock file: only the paths above are left out.
  }
  try {
    for await (const entry of Deno.readDir("node_modules/@deno")) {
      paths.push(`node_modules/@deno/${entry.name}/deno`);
    }
  } catch {
    // No platform package: nothing more to leave out.
  }
  return paths;
}

/**
 * Packages the node imports only when a setting asks for them, so that a seed carries them not:
 * polkadot-js's API (about 60 MB with rxjs and its type definitions), which only
 * `verification_service=substrate` loads (node_service/chain/dbc_api.ts). The executable
 * answers such a setting with a clear error instead.
 */
const LOADED_ON_DEMAND = ["@polkadot/api"];

type PackageLock = {
  packages?: Record<
    string,
    {
      dev?: boolean;
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
    }
  >;
};

/**
 * The installed packages (lock paths) that only `roots` bring in: those the project's runtime
 * dependencies reach with them and do not reach without them, resolved as Node resolves a
 * package name (the nearest node_modules folder up from the one asking).
 */
export function onlyThrough(lock: PackageLock, roots: readonly string[]): string[] {
  const packages = lock.packages ?? {};
  const resolve = (from: string, name: string): string | undefined => {
    for (let base = from;; base = base.slice(0, Math.max(0, base.lastIndexOf("/node_modules/")))) {
      const candidate = base === "" ? `node_modules/${name}` : `${base}/node_modules/${name}`;
      if (packages[candidate]) return candidate;
      if (base === "") return undefined;
    }
  };
  const reach = (skip: ReadonlySet<string>): Set<string> => {
    const seen = new Set<string>();
    const rootEntry = packages[""] ?? {};
    const queue = Object.keys(rootEntry.dependencies ?? {})
      .filter((name) => !skip.has(name))
      .map((name) => resolve("", name))
      .filter((path): path is string => path !== undefined);
    while (queue.length > 0) {
      const path = queue.pop()!;
      if (seen.has(path)) continue;
      seen.add(path);
      const entry = packages[path] ?? {};
      const names = [
        ...Object.keys(entry.dependencies ?? {}),
        ...Object.keys(entry.optionalDependencies ?? {}),
        ...Object.keys(entry.peerDependencies ?? {}),
      ];
      for (const name of names) {
        const found = resolve(path, name);
        if (found && !seen.has(found)) queue.push(found);
      }
    }
    return seen;
  };
  const without = reach(new Set(roots));
  return [...reach(new Set())].filter((path) => !without.has(path)).sort();
}

/** Worker entry points are loaded by URL at run time, so the module graph alone does not include them. */
const WORKERS = ["network/worker.ts", "node_service/worker.ts", "http/worker.ts"];

function denortHelp(denoVersion: string): string {
  return [
    `deno compile needs "denort", Deno's runtime binary for ${TARGET}, and could not download it (no internet access?).`,
    `On a connected machine, fetch https://dl.deno.land/release/v${denoVersion}/denort-${TARGET}.zip,`,
    "unzip it next to this project, then run:",
    "  DENORT_BIN=/path/to/denort deno task compile",
  ].join("\n");
}

async function main(): Promise<number> {
  const deno = Deno.execPath();
  const denoVersion = Deno.version.deno;
  const denort = Deno.env.get("DENORT_BIN");
  if (denort !== undefined) {
    try {
      const info = await Deno.stat(denort);
      if (!info.isFile) throw new Error("not a file");
    } catch {
      console.error(`DENORT_BIN=${denort} does not name a file.\n\n${denortHelp(denoVersion)}`);
      return 1;
    }
  }
  const args = [
    "compile",
    ...PERMISSIONS,
    ...WORKERS.flatMap((worker) => ["--include", worker]),
    ...(await excluded()).flatMap((path) => ["--exclude", path]),
    "--target",
    TARGET,
    "--output",
    OUTPUT,
    "main.ts",
    // Baked-in arguments: the executable starts as a seed node unless told otherwise.
    "--role",
    "seed",
  ];
  console.error(
    `compiling dbc-seed ${VERSION} with Deno ${denoVersion}${
      denort ? ` (DENORT_BIN=${denort})` : ""
    }`,
  );
  const result = await new Deno.Command(deno, { args, stdout: "inherit", stderr: "piped" })
    .output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (result.success) {
    console.error(stderr.trim());
    console.error(`built ${OUTPUT}`);
    return 0;
  }
  if (
    denort === undefined && /download|dl\.deno\.land|dns error|lookup address|connect/i.test(stderr)
  ) {
    console.error(denortHelp(denoVersion));
  } else {
    console.error(stderr.trim());
  }
  return 1;
}

if (import.meta.main) Deno.exit(await main());
