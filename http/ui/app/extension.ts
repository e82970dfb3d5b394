/**
 * Browser wallet extensions (polkadot-js, Talisman, SubWallet, ...) through
 * the injection protocol they all implement, as `@polkadot/extension-dapp`
 * reads it: each one puts `window.injectedWeb3[name]` with `enable(origin)`
 * (or the newer `connect(origin)`), which answers its accounts and a signer
 * whose `signRaw` signs bytes `<Bytes>`-wrapped, with the scheme in the
 * signature's first byte: what the node checks. Read directly, not through
 * extension-dapp, whose install brings the whole @polkadot/api tree.
 */
import type { Signer } from "../../client_signer.ts";

type InjectedAccount = { address: string; name?: string; type?: string };
type SignRawPayload = { address: string; data: string; type: "bytes" };
type Injected = {
  name?: string;
  accounts: { get(anyType?: boolean): Promise<InjectedAccount[]> };
  signer: { signRaw?: (payload: SignRawPayload) => Promise<{ signature: string }> };
};
type InjectedProvider = {
  enable?: (origin: string) => Promise<Injected>;
  connect?: (origin: string) => Promise<Injected>;
  version?: string;
};

declare global {
  interface Window {
    injectedWeb3?: Record<string, InjectedProvider>;
  }
}

/** An account an extension offers, with a signer that asks the extension to sign. */
export type ExtensionAccount = { address: string; name: string; source: string; signer: Signer };

/** Account types whose signatures the node checks (ECDSA and Ethereum accounts are not 32-byte). */
const USABLE_TYPES = new Set(["sr25519", "ed25519"]);

/** The extensions the page sees now (they inject shortly after the page loads). */
export function injectedExtensions(): string[] {
  return Object.keys(globalThis.window?.injectedWeb3 ?? {});
}

/**
 * Asks every extension for access as `origin` (each shows its own prompt)
 * and returns the accounts of those that agreed. An extension that refuses
 * or fails is left out; none at all is an error that says so.
 */
export async function extensionAccounts(origin: string): Promise<ExtensionAccount[]> {
  const providers = Object.entries(globalThis.window?.injectedWeb3 ?? {});
  if (providers.length === 0) {
    throw new Error("no wallet extension found in this browser (polkadot-js, Talisman, ...)");
  }
  const found = await Promise.all(providers.map(async ([source, provider]) => {
    try {
      const injected = provider.connect
        ? await provider.connect(origin)
        : provider.enable
        ? await provider.enable(origin)
        : undefined;
      if (!injected?.signer.signRaw) return [];
      const signRaw = injected.signer.signRaw.bind(injected.signer);
      const accounts = await injected.accounts.get();
      return accounts
        .filter((account) => account.type === undefined || USABLE_TYPES.has(account.type))
        .map((account): ExtensionAccount => ({
          address: account.address,
          name: account.name ?? account.address,
          source,
          signer: {
            address: account.address,
            // The extension wraps the bytes in <Bytes>…</Bytes> itself, as the node expects.
            sign: async (message) => {
              const { signature } = await signRaw({
                address: account.address,
                data: toHex(message),
                type: "bytes",
              });
              return fromHex(signature);
            },
          },
        }));
    } catch {
      // Refused, or broken: the other extensions may still do.
      return [];
    }
  }));
  return found.flat();
}

function toHex(bytes: Uint8Array): string {
  return `0x${Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

function fromHex(text: string): Uint8Array {
  const hex = text.startsWith("0x") ? text.slice(2) : text;
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) {
    throw new Error("the extension answered a malformed signature");
  }
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}
