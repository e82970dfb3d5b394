/**
 * Delegated access to a rented machine (the original's `session_id`): the
 * renter asks the GPU node for a session, then hands its id to someone else
 * (a script, a colleague), who may then operate the renter's instances on
 * that machine without the wallet key: until it expires or is revoked, and
 * never beyond the instances (no renting, no new sessions, no images).
 */
import { z } from "zod";
import { AccountSchema } from "./ledger.ts";

/** The longest a session may last: whoever holds it acts for the renter. */
export const MAX_SESSION_TTL_S = 30 * 24 * 3600;
export const DEFAULT_SESSION_TTL_S = 24 * 3600;
/** Sessions one renter may hold on one machine at once (expired and revoked ones do not count). */
export const MAX_SESSIONS_PER_ACCOUNT = 16;

/** `ses_` and 32 base58 characters: about 187 random bits, so it cannot be guessed. */
export const SessionIdSchema = z.string().regex(/^ses_[1-9A-HJ-NP-Za-km-z]{32}$/, {
  message: "expected a session id (ses_ and 32 base58 characters)",
});
/** How a session is named once made: the start of its id, which says nothing of the rest. */
export const SessionPrefixSchema = z.string().regex(/^ses_[1-9A-HJ-NP-Za-km-z]{6}$/);
export const SessionLabelSchema = z.string().max(64).regex(/^[\x20-\x7e]*$/, {
  message: "printable ASCII only",
});

export const SessionSchema = z.object({
  prefix: SessionPrefixSchema,
  account: z.string(),
  label: z.string(),
  created_at: z.number(),
  expires_at: z.number(),
  revoked_at: z.number().nullable(),
});
export type Session = z.infer<typeof SessionSchema>;

export const SessionCreateParamsSchema = z.object({
  account: AccountSchema,
  ttl_s: z.number().int().min(60).max(MAX_SESSION_TTL_S),
  label: SessionLabelSchema.default(""),
}).strict();
/** The id itself is shown once, to the renter who made it. */
export const SessionCreatedSchema = SessionSchema.extend({ session_id: SessionIdSchema });

export const SessionResolveParamsSchema = z.object({ session_id: SessionIdSchema }).strict();
/** Whom a live session acts for. */
export const SessionResolvedSchema = z.object({
  account: z.string(),
  prefix: SessionPrefixSchema,
  expires_at: z.number(),
});

export const SessionListParamsSchema = z.object({ account: AccountSchema }).strict();
export const SessionListSchema = z.object({ sessions: z.array(SessionSchema) });

export const SessionRevokeParamsSchema = z.object({
  account: AccountSchema,
  prefix: SessionPrefixSchema,
}).strict();
