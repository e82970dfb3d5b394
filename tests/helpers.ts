/** Shared test helpers: scratch directories, free ports, polling, the project's Deno binary. */
import { loadConfig, type LoadedConfig } from "../mod/mod.ts";
export const REPO_ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
export const DENO_BIN = `${REPO_ROOT}/node_modules/deno/deno`;

/**
 * Where scratch directories go: outside the checkout, because the checkout may sit below a
 * directory libvirt's QEMU user cannot traverse (a `mktemp -d`, /root), and VM disks live in
 * scratch directories. `scripts/system/test_setup.sh` empties it before a run.
 */
export const SCRATCH_ROOT = Deno.env.get("DBC_TEST_SCRATCH") ?? "/var/tmp/dbc-test";

/**
 * A fresh scratch directory under {@link SCRATCH_ROOT}, traversable but not listable by others
 * (0711) like the root itself, so QEMU reaches the VM disks below it wherever the checkout is.
 */
export async function scratchDir(prefix: string): Promise<string> {
  await Deno.mkdir(SCRATCH_ROOT, { recursive: true });
  await Deno.chmod(SCRATCH_ROOT, 0o711);
  const dir = await Deno.makeTempDir({ dir: SCRATCH_ROOT, prefix: `${prefix}-` });
  await Deno.chmod(dir, 0o711);
  return dir;
}

/**
 * A TCP port that was free a moment ago on 127.0.0.1, and that nothing else is likely to take
 * before the test binds it. Ports come from below the kernel's ephemeral range, which outgoing
 * connections and `port: 0` listeners draw from (a node handed such a port could find it taken by
 * some socket's source port, and wait for it forever); each test process walks its own block of
 * that stretch, so parallel test processes rarely try the same port, and a port is handed out
 * once per process.
 */
export function freePort(): number {
  for (let tries = 0; tries < PORT_BLOCK; tries++) {
    const port = PORT_FLOOR + portBlock * PORT_BLOCK + (nextPortOffset++ % PORT_BLOCK);
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch {
      // Taken: try the next one.
    }
  }
  throw new Error("no free port in this test process's block");
}

const PORT_BLOCK = 1_500;
const PORT_BLOCKS = 8;
/** The lowest port handed out: the blocks end at the ephemeral range's start (32768 by default). */
const PORT_FLOOR = ephemeralLow() - PORT_BLOCK * PORT_BLOCKS;
const portBlock = Deno.pid % PORT_BLOCKS;
let nextPortOffset = Math.floor(Math.random() * PORT_BLOCK);

function ephemeralLow(): number {
  try {
    const [low] = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").trim().split(
      /\s+/,
    );
    const value = Number(low);
    return Number.isInteger(value) && value > PORT_BLOCK * PORT_BLOCKS + 1024 ? value : 32768;
  } catch {
    return 32768;
  }
}

/** Thrown by a probe that knows waiting longer is pointless (the process it waits for exited). */
export class GiveUp extends Error {
  override name = "GiveUp";
}

/**
 * Polls `probe` until it returns a value other than `undefined`, or fails after `timeoutMs`. Its
 * errors count as "not yet", except {@link GiveUp}, which ends the wait at once.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${lastError}` : ""}`);
}

/** Writes an executable shell script. */
export async function writeScript(path: string, body: string): Promise<void> {
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  await Deno.chmod(path, 0o755);
}

/**
 * Configuration for a node started inside a test: its data in `dir`, the HTTP
 * API and the peer-to-peer listener on free loopback ports (never the default
 * 0.0.0.0:5001, which parallel tests would fight over), quiet logs.
 */
export function testNodeConfig(
  dir: string,
  extraArgs: readonly string[] = [],
): LoadedConfig["config"] {
  return loadConfig({
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
      ...extraArgs,
    ],
    env: {},
    cwd: dir,
  }).config;
}
