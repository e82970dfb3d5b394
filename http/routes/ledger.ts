/**
 * The seeds' ledger over HTTP (`/api/v1/ledger/...`): machines registered by
 * their owners and verified by validators, rentals and renewals, lease
 * status, multisig accounts. Reads are open; every write is wallet-signed
 * (`http/auth.ts`) and the ledger records who signed it. A node that keeps
 * no ledger answers 404 saying so.
 */
import { z } from "zod";
import {
  AccountBalanceSchema,
  AccountSchema,
  AmountSchema,
  LeaseStatusSchema,
  LedgerMachineListSchema,
  MachineIdSchema,
  MachineRegistrationSchema,
  MachineSchema,
  MachineStatusSchema,
  MultisigAccountSchema,
  RentalSchema,
  RentCountSchema,
  RentUnitSchema,
  ValidatorReportSchema,
} from "../../mod/mod.ts";
import type { ApiRoutes } from "../api_route.ts";
import type { AppDeps } from "../app_deps.ts";
import type { WalletAuthenticator } from "../auth.ts";
import { SIGNED_ROUTE_ERRORS } from "./common.ts";

const WRITE_ERRORS = SIGNED_ROUTE_ERRORS;
const SIGNED =
  "Wallet-signed: X-DBC-Wallet, X-DBC-Nonce, X-DBC-Timestamp and X-DBC-Sign headers (or the original's " +
  "wallet, nonce, timestamp, sign body fields; multisig: X-DBC-Multisig-Wallets, -Threshold, -Signs), " +
  "signing `dbc-request-v1\\n<METHOD>\\n<path?query>\\n<account>\\n<sha256 of the canonical body>\\n" +
  "<timestamp ms>\\n<nonce>` (see mod/wallet/signed_request.ts).";
const RentalIdParams = z.object({ rental_id: z.coerce.number().int().min(1) });
const MachineParams = z.object({ machine_id: MachineIdSchema });

export function ledgerRoutes(routes: ApiRoutes, deps: AppDeps, auth: WalletAuthenticator): void {
  routes.add({
    method: "post",
    path: "/api/v1/ledger/machines",
    summary:
      "Register a machine: its owner signs the request, the machine's node key signs node_proof; it starts unverified",
    auth: "wallet",
    description: `${SIGNED} The body comes from the GPU node's own operator API ` +
      "(`POST /api/v1/operator/registration`, or `deno task cli machine register`): `node_proof` is " +
      "the node key's signature of the machine id, the owner (this request's signer, the node's " +
      "`owner_wallet`), the configuration, the prices and the time; without it, or for another " +
      "owner, the registration is refused.",
    tags: ["ledger"],
    // Not strict: the original dialect's signature fields (wallet, nonce, sign) may sit in the
    // body beside the registration; the wallet check reads them from the raw body.
    body: z.object(MachineRegistrationSchema.shape),
    response: MachineSchema,
    successStatus: 201,
    errors: WRITE_ERRORS,
  }, async ({ body, rawBody, context }) => {
    const who = await auth.authorise(context, rawBody);
    return deps.call("ledger.machine_register", { signed_by: auth.signedBy(who), ...body });
  });

  routes.add({
    method: "get",
    path: "/api/v1/ledger/machines",
    summary: "Machines, optionally only those in one state or of one owner",
    tags: ["ledger"],
    query: z.object({ status: MachineStatusSchema.optional(), owner: AccountSchema.optional() }),
    response: LedgerMachineListSchema,
    errors: ["not_found", "try_later", "timeout"],
  }, ({ query }) => deps.call("ledger.machine_list", query));

  routes.add({
    method: "get",
    path: "/api/v1/ledger/machines/:machine_id",
    summary: "One machine with its validation round",
    tags: ["ledger"],
    params: MachineParams,
    response: MachineSchema,
    errors: ["not_found", "try_later", "timeout"],
  }, ({ params }) => deps.call("ledger.machine_get", params));

  routes.add({
    method: "post",
    path: "/api/v1/ledger/machines/:machine_id/grab",
    summary:
      "A validator takes the order to verify a machine (at most 3); its time slots are in the answer",
    auth: "wallet",
    description: SIGNED,
    tags: ["ledger"],
    params: MachineParams,
    body: z.object({}),
    response: MachineSchema,
    errors: WRITE_ERRORS,
  }, async ({ params, rawBody, context }) => {
    const who = await auth.authorise(context, rawBody);
    return deps.call("ledger.order_grab", { signed_by: auth.signedBy(who), ...params });
  });

  routes.add({
    method: "post",
    path: "/api/v1/ledger/machines/:machine_id/report",
    summary: "A validator reports what its check VM saw, within one of its time slots",
    auth: "wallet",
    description: SIGNED,
    tags: ["ledger"],
    params: MachineParams,
    body: z.object({ report: ValidatorReportSchema }),
    response: MachineSchema,
    errors: WRITE_ERRORS,
  }, async ({ params, body, rawBody, context }) => {
    const who = await auth.authorise(context, rawBody);
    return deps.call("ledger.order_report", {
      signed_by: auth.signedBy(who),
      ...params,
      report: body.report,
    });
  });

  routes.add({
    method: "post",
    path: "/api/v1/ledger/rentals",
    summary: "Rent an online machine for a number of seconds, hours or days",
    auth: "wallet",
    description: SIGNED,
    tags: ["ledger"],
    body: z.object({ machine_id: MachineIdSchema, unit: RentUnitSchema, count: RentCountSchema }),
    response: RentalSchema,
    successStatus: 201,
    errors: WRITE_ERRORS,
  }, async ({ body, rawBody, context }) => {
    const who = await auth.authorise(context, rawBody);
    return deps.call("ledger.rent", { signed_by: auth.signedBy(who), ...body });
  });

  routes.add({
    method: "post",
    path: "/api/v1/ledger/rentals/:rental_id/renew",
    summary: "Renew a rental (by its renter), also within the retention period after its end",
    auth: "wallet",
    description: SIGNED,
    tags: ["ledger"],
    params: RentalIdParams,
    body: z.object({ unit: RentUnitSchema, count: RentCountSchema }),
    response: RentalSchema,
    errors: WRITE_ERRORS,
  }, async ({ params, body, rawBody, context }) => {
    const who = await auth.authorise(context, rawBody);
    return deps.call("ledger.renew", { signed_by: auth.signedBy(who), ...params, ...body });
  });

  routes.add({
    method: "get",
    path: "/api/v1/ledger/rentals/:rental_id",
    summary: "One rental: renter, period, amount and payments",
    tags: ["ledger"],
    params: RentalIdParams,
    response: RentalSchema,
    errors: ["not_found", "try_later", "timeout"],
  }, ({ params }) => deps.call("ledger.rental_get", params));

  routes.add({
    method: "get",
    path: "/api/v1/ledger/leases",
    summary: "Whether a renter's rental of a machine runs, ended, or never was",
    tags: ["ledger"],
    query: z.object({ machine_id: MachineIdSchema, renter: AccountSchema }),
    response: LeaseStatusSchema,
    errors: ["not_found", "try_later", "timeout"],
  }, ({ query }) => deps.call("ledger.lease_status", query));

  routes.add({
    method: "post",
    path: "/api/v1/ledger/accounts/:account/fund",
    summary: "Credit an account (a ledger admin, ledger_admins, signs)",
    auth: "wallet",
    description: SIGNED,
    tags: ["ledger"],
    params: z.object({ account: AccountSchema }),
    body: z.object({
      amount: AmountSchema.refine((text) => text !== "0", { message: "fund a positive amount" }),
    }),
    response: AccountBalanceSchema,
    errors: WRITE_ERRORS,
  }, async ({ params, body, rawBody, context }) => {
    const who = await auth.authorise(context, rawBody);
    return deps.call("ledger.fund", {
      signed_by: auth.signedBy(who),
      account: params.account,
      amount: body.amount,
    });
  });

  routes.add({
    method: "get",
    path: "/api/v1/ledger/accounts/:account",
    summary: "An account's balance and its latest changes (rent paid, rent earned, funds)",
    tags: ["ledger"],
    params: z.object({ account: AccountSchema }),
    response: AccountBalanceSchema,
    errors: ["not_found", "try_later", "timeout"],
  }, ({ params }) => deps.call("ledger.balance", params));

  routes.add({
    method: "post",
    path: "/api/v1/ledger/multisig",
    summary: "Record a multisig account (signed by one of its signatories)",
    auth: "wallet",
    description: SIGNED,
    tags: ["ledger"],
    body: z.object({
      signatories: z.array(AccountSchema).min(2).max(100),
      threshold: z.number().int().min(1).max(100),
    }),
    response: MultisigAccountSchema,
    errors: WRITE_ERRORS,
  }, async ({ body, rawBody, context }) => {
    const who = await auth.authorise(context, rawBody);
    return deps.call("ledger.multisig_register", { signed_by: auth.signedBy(who), ...body });
  });

  routes.add({
    method: "get",
    path: "/api/v1/ledger/multisig/:address",
    summary: "A recorded multisig account",
    tags: ["ledger"],
    params: z.object({ address: AccountSchema }),
    response: MultisigAccountSchema,
    errors: ["not_found", "try_later", "timeout"],
  }, ({ params }) => deps.call("ledger.multisig_get", params));
}
