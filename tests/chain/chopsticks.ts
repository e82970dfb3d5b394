/**
 * DBC's own runtime as a local chain for tests: `@acala-network/chopsticks`
 * (run with the machine's Node) starts it from the mainnet chain specification
 * in tests/fixtures/chain/ (spec 400, with OnlineProfile, Committee,
 * OnlineCommittee, RentMachine), serving JSON-RPC over WebSocket on a free
 * loopback port. Blocks are built as soon as extrinsics arrive
 * (`build-block-mode: Batch`) or on demand ({@link Chopsticks.newBlocks});
 * storage is set by pallet and item names, encoded from the runtime's own
 * metadata ({@link Chopsticks.setStorage}).
 *
 * @example
 * ```ts
 * const chain = await startChopsticks();
 * try {
 *   await chain.setStorage({ System: { Account: [[[alice], { data: { free: 10n ** 18n } }]] } });
 *   await chain.newBlocks(3);
 * } finally {
 *   await chain.stop();
 * }
 * ```
 */
import { REPO_ROOT, scratchDir } from "../helpers.ts";

const SPEC_GZ = `${REPO_ROOT}/tests/fixtures/chain/dbc-spec-v4.json.gz`;
const CHOPSTICKS_CLI = `${REPO_ROOT}/node_modules/@acala-network/chopsticks/chopsticks.cjs`;
/** The runtime compiles its WebAssembly at start; a few seconds here, more on a busy machine. */
const START_TIMEOUT_MS = 90_000;
const LISTENING = /RPC listening on .* and (ws:\/\/127\.0\.0\.1:\d+)/;
/** How much of the chain's log is kept to explain a failed start. */
const LOG_TAIL_CHARS = 4_000;

export type Chopsticks = {
  /** `ws://127.0.0.1:<port>` */
  url: string;
  /** One JSON-RPC call on a short-lived connection (the dev_* methods, or any other). */
  rpc(method: string, params: unknown[]): Promise<unknown>;
  /** Sets storage by names, e.g. `{ RentMachine: { RentFeePot: pot } }`, at the head block. */
  setStorage(values: Record<string, Record<string, unknown>>): Promise<void>;
  /** Builds `count` empty blocks (the on_finalize hooks run for each). */
  newBlocks(count: number): Promise<void>;
  /**
   * Builds one block numbered `block` (ahead of the head), skipping the numbers between: the
   * hooks that run at a given block (a rent ending, a confirm window closing) run there.
   */
  buildBlockAt(block: number): Promise<void>;
  /** The head block's number. */
  head(): Promise<number>;
  stop(): Promise<void>;
};

let specPath: Promise<string> | undefined;

/** The chain specification, decompressed once per test process. */
function decompressedSpec(): Promise<string> {
  specPath ??= (async () => {
    const dir = await scratchDir("chain-spec");
    const path = `${dir}/dbc-spec-v4.json`;
    const source = await Deno.open(SPEC_GZ);
    const target = await Deno.open(path, { write: true, create: true, truncate: true });
    await source.readable.pipeThrough(new DecompressionStream("gzip")).pipeTo(target.writable);
    return path;
  })();
  return specPath;
}

/** Starts a chain; resolves once it serves. */
export async function startChopsticks(): Promise<Chopsticks> {
  const spec = await decompressedSpec();
  const dir = await scratchDir("chopsticks");
  const configPath = `${dir}/config.yml`;
  // JSON is YAML; port 0 lets the server pick a free port, which its log then names.
  await Deno.writeTextFile(
    configPath,
    JSON.stringify({
      genesis: spec,
      host: "127.0.0.1",
      port: 0,
      // Batch: a block 100 ms after transactions arrive. Instant builds it inside the submit call,
      // which can announce the block before the client knows its subscription (a lost InBlock).
      "build-block-mode": "Batch",
      "runtime-log-level": 0,
    }),
  );
  const child = new Deno.Command("node", {
    args: [CHOPSTICKS_CLI, "--config", configPath],
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { LOG_LEVEL: "info", NODE_NO_WARNINGS: "1" },
  }).spawn();
  let log = "";
  const keep = (chunk: string) => {
    log = (log + chunk).slice(-LOG_TAIL_CHARS);
  };
  void child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: keep }),
  ).catch(() => undefined);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`chopsticks did not serve within ${START_TIMEOUT_MS} ms:\n${log}`)),
      START_TIMEOUT_MS,
    );
    let found = false;
    void child.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write(chunk) {
          keep(chunk);
          const match = found ? null : LISTENING.exec(log);
          if (match) {
            found = true;
            clearTimeout(timer);
            resolve(match[1]!);
          }
        },
      }),
    ).catch(() => undefined);
    void child.status.then((status) => {
      clearTimeout(timer);
      if (!found) reject(new Error(`chopsticks exited (${status.code}) before serving:\n${log}`));
    });
  }).catch(async (error) => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    throw error;
  });

  const rpc = (method: string, params: unknown[]) => oneCall(url, method, params);
  return {
    url,
    rpc,
    async setStorage(values) {
      await rpc("dev_setStorage", [values]);
    },
    async newBlocks(count) {
      await rpc("dev_newBlock", [{ count }]);
    },
    async buildBlockAt(block) {
      await rpc("dev_newBlock", [{ count: 1, unsafeBlockHeight: block }]);
    },
    async head() {
      const header = await rpc("chain_getHeader", []) as { number: string };
      return parseInt(header.number, 16);
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => undefined);
    },
  };
}

/** One JSON-RPC call over its own WebSocket. */
function oneCall(url: string, method: string, params: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.onopen = () => socket.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }));
    socket.onerror = () => reject(new Error(`${url}: connection failed`));
    socket.onmessage = (event) => {
      const reply = JSON.parse(String(event.data)) as {
        result?: unknown;
        error?: { message: string };
      };
      socket.close();
      if (reply.error) reject(new Error(`${method}: ${reply.error.message}`));
      else resolve(reply.result);
    };
  });
}
