/**
 * What every view shares: the API client of the node that served the page
 * (unsigned for public reads, signed by the connected wallet for the rest:
 * the same client and signed requests as the CLI's), the wallet, messages to
 * the user, and polling that stops with the view.
 */
import { ApiClient, ApiClientError } from "../../client.ts";
import type { Wallet } from "./wallet.ts";

export type Tone = "info" | "good" | "bad";

/** A view drawn into the page; `stop` ends its polling when another replaces it. */
export type View = { stop(): void };

export class Dashboard {
  /** Unsigned requests: the market, pings, balances, lease checks. */
  readonly api: ApiClient;
  #wallet: Wallet | undefined;
  #signed: ApiClient | undefined;
  readonly #listeners = new Set<() => void>();

  constructor(
    readonly baseUrl: string,
    readonly notify: (text: string, tone?: Tone) => void,
  ) {
    this.api = new ApiClient({ baseUrl, nonce: randomNonce });
  }

  get wallet(): Wallet | undefined {
    return this.#wallet;
  }

  setWallet(wallet: Wallet | undefined): void {
    this.#wallet = wallet;
    this.#signed = wallet
      ? new ApiClient({ baseUrl: this.baseUrl, signer: wallet.signer, nonce: randomNonce })
      : undefined;
    for (const listener of this.#listeners) listener();
  }

  /** The wallet's account changed on the ledger (a rent paid): whatever shows it reads it again. */
  accountChanged(): void {
    for (const listener of this.#listeners) listener();
  }

  /** Calls `listener` whenever the wallet or its account changes; returns what stops it. */
  onWalletChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The client that signs with the connected wallet; throws when none is connected. */
  signed(): ApiClient {
    if (!this.#signed) throw new Error("connect a wallet first");
    return this.#signed;
  }

  /**
   * Whether views may poll signed requests on their own: a typed-in key signs
   * silently, an extension would ask its user for every one.
   */
  get mayPollSigned(): boolean {
    return this.#wallet?.kind === "key";
  }
}

/**
 * A nonce from `crypto.getRandomValues`, which browsers offer on plain HTTP
 * too (a client-end on a LAN address), unlike `crypto.randomUUID`.
 */
export function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `n-${Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

/** What went wrong, for people: the node's message and, for a refusal, its HTTP status. */
export function errorText(error: unknown): string {
  if (error instanceof ApiClientError) {
    return error.status > 0 ? `${error.message} (HTTP ${error.status})` : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Sends `form` with `send` on submit: its button off and "signing and sending…" meanwhile, then
 * the status cleared, or the error in it.
 */
export function submitter(
  form: HTMLFormElement,
  status: HTMLElement,
  send: () => Promise<void>,
): void {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button")!;
    button.disabled = true;
    status.textContent = "signing and sending…";
    try {
      await send();
      status.textContent = "";
    } catch (error) {
      status.textContent = errorText(error);
    } finally {
      button.disabled = false;
    }
  });
}

/**
 * Runs `work` now and then every `intervalMs` while the page is visible, never
 * two at once; returns what stops it.
 */
export function poll(work: () => Promise<void>, intervalMs: number): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = async () => {
    if (stopped) return;
    if (document.visibilityState !== "hidden") {
      try {
        await work();
      } catch {
        // Each view shows its own errors; polling goes on.
      }
    }
    if (!stopped) timer = setTimeout(run, intervalMs);
  };
  void run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
