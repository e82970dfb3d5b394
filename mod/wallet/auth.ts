/**
 * Authorisation of a renter's (or owner's, or validator's) request by wallet
 * signatures, the way the original network's clients send them, but bound to
 * the request: see `signed_request.ts` for the one message that is signed.
 *
 * Where the fields travel (either place, never both):
 * - headers (new clients): `X-DBC-Wallet`, `X-DBC-Nonce`, `X-DBC-Timestamp`,
 *   `X-DBC-Sign`; for a multisig account `X-DBC-Multisig-Wallets`
 *   (comma-separated), `X-DBC-Multisig-Threshold` and `X-DBC-Multisig-Signs`
 *   (comma-separated `wallet:signature`);
 * - the JSON body (original clients): `wallet`, `nonce`, `sign`, `timestamp`;
 *   for a multisig account either `multisig_wallets`, `multisig_threshold`,
 *   `multisig_signs: [{wallet, sign, nonce?}]` (the original's network
 *   fields) or `multisig_accounts: {wallets, threshold, signs}` (the
 *   original's HTTP body).
 *
 * A request with a `timestamp` is checked against the canonical message: the
 * time must lie within the window around now, the signature(s) must verify,
 * and (account, nonce) must not have been used before. A request without a
 * timestamp is a legacy one (the signature covers the bare nonce; a multisig
 * signer may then use its own nonce): refused unless legacy signing is on.
 * A multisig account acts when at least `threshold` distinct signatories have
 * signed; a signature by anyone else, or a bad one, refuses the request.
 *
 * @example
 * ```ts
 * const fields = authFieldsFromHeaders(request.headers) ?? authFieldsFromBody(body);
 * const outcome = await verifyRequestAuth({ request: { method, pathAndQuery, body }, fields, now, guards, config });
 * if (outcome.ok) outcome.account; else outcome.reason;
 * ```
 */
import { z } from "zod";
import { multisigAccount } from "./multisig.ts";
import { ReplayGuard } from "./replay_guard.ts";
import { canonicalRequestMessage, legacyNonceMessage } from "./signed_request.ts";
import { decodeSs58, normalizeAccount } from "./ss58.ts";
import { parseWalletSignature, verifyWalletSignature, type WalletScheme } from "./signature.ts";

/** Limits of wallet authorisation, in one place. */
export const WALLET_AUTH_LIMITS = {
  /** Longest nonce accepted. */
  maxNonceChars: 128,
  /**
   * Replay memory, per account: nonces remembered for each account (when one
   * account is full only its own oldest go, and only its own floor rises) and
   * accounts remembered at once (when full of live accounts, a new account is
   * told to try later: nobody's memory is pushed out).
   */
  replayPerAccount: 64,
  replayAccounts: 50_000,
  /** Legacy nonces (the original kept a filter of 1,000,000): per signer, and signers (the least recent forgotten). */
  legacyReplayPerAccount: 64,
  legacyReplayAccounts: 50_000,
  /**
   * Signatories of a multisig account that signs a request. The chain allows
   * more (DeepBrainChain's runtime sets pallet-multisig's `MaxSignatories` to
   * 100, as Polkadot does), but each one may cost a signature check, so the
   * API takes at most 16; the bound and the threshold are checked before any
   * signature is.
   */
  maxRequestSignatories: 16,
  /** How long a ledger keeps a used legacy nonce on disk (it carries no time of its own). */
  legacyNonceRetentionMs: 30 * 86_400_000,
} as const;

export const AUTH_HEADERS = {
  wallet: "x-dbc-wallet",
  nonce: "x-dbc-nonce",
  timestamp: "x-dbc-timestamp",
  sign: "x-dbc-sign",
  multisigWallets: "x-dbc-multisig-wallets",
  multisigThreshold: "x-dbc-multisig-threshold",
  multisigSigns: "x-dbc-multisig-signs",
} as const;

/** The body fields (top level) that belong to authorisation, not to the operation. */
export const AUTH_BODY_FIELDS = [
  "wallet",
  "nonce",
  "sign",
  "timestamp",
  "multisig_wallets",
  "multisig_threshold",
  "multisig_signs",
  "multisig_accounts",
  "session_id",
  "session_id_sign",
] as const;

const NonceSchema = z.string().min(1).max(WALLET_AUTH_LIMITS.maxNonceChars).regex(
  /^[\x21-\x7e]+$/,
  {
    message: "expected printable characters without spaces",
  },
);
const SignItemSchema = z.object({
  wallet: z.string().min(1).max(64),
  sign: z.string().min(1).max(200),
  nonce: NonceSchema.optional(),
});

/** The authorisation fields of one request, wherever they came from. */
export const AuthFieldsSchema = z.object({
  wallet: z.string().max(64).optional(),
  nonce: NonceSchema.optional(),
  sign: z.string().max(200).optional(),
  timestamp: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  multisig_wallets: z.array(z.string().max(64)).max(100).optional(),
  multisig_threshold: z.number().int().optional(),
  multisig_signs: z.array(SignItemSchema).max(100).optional(),
});
export type AuthFields = z.infer<typeof AuthFieldsSchema>;

export type AuthFieldsSource =
  | { ok: true; fields: AuthFields }
  | { ok: false; message: string }
  | undefined;

/** The fields carried in `X-DBC-*` headers; `undefined` when there are none. */
export function authFieldsFromHeaders(headers: Headers): AuthFieldsSource {
  const get = (name: string) => headers.get(name) ?? undefined;
  if (!Object.values(AUTH_HEADERS).some((name) => headers.has(name))) return undefined;
  const list = (text: string | undefined) =>
    text === undefined ? undefined : text.split(",").map((item) => item.trim()).filter(Boolean);
  const timestamp = get(AUTH_HEADERS.timestamp);
  const threshold = get(AUTH_HEADERS.multisigThreshold);
  const signs = list(get(AUTH_HEADERS.multisigSigns))?.map((pair) => {
    const colon = pair.indexOf(":");
    return colon === -1
      ? { wallet: pair, sign: "" }
      : { wallet: pair.slice(0, colon), sign: pair.slice(colon + 1) };
  });
  return checkFields({
    wallet: get(AUTH_HEADERS.wallet),
    nonce: get(AUTH_HEADERS.nonce),
    sign: get(AUTH_HEADERS.sign),
    timestamp: timestamp === undefined ? undefined : integerOrText(timestamp),
    multisig_wallets: list(get(AUTH_HEADERS.multisigWallets)),
    multisig_threshold: threshold === undefined ? undefined : integerOrText(threshold),
    multisig_signs: signs,
  });
}

/** The fields carried in a JSON body (both of the original's multisig shapes); `undefined` when none. */
export function authFieldsFromBody(body: unknown): AuthFieldsSource {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return undefined;
  const record = body as Record<string, unknown>;
  if (!AUTH_BODY_FIELDS.some((field) => field in record)) return undefined;
  const accounts = record.multisig_accounts;
  const nested = accounts !== null && typeof accounts === "object" && !Array.isArray(accounts)
    ? accounts as Record<string, unknown>
    : undefined;
  const timestamp = record.timestamp;
  return checkFields({
    wallet: emptyAsAbsent(record.wallet),
    nonce: emptyAsAbsent(record.nonce),
    sign: emptyAsAbsent(record.sign),
    timestamp: typeof timestamp === "string" ? integerOrText(timestamp) : timestamp,
    multisig_wallets: emptyAsAbsent(nested?.wallets ?? record.multisig_wallets),
    multisig_threshold: nested?.threshold ?? record.multisig_threshold,
    multisig_signs: emptyAsAbsent(nested?.signs ?? record.multisig_signs),
  });
}

/** `body` without the authorisation fields, for the operation's own schema. */
export function withoutAuthFields(body: unknown): unknown {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return body;
  const copy: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const field of AUTH_BODY_FIELDS) delete copy[field];
  return copy;
}

export type AuthRefusal =
  /** No authorisation fields at all. */
  | "missing"
  /** Fields of the wrong shape, or both a wallet and a multisig account, or an unknown signer. */
  | "malformed"
  | "bad_signature"
  | "stale_timestamp"
  | "replayed"
  /** A bare-nonce signature while legacy signing is off. */
  | "legacy_refused"
  | "threshold_not_met"
  /** The replay memory is full of live accounts: a new account must try later. */
  | "busy";

/** Who acts, once the signatures hold. */
export type AuthorisedAccount = {
  ok: true;
  /** The acting account (wallet or multisig account), SS58 with the generic prefix. */
  account: string;
  kind: "wallet" | "multisig";
  /** The wallets whose signatures were checked, normal form. */
  signers: string[];
  schemes: WalletScheme[];
  nonce: string;
  /** The signed time; `null` for a legacy request. */
  timestampMs: number | null;
  legacy: boolean;
  multisig?: { signatories: string[]; threshold: number };
};

export type AuthOutcome = AuthorisedAccount | { ok: false; reason: AuthRefusal; message: string };

export type WalletAuthConfig = {
  /** How far a signed time may lie from now, either way. */
  timestampWindowMs: number;
  /** Accept original clients that sign the bare nonce. */
  allowLegacyNonce: boolean;
};

export type ReplayGuards = { signed: ReplayGuard; legacy: ReplayGuard };

/** Guards sized by {@link WALLET_AUTH_LIMITS} for a time window. */
export function newReplayGuards(timestampWindowMs: number): ReplayGuards {
  return {
    signed: new ReplayGuard({
      maxAccounts: WALLET_AUTH_LIMITS.replayAccounts,
      maxPerAccount: WALLET_AUTH_LIMITS.replayPerAccount,
      windowMs: 2 * timestampWindowMs,
      whenFull: "refuse",
    }),
    // Legacy requests carry no time, so nothing expires by age: only the size bounds apply.
    legacy: new ReplayGuard({
      maxAccounts: WALLET_AUTH_LIMITS.legacyReplayAccounts,
      maxPerAccount: WALLET_AUTH_LIMITS.legacyReplayPerAccount,
      windowMs: Number.POSITIVE_INFINITY,
      whenFull: "forget_least_recent",
    }),
  };
}

export type AuthInput = {
  request: { method: string; pathAndQuery: string; body: unknown };
  fields: AuthFieldsSource;
  now: number;
  guards: ReplayGuards;
  config: WalletAuthConfig;
};

type Signer = { address: string; accountId: Uint8Array; sign: string; nonce?: string };

/** Checks the request's signatures; the acting account, or why it is refused. */
export async function verifyRequestAuth(input: AuthInput): Promise<AuthOutcome> {
  const { fields: source, request, now, guards, config } = input;
  const refuse = (reason: AuthRefusal, message: string): AuthOutcome => ({
    ok: false,
    reason,
    message,
  });
  if (source === undefined) {
    return refuse("missing", "the request carries no wallet signature (wallet, nonce, sign)");
  }
  if (!source.ok) return refuse("malformed", source.message);
  const fields = source.fields;
  const isMultisig = (fields.multisig_wallets?.length ?? 0) > 0;
  if (isMultisig && fields.wallet) {
    return refuse("malformed", "give either a wallet or a multisig account, not both");
  }
  const legacy = fields.timestamp === undefined;
  if (legacy && !config.allowLegacyNonce) {
    return refuse(
      "legacy_refused",
      "no timestamp: this node accepts only signatures over the whole request (dbc-request-v1); " +
        "signing the bare nonce is accepted only where the operator turned on auth_legacy_nonce_signing",
    );
  }
  if (!legacy && Math.abs(now - fields.timestamp!) > config.timestampWindowMs) {
    return refuse(
      "stale_timestamp",
      `the request was signed at ${fields.timestamp}, more than ${config.timestampWindowMs} ms from now (${now})`,
    );
  }

  // Who must have signed, and which account acts.
  let account: string;
  let signers: Signer[];
  let threshold = 1;
  let multisig: AuthorisedAccount["multisig"];
  if (isMultisig) {
    // Bounded before anything else is done with the list, and long before any signature is checked.
    const listed = fields.multisig_wallets!.length;
    const signed = fields.multisig_signs?.length ?? 0;
    const bound = WALLET_AUTH_LIMITS.maxRequestSignatories;
    if (listed > bound || signed > bound) {
      return refuse(
        "malformed",
        `a multisig account signing a request has at most ${bound} signatories (${listed} listed, ${signed} signatures)`,
      );
    }
    const derived = multisigAccount(fields.multisig_wallets!, fields.multisig_threshold ?? 0);
    if (!derived.ok) return refuse("malformed", `multisig account: ${derived.reason}`);
    account = derived.address;
    threshold = derived.threshold;
    multisig = { signatories: derived.signatories, threshold };
    const members = new Set(derived.signatories);
    signers = [];
    for (const item of fields.multisig_signs ?? []) {
      const decoded = decodeSs58(item.wallet);
      const address = normalizeAccount(item.wallet);
      if (!decoded || !address) return refuse("malformed", `${item.wallet} is not an SS58 address`);
      if (!members.has(address)) {
        return refuse("malformed", `${item.wallet} signed but is not one of multisig_wallets`);
      }
      if (!legacy && item.nonce !== undefined && item.nonce !== fields.nonce) {
        return refuse("malformed", "every signer signs the request's nonce");
      }
      signers.push({ address, accountId: decoded.accountId, sign: item.sign, nonce: item.nonce });
    }
    const distinct = new Set(signers.map((signer) => signer.address));
    if (distinct.size !== signers.length) return refuse("malformed", "a signatory signed twice");
    if (signers.length < threshold) {
      return refuse(
        "threshold_not_met",
        `${signers.length} of the ${threshold} signatures this multisig account needs`,
      );
    }
  } else {
    if (!fields.wallet || !fields.sign) {
      return refuse("missing", "wallet and sign are required");
    }
    const decoded = decodeSs58(fields.wallet);
    if (!decoded) return refuse("malformed", `${fields.wallet} is not an SS58 address`);
    account = normalizeAccount(fields.wallet)!;
    signers = [{ address: account, accountId: decoded.accountId, sign: fields.sign }];
  }
  if (!legacy && !fields.nonce) return refuse("missing", "nonce is required");

  // The signatures.
  let message: string | undefined;
  if (!legacy) {
    try {
      message = canonicalRequestMessage({
        method: request.method.toUpperCase(),
        pathAndQuery: request.pathAndQuery,
        account,
        body: request.body,
        timestampMs: fields.timestamp!,
        nonce: fields.nonce!,
      });
    } catch (error) {
      return refuse("malformed", (error as Error).message);
    }
  }
  const schemes: WalletScheme[] = [];
  const usedNonces: string[] = [];
  for (const signer of signers) {
    const nonce = legacy ? signer.nonce ?? fields.nonce : fields.nonce;
    if (!nonce) return refuse("missing", `nonce is required (signer ${signer.address})`);
    const signature = parseWalletSignature(signer.sign);
    if (!signature) {
      return refuse("malformed", `the signature of ${signer.address} is not 64 or 65 bytes of hex`);
    }
    const text = message ?? legacyNonceMessage(nonce);
    const check = await verifyWalletSignature(
      signer.accountId,
      new TextEncoder().encode(text),
      signature,
    );
    if (!check.ok) {
      return refuse("bad_signature", `the signature of ${signer.address} does not verify`);
    }
    schemes.push(check.scheme);
    usedNonces.push(nonce);
  }

  // Only a request whose signatures hold may use up a nonce.
  if (legacy) {
    for (const [index, signer] of signers.entries()) {
      const verdict = guards.legacy.claim(signer.address, usedNonces[index]!, now, now);
      if (verdict === "busy") return refuse("busy", "too many accounts signing at once; try later");
      if (verdict !== "fresh") {
        return refuse("replayed", `nonce ${usedNonces[index]} was already used`);
      }
    }
  } else {
    const verdict = guards.signed.claim(account, fields.nonce!, fields.timestamp!, now);
    if (verdict === "busy") return refuse("busy", "too many accounts signing at once; try later");
    if (verdict === "replayed") return refuse("replayed", `nonce ${fields.nonce} was already used`);
    if (verdict === "too_old") {
      return refuse(
        "stale_timestamp",
        "the request is too old to be checked for replay; sign it anew",
      );
    }
  }
  return {
    ok: true,
    account,
    kind: isMultisig ? "multisig" : "wallet",
    signers: signers.map((signer) => signer.address),
    schemes,
    nonce: fields.nonce ?? usedNonces[0]!,
    timestampMs: legacy ? null : fields.timestamp!,
    legacy,
    ...(multisig ? { multisig } : {}),
  };
}

function checkFields(raw: Record<string, unknown>): AuthFieldsSource {
  const parsed = AuthFieldsSchema.safeParse(
    Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== undefined)),
  );
  if (parsed.success) return { ok: true, fields: parsed.data };
  const issue = parsed.error.issues[0];
  return { ok: false, message: `${issue?.path.join(".") || "auth"}: ${issue?.message}` };
}

function integerOrText(text: string): unknown {
  return /^\d{1,16}$/.test(text.trim()) ? Number(text.trim()) : text;
}

function emptyAsAbsent(value: unknown): unknown {
  if (value === "" || (Array.isArray(value) && value.length === 0)) return undefined;
  return value;
}

/**
 * How long the (account, nonce) of an authorised request must stay recorded
 * where the write lands (the ledger keeps it on disk): until its time stamp
 * leaves the window, or for a legacy request a fixed, long while.
 */
export function nonceExpiresAt(
  outcome: Pick<AuthorisedAccount, "timestampMs">,
  config: Pick<WalletAuthConfig, "timestampWindowMs">,
  now: number,
): number {
  return outcome.timestampMs === null
    ? now + WALLET_AUTH_LIMITS.legacyNonceRetentionMs
    : outcome.timestampMs + config.timestampWindowMs + 1;
}
