/** Wallet signatures: SS58 accounts, multisig accounts, signed requests and their replay guard. */
export {
  type DecodedAddress,
  decodeSs58,
  encodeSs58,
  GENERIC_SS58_PREFIX,
  normalizeAccount,
} from "./ss58.ts";
export {
  type MultisigAccount as DerivedMultisigAccount,
  multisigAccount,
  multisigAccountId,
} from "./multisig.ts";
export { ReplayGuard, type ReplayVerdict } from "./replay_guard.ts";
export {
  bodyDigest,
  canonicalJson,
  canonicalRequestMessage,
  legacyNonceMessage,
  type RequestToSign,
  SIGNED_REQUEST_VERSION,
} from "./signed_request.ts";
export {
  parseWalletSignature,
  type SignatureCheck,
  verifyWalletSignature,
  type WalletScheme,
  type WalletSignature,
} from "./signature.ts";
export {
  AUTH_BODY_FIELDS,
  AUTH_HEADERS,
  type AuthFields,
  authFieldsFromBody,
  authFieldsFromHeaders,
  type AuthFieldsSource,
  type AuthorisedAccount,
  type AuthOutcome,
  type AuthRefusal,
  newReplayGuards,
  nonceExpiresAt,
  type ReplayGuards,
  verifyRequestAuth,
  WALLET_AUTH_LIMITS,
  type WalletAuthConfig,
  withoutAuthFields,
} from "./auth.ts";
