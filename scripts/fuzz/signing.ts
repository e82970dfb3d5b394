/**
 * Requests signed the way clients sign them (http/client_signer.ts), by one
 * wallet or a multisig account, with the signature fields in the `X-DBC-*`
 * headers or, as the original's clients send them, in the JSON body.
 */
import {
  multisigSigner,
  type RequestSigner,
  signatureHeaders,
  type Signer,
} from "../../http/mod.ts";
import { AUTH_HEADERS } from "../../mod/mod.ts";
import type { FuzzWallet } from "./wallets.ts";

export type SignedRequest = {
  method: string;
  pathAndQuery: string;
  /** The JSON body, signature fields included when they travel there; `undefined`: none. */
  body: unknown;
  headers: Record<string, string>;
};

export type SigningPlan = {
  /** Indexes into the wallets: one signs alone; two or more act as a multisig account. */
  signers: number[];
  /** Signatories of the multisig account (indexes), a superset of `signers`. */
  signatories: number[];
  threshold: number;
  where: "headers" | "body";
  timestampMs: number;
  nonce: string;
};

const asSigner = (wallet: FuzzWallet): Signer => ({
  address: wallet.address,
  sign: (message) => wallet.sign(message),
});

/** The signer a plan names; `undefined` when its multisig account cannot be made. */
export function signerOf(
  wallets: readonly FuzzWallet[],
  plan: SigningPlan,
): RequestSigner | undefined {
  const pick = (index: number) => wallets[index % wallets.length]!;
  if (plan.signatories.length < 2) return asSigner(pick(plan.signers[0] ?? 0));
  try {
    return multisigSigner({
      signers: [...new Set(plan.signers.map(pick))].map(asSigner),
      signatories: [...new Set(plan.signatories.map(pick))].map((wallet) => wallet.address),
      threshold: plan.threshold,
    });
  } catch {
    return undefined;
  }
}

/** `request` signed by `signer` as the plan says. */
export async function signRequest(
  signer: RequestSigner,
  request: { method: string; pathAndQuery: string; body: unknown },
  plan: Pick<SigningPlan, "where" | "timestampMs" | "nonce">,
): Promise<SignedRequest> {
  const options = { timestampMs: plan.timestampMs, nonce: plan.nonce };
  const isObject = request.body !== null && typeof request.body === "object" &&
    !Array.isArray(request.body);
  if (plan.where === "headers" || !isObject) {
    const headers = await signatureHeaders(signer, request, options);
    return { ...request, headers };
  }
  // In the body, as the original's clients do: every field but the signatures is signed.
  const headers = await signatureHeaders(signer, {
    ...request,
    body: {
      ...request.body as Record<string, unknown>,
      ...(("signers" in signer) ? {} : { wallet: signer.address }),
      nonce: plan.nonce,
      timestamp: plan.timestampMs,
      ...(("signers" in signer)
        ? {
          multisig_wallets: signer.signatories,
          multisig_threshold: signer.threshold,
        }
        : {}),
    },
  }, options);
  const body: Record<string, unknown> = {
    ...request.body as Record<string, unknown>,
    nonce: plan.nonce,
    timestamp: plan.timestampMs,
  };
  if ("signers" in signer) {
    body.multisig_wallets = signer.signatories;
    body.multisig_threshold = signer.threshold;
    body.multisig_signs = headers[AUTH_HEADERS.multisigSigns]!.split(",").map((pair) => {
      const [wallet, sign] = pair.split(":");
      return { wallet, sign };
    });
  } else {
    body.wallet = signer.address;
    body.sign = headers[AUTH_HEADERS.sign];
  }
  return { ...request, body, headers: {} };
}
