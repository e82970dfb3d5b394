/**
 * The body every original POST carries, read as the original's one routine
 * (`parse_req_params`) reads it: `peer_nodes_list` (an array; only its first
 * element counts) and `additional` (an object) are required; the
 * authorisation fields must be strings where present, and
 * `multisig_accounts.threshold` a string. A field of the wrong type is a 400
 * (-25) with the original's words. Values in `additional` count only when
 * they are JSON strings, as the original reads them.
 */
import { invalidParams } from "./envelope.ts";

export type SignItem = { wallet: string; nonce: string; sign: string };

/** The authorisation fields as sent; empty strings where absent (the original's defaults). */
export type OriginalAuthFields = {
  wallet: string;
  nonce: string;
  sign: string;
  multisig: { wallets: string[]; threshold: string; signs: SignItem[] } | undefined;
  session_id: string;
  session_id_sign: string;
  rent_order: string;
};

export type OriginalBody = {
  /** `peer_nodes_list[0]`, or `undefined` for an empty list. */
  peer: string | undefined;
  additional: Record<string, unknown>;
  auth: OriginalAuthFields;
};

/** Parses the body text; throws a 400 (-25) in the original's words. */
export function parseOriginalBody(text: string, prefix = ""): OriginalBody {
  if (text === "") throw invalidParams("http request body is empty");
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw invalidParams(`json parse error: ${(error as Error).message}`);
  }
  if (!isObject(doc)) throw invalidParams("invalid json");
  const fail = (message: string) => invalidParams(`${prefix}${message}`);

  if (!("peer_nodes_list" in doc)) throw fail("has no peer_nodes_list");
  const list = doc.peer_nodes_list;
  if (!Array.isArray(list)) throw fail("peer_nodes_list is not array");
  if (list.length > 0 && typeof list[0] !== "string") {
    throw fail("peer_nodes_list is not array of string");
  }
  if (!("additional" in doc)) throw fail("has no additional");
  if (!isObject(doc.additional)) throw fail("additional is not object");

  const text_ = (field: string): string => {
    if (!(field in doc)) return "";
    const value = doc[field];
    if (typeof value !== "string") throw fail(`${field} is not string`);
    return value;
  };
  const auth: OriginalAuthFields = {
    wallet: text_("wallet"),
    nonce: text_("nonce"),
    sign: text_("sign"),
    multisig: "multisig_accounts" in doc ? multisigOf(doc.multisig_accounts, fail) : undefined,
    session_id: text_("session_id"),
    session_id_sign: text_("session_id_sign"),
    rent_order: text_("rent_order"),
  };
  return { peer: list[0] as string | undefined, additional: doc.additional, auth };
}

function multisigOf(
  value: unknown,
  fail: (message: string) => Error,
): OriginalAuthFields["multisig"] {
  if (!isObject(value)) throw fail("multisig_accounts is not object");
  if (!("wallets" in value)) throw fail("multisig_accounts has no member wallets");
  if (!Array.isArray(value.wallets) || value.wallets.some((item) => typeof item !== "string")) {
    throw fail("multisig_accounts member wallets is not array");
  }
  if (!("threshold" in value)) throw fail("multisig_accounts has no member threshold");
  if (typeof value.threshold !== "string") {
    throw fail("multisig_accounts member threshold is not string");
  }
  if (!("signs" in value)) throw fail("multisig_accounts has no member signs");
  if (!Array.isArray(value.signs)) throw fail("multisig_accounts member signs is not array");
  const signs = value.signs.map((item) => {
    const fields = isObject(item) ? item : {};
    const [wallet, nonce, sign] = [fields.wallet, fields.nonce, fields.sign];
    if (typeof wallet !== "string" || typeof nonce !== "string" || typeof sign !== "string") {
      throw fail("multisig_accounts member signs: each is {wallet, nonce, sign} of strings");
    }
    return { wallet, nonce, sign };
  });
  return { wallets: value.wallets as string[], threshold: value.threshold, signs };
}

/**
 * The client-end's own check (`check_wallet_sign || check_multisig_wallets`) when no session
 * pair is given: a complete wallet triple, or a multisig object whose signers are listed, whose
 * threshold is met and whose items are complete. As in the original, an absent multisig object
 * passes (the GPU node then refuses).
 */
export function hasSignatureForm(auth: OriginalAuthFields): boolean {
  if (auth.session_id !== "" && auth.session_id_sign !== "") return true;
  if (auth.wallet !== "" && auth.nonce !== "" && auth.sign !== "") return true;
  const multisig = auth.multisig ?? { wallets: [], threshold: "0", signs: [] };
  const threshold = Number.parseInt(multisig.threshold, 10) || 0;
  if (threshold > multisig.wallets.length || threshold > multisig.signs.length) return false;
  return multisig.signs.every((item) =>
    multisig.wallets.includes(item.wallet) && item.wallet !== "" && item.nonce !== "" &&
    item.sign !== ""
  );
}

/** A value of `additional` as the original reads it: the string, or "" when absent or not a string. */
export function additionalText(additional: Record<string, unknown>, key: string): string {
  const value = additional[key];
  return typeof value === "string" ? value : "";
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
