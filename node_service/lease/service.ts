/**
 * Starts the lease loop on a GPU node with the verification service the
 * configuration names: the chain (`verification_service = substrate`), or the
 * seeds' ledger: in this process when the node keeps it, otherwise through a
 * {@link LedgerTransport} (the network layer's seam; without one the loop
 * does not start and says why).
 */
import type { Clock, DatabaseSync, Logger, NodeConfig } from "../../mod/mod.ts";
import type { EventLog } from "../event_log.ts";
import type { InstanceDriver } from "../instances.ts";
import { DbcConnection, SubstrateVerification } from "../chain/mod.ts";
import type { Ledger } from "../ledger/mod.ts";
import { verificationMachineId } from "./check.ts";
import { LeaseLoop, leaseTargetsFromDrivers } from "./loop.ts";
import {
  type LedgerTransport,
  LocalLedgerVerification,
  RemoteLedgerVerification,
  type VerificationService,
} from "../verification/mod.ts";

export type LeaseServiceDeps = {
  config: NodeConfig;
  nodeId: string;
  db: DatabaseSync;
  events: EventLog;
  clock: Clock;
  log: Logger;
  /** The instance kinds the loop acts on (VMs, containers). */
  drivers: () => readonly InstanceDriver[];
  /** The ledger, when this process keeps it. */
  ledger?: Ledger;
  /** How to reach a seed's ledger; provided by the network layer. */
  ledgerTransport?: LedgerTransport;
};

export type StartedLeases = { loop: LeaseLoop | undefined; stop(): Promise<void> };

/** The verification service the configuration names, or why there is none yet. */
export function verificationServiceFor(
  deps: Pick<LeaseServiceDeps, "config" | "ledger" | "ledgerTransport">,
): VerificationService | { missing: string } {
  const { config } = deps;
  if (config.verification_service === "substrate") {
    if (config.substrate_rpc_url === "") {
      return { missing: "verification_service is substrate but substrate_rpc_url is empty" };
    }
    return new SubstrateVerification(
      new DbcConnection(config.substrate_rpc_url, { timeoutMs: config.request_timeout_ms }),
    );
  }
  if (deps.ledger) return new LocalLedgerVerification(deps.ledger);
  if (deps.ledgerTransport) return new RemoteLedgerVerification(deps.ledgerTransport);
  return { missing: "no way to reach a seed's ledger yet (the network layer provides it)" };
}

export function startLeases(deps: LeaseServiceDeps): StartedLeases {
  if (deps.config.role !== "gpu") return { loop: undefined, stop: () => Promise.resolve() };
  const verification = verificationServiceFor(deps);
  if ("missing" in verification) {
    deps.log.warn("lease loop not started", { reason: verification.missing });
    return { loop: undefined, stop: () => Promise.resolve() };
  }
  const loop = new LeaseLoop({
    db: deps.db,
    events: deps.events,
    clock: deps.clock,
    verification,
    targets: leaseTargetsFromDrivers(deps.drivers),
    machineId: verificationMachineId(deps.config, deps.nodeId),
    intervalMs: deps.config.lease_check_interval_s * 1_000,
    retentionMs: deps.config.lease_retention_days * 86_400_000,
    log: deps.log,
  });
  loop.start();
  deps.log.info("lease loop started", { verification: verification.kind });
  return {
    loop,
    async stop() {
      await loop.stop();
      verification.close();
    },
  };
}
