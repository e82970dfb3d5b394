/**
 * What crosses worker boundaries for the embedded ledger (`ledger.*`
 * methods): machines and their onboarding by validators, rentals and their
 * payments, lease status, multisig accounts. Amounts and prices are integers
 * in the currency's smallest unit, written as decimal text so they stay
 * exact beyond 2^53.
 */
import { z } from "zod";
import { normalizeAccount } from "../wallet/mod.ts";

/** An SS58 account address (any prefix); the ledger stores its generic-prefix form. */
export const AccountSchema = z.string().max(64).refine(
  (text) => normalizeAccount(text) !== undefined,
  {
    message: "expected an SS58 account address",
  },
);

/** A machine id: the GPU node's node id, or the original network's 64-hex machine id. */
export const MachineIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, {
  message: "expected 1-128 letters, digits, '.', '_' or '-'",
});

/** An exact non-negative integer amount, as decimal text. */
export const AmountSchema = z.string().regex(/^(0|[1-9][0-9]{0,37})$/, {
  message: "expected a non-negative integer as decimal text",
});

/** What the owner declares and validators check. */
export const MachineConfigSchema = z.object({
  gpu_model: z.string().trim().min(1).max(128),
  gpu_count: z.number().int().min(0).max(64),
  cpu_model: z.string().trim().min(1).max(128),
  cpu_cores: z.number().int().min(1).max(4096),
  memory_gib: z.number().int().min(1).max(1_048_576),
  disk_gib: z.number().int().min(1).max(100_000_000),
}).strict();
export type MachineConfig = z.infer<typeof MachineConfigSchema>;

export const RENT_UNITS = ["second", "hour", "day"] as const;
export const RentUnitSchema = z.enum(RENT_UNITS);
export type RentUnit = z.infer<typeof RentUnitSchema>;

/** Price of one unit of rent time, per unit the owner accepts (at least one). */
export const RentPricesSchema = z.object({
  second: AmountSchema.optional(),
  hour: AmountSchema.optional(),
  day: AmountSchema.optional(),
}).strict().refine((prices) => Object.values(prices).some((price) => price !== undefined), {
  message: "give a price for at least one of second, hour, day",
});
export type RentPrices = z.infer<typeof RentPricesSchema>;

export const MACHINE_STATUSES = ["unverified", "verifying", "online", "leased", "failed"] as const;
export const MachineStatusSchema = z.enum(MACHINE_STATUSES);
export type MachineStatus = z.infer<typeof MachineStatusSchema>;

/** What a validator saw in its check VM; compared with the declared configuration. */
export const ValidatorReportSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("observed"),
    observed: MachineConfigSchema.partial({ cpu_model: true }),
  }).strict(),
  /** The check VM could not be created or reached: counts as a refusal. */
  z.object({ kind: z.literal("failed"), reason: z.string().min(1).max(1_000) }).strict(),
]);
export type ValidatorReport = z.infer<typeof ValidatorReportSchema>;

export const TimeSlotSchema = z.object({ starts_at: z.number(), ends_at: z.number() });
export type TimeSlot = z.infer<typeof TimeSlotSchema>;

export const ValidatorOrderSchema = z.object({
  validator: z.string(),
  /** 0, 1 or 2: the order in which validators grabbed; decides the slots. */
  position: z.number().int().min(0).max(2),
  grabbed_at: z.number(),
  slots: z.array(TimeSlotSchema),
  report: ValidatorReportSchema.nullable(),
  reported_at: z.number().nullable(),
  /** Whether the report confirmed the declared configuration; null until reported. */
  confirms: z.boolean().nullable(),
  mismatches: z.array(z.string()),
});
export type ValidatorOrder = z.infer<typeof ValidatorOrderSchema>;

export const MachineSchema = z.object({
  machine_id: MachineIdSchema,
  owner: z.string(),
  config: MachineConfigSchema,
  prices: RentPricesSchema,
  status: MachineStatusSchema,
  status_since: z.number(),
  /** Why the last validation failed; null otherwise. */
  failure_reason: z.string().nullable(),
  /** The rental holding the machine while it is leased. */
  rental_id: z.number().int().nullable(),
  registered_at: z.number(),
  /** The machine's heartbeats as the ledger saw them; `down_since` set while it is silent. */
  liveness: z.object({
    last_seen_at: z.number().nullable(),
    down_since: z.number().nullable(),
  }),
  validation: z.object({
    round: z.number().int(),
    started_at: z.number().nullable(),
    ends_at: z.number().nullable(),
    validators: z.array(ValidatorOrderSchema),
  }),
});
export type Machine = z.infer<typeof MachineSchema>;

export const RentalPaymentSchema = z.object({
  kind: z.enum(["rent", "renew"]),
  unit: RentUnitSchema,
  count: z.number().int(),
  price_per_unit: AmountSchema,
  amount: AmountSchema,
  paid_at: z.number(),
  ends_at: z.number(),
  paid_by: z.string(),
});
export type RentalPayment = z.infer<typeof RentalPaymentSchema>;

export const RentalSchema = z.object({
  rental_id: z.number().int(),
  machine_id: MachineIdSchema,
  renter: z.string(),
  starts_at: z.number(),
  ends_at: z.number(),
  /** `ended` once `ends_at` has passed (it may still be renewed within the retention period). */
  state: z.enum(["active", "ended"]),
  total_amount: AmountSchema,
  payments: z.array(RentalPaymentSchema),
  /**
   * Times the machine was down during the rental; each one's length was added
   * to `ends_at`, so the renter pays nothing for it. An ongoing outage has
   * `up_at` null and already counts in `ends_at`.
   */
  outages: z.array(z.object({
    down_since: z.number(),
    up_at: z.number().nullable(),
    credited_ms: z.number(),
  })),
});
export type Rental = z.infer<typeof RentalSchema>;

/** What a GPU node needs to know about one lease. */
export const LeaseStatusSchema = z.discriminatedUnion("state", [
  z.object({
    state: z.literal("active"),
    rental_id: z.string(),
    ends_at: z.number(),
    /** The GPUs (nvidia-smi indexes) a chain order holds (`gpu_index`); creates get those. */
    gpu_index: z.array(z.number().int().min(0)).optional(),
  }),
  z.object({ state: z.literal("ended"), rental_id: z.string(), ended_at: z.number() }),
  /** The verification service knows no rental of this machine by this renter. */
  z.object({ state: z.literal("none") }),
]);
export type LeaseStatus = z.infer<typeof LeaseStatusSchema>;

export const MultisigAccountSchema = z.object({
  address: z.string(),
  signatories: z.array(z.string()),
  threshold: z.number().int(),
  registered_by: z.string(),
  registered_at: z.number(),
});
export type MultisigAccount = z.infer<typeof MultisigAccountSchema>;

/**
 * Who signed a write, as checked by `mod/wallet/auth.ts` where the request
 * came in. The ledger records (account, nonce) until `nonce_expires_at`, in
 * the same transaction as the write, so a replay is refused even after a
 * restart.
 */
export const SignedBySchema = z.object({
  account: AccountSchema,
  nonce: z.string().min(1).max(128),
  nonce_expires_at: z.number().int(),
}).strict();
export type SignedBy = z.infer<typeof SignedBySchema>;

/** A base64 Ed25519 signature (64 bytes) by a node key. */
export const NodeSignatureSchema = z.string().regex(/^[A-Za-z0-9+/]{86}==$/, {
  message: "expected a base64 Ed25519 signature",
});

/**
 * The machine's own consent to a registration: its node key's signature of
 * the `machine_registration` statement (`mod/node_statement.ts`) naming the
 * owner who signs the request, the configuration and the prices.
 */
export const NodeProofSchema = z.object({
  signed_at: z.number().int().min(0),
  signature: NodeSignatureSchema,
}).strict();
export type NodeProof = z.infer<typeof NodeProofSchema>;

/** The body of a machine registration: what the GPU node's operator API hands its owner to sign. */
export const MachineRegistrationSchema = z.object({
  machine_id: MachineIdSchema,
  config: MachineConfigSchema,
  prices: RentPricesSchema,
  node_proof: NodeProofSchema,
}).strict();
export type MachineRegistration = z.infer<typeof MachineRegistrationSchema>;

export const LedgerMachineRegisterParams = MachineRegistrationSchema.extend({
  signed_by: SignedBySchema,
}).strict();

/** A GPU node's "I am alive", signed by its node key; the ledger marks a silent machine down. */
export const LedgerHeartbeatParams = z.object({
  machine_id: MachineIdSchema,
  signed_at: z.number().int().min(0),
  signature: NodeSignatureSchema,
}).strict();
export const HeartbeatResultSchema = z.object({
  machine_id: MachineIdSchema,
  status: MachineStatusSchema,
  last_seen_at: z.number(),
  /** The outage this heartbeat ended, if the machine had been marked down. */
  recovered: z.object({ down_since: z.number(), up_at: z.number() }).nullable(),
});

/** One change of an account's balance. */
export const AccountEntrySchema = z.object({
  seq: z.number().int(),
  at: z.number(),
  kind: z.enum(["fund", "rent", "renew"]),
  /** Signed decimal text: positive for a credit, negative for a debit. */
  delta: z.string().regex(/^-?(0|[1-9][0-9]{0,37})$/),
  balance: AmountSchema,
  rental_id: z.number().int().nullable(),
  /** The other side: the renter for an owner's income, the owner for a renter's payment, the admin for a fund. */
  counterparty: z.string().nullable(),
});
export type AccountEntry = z.infer<typeof AccountEntrySchema>;

export const AccountBalanceSchema = z.object({
  account: z.string(),
  balance: AmountSchema,
  /** The latest changes, newest first. */
  entries: z.array(AccountEntrySchema),
});
export type AccountBalance = z.infer<typeof AccountBalanceSchema>;

export const LedgerFundParams = z.object({
  signed_by: SignedBySchema,
  account: AccountSchema,
  amount: AmountSchema.refine((text) => text !== "0", { message: "fund a positive amount" }),
}).strict();
export const LedgerBalanceParams = z.object({ account: AccountSchema }).strict();
export const LedgerMachineListParams = z.object({
  status: MachineStatusSchema.optional(),
  owner: AccountSchema.optional(),
}).strict();
export const LedgerMachineListSchema = z.object({ machines: z.array(MachineSchema) });
export const LedgerMachineGetParams = z.object({ machine_id: MachineIdSchema }).strict();
export const LedgerOrderGrabParams = z.object({
  signed_by: SignedBySchema,
  machine_id: MachineIdSchema,
}).strict();
export const LedgerOrderReportParams = z.object({
  signed_by: SignedBySchema,
  machine_id: MachineIdSchema,
  report: ValidatorReportSchema,
}).strict();
/** How many units of rent time; capped by the ledger's longest rental. */
export const RentCountSchema = z.number().int().min(1).max(1_000_000_000);
export const LedgerRentParams = z.object({
  signed_by: SignedBySchema,
  machine_id: MachineIdSchema,
  unit: RentUnitSchema,
  count: RentCountSchema,
}).strict();
export const LedgerRenewParams = z.object({
  signed_by: SignedBySchema,
  rental_id: z.number().int().min(1),
  unit: RentUnitSchema,
  count: RentCountSchema,
}).strict();
export const LedgerRentalGetParams = z.object({ rental_id: z.number().int().min(1) }).strict();
export const LedgerLeaseStatusParams = z.object({
  machine_id: MachineIdSchema,
  renter: AccountSchema,
}).strict();
export const LedgerMultisigRegisterParams = z.object({
  signed_by: SignedBySchema,
  signatories: z.array(AccountSchema).min(2).max(100),
  threshold: z.number().int().min(1).max(100),
}).strict();
export const LedgerMultisigGetParams = z.object({ address: AccountSchema }).strict();
