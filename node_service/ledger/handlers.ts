/**
 * The `ledger.*` methods of the node service. A seed keeps the embedded
 * ledger (`<data_dir>/node_service/ledger.db`, its own file and migrations)
 * and answers them; any other node answers each with a `not_found` error
 * that says where the ledger lives, so a caller learns at once that it asked
 * the wrong node. Every write goes to the event log under the signing
 * account.
 */
import {
  type Clock,
  type Handlers,
  ledgerPlace,
  type Logger,
  type Method,
  type NodeConfig,
  type NodePaths,
  RpcError,
} from "../../mod/mod.ts";
import type { EventLog } from "../event_log.ts";
import { Ledger } from "./ledger.ts";

type LedgerMethod = Extract<Method, `ledger.${string}`>;
export type LedgerHandlers = Pick<Handlers<"node_service">, LedgerMethod>;

/** The ledger's file inside the node service's directory. */
export function ledgerPath(paths: Pick<NodePaths, "serviceDir">): string {
  return `${paths.serviceDir}/ledger.db`;
}

export type LedgerDeps = {
  config: NodeConfig;
  paths: NodePaths;
  events: EventLog;
  clock: Clock;
  log: Logger;
  /** This node's id, to tell whether it is the `ledger_authority`. */
  nodeId?: string;
};

export type StartedLedger = {
  handlers: LedgerHandlers;
  /** The ledger itself on a seed; `undefined` elsewhere. */
  ledger: Ledger | undefined;
  stop(): void;
};

/**
 * Why this node's ledger may not start, or `undefined`: a ledger this node
 * keeps with an empty `ledger_validators` would let any wallet validate, which
 * only `ledger_open_validation` (devnets, tests) allows.
 */
export function ledgerStartRefusal(
  config: Pick<
    NodeConfig,
    "role" | "ledger_authority" | "ledger_validators" | "ledger_open_validation"
  >,
  nodeId: string,
): string | undefined {
  if (ledgerPlace(config, nodeId).kind !== "here") return undefined;
  if (config.ledger_validators.length > 0 || config.ledger_open_validation) return undefined;
  return "this seed keeps the ledger but ledger_validators (--ledger-validators, DBC_LEDGER_VALIDATORS) is empty: " +
    "name the validators' wallets, or set ledger_open_validation=true (devnets and tests only) to let any wallet validate";
}

export function startLedger(deps: LedgerDeps): StartedLedger {
  const place = ledgerPlace(deps.config, deps.nodeId ?? "");
  const refusal = ledgerStartRefusal(deps.config, deps.nodeId ?? "");
  if (refusal) throw new Error(refusal);
  if (place.kind !== "here") {
    const refuse = () => {
      throw new RpcError(
        "not_found",
        place.kind === "authority"
          ? `this node keeps no ledger: the ledger authority is node ${place.authority}`
          : `this node keeps no ledger: ${place.reason}`,
      );
    };
    const handlers: LedgerHandlers = {
      "ledger.machine_register": refuse,
      "ledger.machine_list": refuse,
      "ledger.machine_get": refuse,
      "ledger.order_grab": refuse,
      "ledger.order_report": refuse,
      "ledger.rent": refuse,
      "ledger.renew": refuse,
      "ledger.rental_get": refuse,
      "ledger.lease_status": refuse,
      "ledger.multisig_register": refuse,
      "ledger.multisig_get": refuse,
      "ledger.machine_heartbeat": refuse,
      "ledger.fund": refuse,
      "ledger.balance": refuse,
    };
    return { handlers, ledger: undefined, stop: () => {} };
  }

  const ledger = Ledger.open(ledgerPath(deps.paths), {
    now: () => deps.clock.now(),
    verificationWindowMs: deps.config.ledger_verification_window_s * 1_000,
    validators: deps.config.ledger_validators,
    renewalGraceMs: deps.config.lease_retention_days * 86_400_000,
    admins: deps.config.ledger_admins,
    heartbeatTimeoutMs: deps.config.ledger_heartbeat_timeout_s * 1_000,
  });
  deps.log.info("ledger open", { database: ledgerPath(deps.paths) });

  /** Runs a write and logs it, success or refusal, under the account that signed it. */
  const logged = <T>(
    action: LedgerMethod,
    actor: string,
    target: string,
    work: () => T,
    detail: (result: T) => Record<string, unknown> = () => ({}),
  ): T => {
    try {
      const result = work();
      deps.events.record({ actor, action, target, result: "ok", detail: detail(result) });
      return result;
    } catch (error) {
      deps.events.record({
        actor,
        action,
        target,
        result: "error",
        detail: { error: (error as Error).message },
      });
      throw error;
    }
  };

  const handlers: LedgerHandlers = {
    "ledger.machine_register": (params) =>
      logged(
        "ledger.machine_register",
        params.signed_by.account,
        params.machine_id,
        () => ledger.registerMachine(params.signed_by, params),
        (machine) => ({ status: machine.status, round: machine.validation.round }),
      ),
    "ledger.machine_list": (params) => ({ machines: ledger.listMachines(params) }),
    "ledger.machine_get": (params) => ledger.getMachine(params.machine_id),
    "ledger.order_grab": (params) =>
      logged(
        "ledger.order_grab",
        params.signed_by.account,
        params.machine_id,
        () => ledger.grabOrder(params.signed_by, params.machine_id),
        (machine) => ({ status: machine.status, validators: machine.validation.validators.length }),
      ),
    "ledger.order_report": (params) =>
      logged(
        "ledger.order_report",
        params.signed_by.account,
        params.machine_id,
        () => ledger.reportOrder(params.signed_by, params.machine_id, params.report),
        (machine) => ({ status: machine.status }),
      ),
    "ledger.rent": (params) =>
      logged(
        "ledger.rent",
        params.signed_by.account,
        params.machine_id,
        () => ledger.rent(params.signed_by, params),
        (rental) => ({
          rental_id: rental.rental_id,
          ends_at: rental.ends_at,
          amount: rental.total_amount,
        }),
      ),
    "ledger.renew": (params) =>
      logged(
        "ledger.renew",
        params.signed_by.account,
        `rental-${params.rental_id}`,
        () => ledger.renew(params.signed_by, params),
        (rental) => ({ ends_at: rental.ends_at, amount: rental.total_amount }),
      ),
    "ledger.rental_get": (params) => ledger.getRental(params.rental_id),
    "ledger.lease_status": (params) => ledger.leaseStatus(params.machine_id, params.renter),
    "ledger.multisig_register": (params) =>
      logged(
        "ledger.multisig_register",
        params.signed_by.account,
        `threshold-${params.threshold}`,
        () => ledger.registerMultisig(params.signed_by, params),
        (account) => ({ address: account.address }),
      ),
    "ledger.multisig_get": (params) => ledger.getMultisig(params.address),
    "ledger.machine_heartbeat": (params) => {
      const result = ledger.heartbeat(params);
      // Only a return from an outage is news; the heartbeats themselves are not logged.
      if (result.recovered) {
        deps.events.record({
          actor: params.machine_id,
          action: "ledger.machine_heartbeat",
          target: params.machine_id,
          result: "ok",
          detail: { recovered: result.recovered },
        });
      }
      return result;
    },
    "ledger.fund": (params) =>
      logged(
        "ledger.fund",
        params.signed_by.account,
        params.account,
        () => ledger.fund(params.signed_by, params),
        (balance) => ({ amount: params.amount, balance: balance.balance }),
      ),
    "ledger.balance": (params) => ledger.balance(params.account),
  };
  return { handlers, ledger, stop: () => ledger.close() };
}
