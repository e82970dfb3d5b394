/**
 * One connection to the DBC chain through its own metadata (`@polkadot/api`):
 * storage is read and extrinsics are built from the types the runtime
 * declares, not from hand-written SCALE. The connection is opened on first
 * use, waits at most `timeoutMs` for the chain, and is opened again after it
 * failed; polkadot-js reconnects a dropped socket by itself.
 *
 * @example
 * ```ts
 * const chain = new DbcConnection("ws://127.0.0.1:9944", { timeoutMs: 10_000 });
 * const api = await chain.api();
 * const head = await chainView(api); // { hash, block, nowMs }
 * await chain.close();
 * ```
 */
import "./env_guard.ts";
import type { ApiPromise } from "@polkadot/api";
import type { ApiDecoration, QueryableStorageEntry } from "@polkadot/api/types";
import { z } from "zod";

/** The chain's block time (runtime `MILLISECS_PER_BLOCK`; `dbc_support::ONE_MINUTE` = 10 blocks). */
export const DBC_MS_PER_BLOCK = 6_000;
/** How long polkadot-js waits before it tries a dropped connection again. */
const RECONNECT_DELAY_MS = 2_500;

/** The chain did not answer in time, or could not be reached. */
export class ChainUnavailableError extends Error {
  override name = "ChainUnavailableError";
}

export type ChainView = { hash: string; block: number; nowMs: number };

export class DbcConnection {
  readonly url: string;
  readonly #timeoutMs: number;
  #api: Promise<ApiPromise> | undefined;
  #closed = false;

  constructor(url: string, options: { timeoutMs: number }) {
    this.url = url;
    this.#timeoutMs = options.timeoutMs;
  }

  /** The connected API, ready (metadata loaded); rejects with {@link ChainUnavailableError}. */
  api(): Promise<ApiPromise> {
    if (this.#closed) return Promise.reject(new ChainUnavailableError("the connection is closed"));
    this.#api ??= this.#open().catch((error) => {
      this.#api = undefined;
      throw error;
    });
    return this.#api;
  }

  /** `work` with the API, failing with {@link ChainUnavailableError} past the time-out. */
  async use<T>(what: string, work: (api: ApiPromise) => Promise<T>): Promise<T> {
    const api = await this.api();
    return await withTimeout(work(api), this.#timeoutMs, `${what}: no answer from ${this.url}`);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const api = await this.#api?.catch(() => undefined);
    this.#api = undefined;
    await api?.disconnect().catch(() => undefined);
  }

  async #open(): Promise<ApiPromise> {
    const { ApiPromise, WsProvider } = await loadPolkadotApi();
    const provider = new WsProvider(this.url, RECONNECT_DELAY_MS, {}, this.#timeoutMs);
    // polkadot-js logs every failed attempt itself; the caller reports the failure once.
    provider.on("error", () => undefined);
    const api = new ApiPromise({ provider, noInitWarn: true, throwOnConnect: false });
    api.on("error", () => undefined);
    try {
      return await withTimeout(
        api.isReadyOrError,
        this.#timeoutMs,
        `${this.url}: the chain did not answer within ${this.#timeoutMs} ms`,
      );
    } catch (error) {
      await api.disconnect().catch(() => undefined);
      throw error instanceof ChainUnavailableError
        ? error
        : new ChainUnavailableError(`${this.url}: ${(error as Error)?.message ?? error}`);
    }
  }
}

/**
 * polkadot-js's API (about 60 MB of modules) is loaded on first connection, not at start: a node
 * that never talks to the chain (a seed, a client-end, a GPU node on the ledger) neither loads it
 * nor carries it, and the seed executable leaves it out (scripts/compile.ts).
 */
async function loadPolkadotApi(): Promise<typeof import("@polkadot/api")> {
  try {
    return await import("@polkadot/api");
  } catch (error) {
    throw new ChainUnavailableError(
      `this build of the node carries no chain client (@polkadot/api could not be loaded: ${
        (error as Error).message
      }); the seed executable leaves it out: run the node with deno task node`,
    );
  }
}

/** The latest block, its number and its time: every read of one question is made there. */
export async function chainView(api: ApiPromise): Promise<ChainView> {
  const header = await api.rpc.chain.getHeader();
  const hash = header.hash.toHex();
  const at = await api.at(hash);
  const now = z.number().int().nonnegative().parse(
    (await storageItem(at, "timestamp", "now")()).toJSON(),
  );
  return { hash, block: header.number.toNumber(), nowMs: now };
}

/** The API at one block. */
export type ChainAt = ApiDecoration<"promise">;

/** A storage item by pallet and item name, or a clear error where the runtime lacks it. */
export function storageItem(
  at: ChainAt,
  pallet: string,
  item: string,
): QueryableStorageEntry<"promise"> {
  const entry = at.query[pallet]?.[item];
  if (!entry) throw new Error(`the chain's runtime has no storage ${pallet}.${item}`);
  return entry;
}

function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ChainUnavailableError(message)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
