/**
 * `lease.check`: whether an account (a wallet, or the multisig account it
 * acts for) rents a machine now, as the verification service this node uses
 * says: the embedded ledger on a seed, a seed's ledger through the network
 * elsewhere, or the chain when configured. The HTTP API asks it before it
 * lets a renter operate a machine's instances.
 */
import {
  type Clock,
  type Handlers,
  type LeaseCheckResult,
  type LeaseStatus,
  RpcError,
} from "../../mod/mod.ts";
import type { VerificationService } from "../verification/mod.ts";

export type LeaseCheckHandlers = Pick<Handlers<"node_service">, "lease.check">;

/** Renting means an active rental whose end is still ahead (the ledger may not have marked it ended yet). */
export function leaseCheckResult(
  lease: LeaseStatus,
  verification: VerificationService["kind"],
  now: number,
): LeaseCheckResult {
  const renting = lease.state === "active" && lease.ends_at > now;
  return {
    renting,
    lease,
    ...(renting && lease.state === "active"
      ? { rental: { rental_id: lease.rental_id, ends_at: lease.ends_at } }
      : {}),
    verification,
    checked_at: now,
  };
}

/**
 * The id the verification service knows this node's machine by: the chain's machine id under
 * `verification_service=substrate` when `substrate_machine_id` is set, else the node id (the
 * embedded ledger registers machines by node id).
 */
export function verificationMachineId(
  config: { verification_service: string; substrate_machine_id: string },
  nodeId: string,
): string {
  return config.verification_service === "substrate" && config.substrate_machine_id !== ""
    ? config.substrate_machine_id
    : nodeId;
}

export function leaseCheckHandlers(
  verification: VerificationService | { missing: string },
  clock: Clock,
  /** This node's own machine: asked for by node id (as the HTTP API does), checked under `as`. */
  self?: { nodeId: string; as: string },
): LeaseCheckHandlers {
  return {
    "lease.check": async (params) => {
      if ("missing" in verification) {
        throw new RpcError("unavailable", `cannot check leases: ${verification.missing}`);
      }
      const machineId = self && params.machine_id === self.nodeId ? self.as : params.machine_id;
      let lease: LeaseStatus;
      try {
        lease = await verification.leaseStatus({
          machineId,
          renter: params.account,
        });
      } catch (error) {
        if (error instanceof RpcError) throw error;
        throw new RpcError(
          "unavailable",
          `the verification service (${verification.kind}) did not answer: ${
            (error as Error)?.message ?? String(error)
          }`,
        );
      }
      return leaseCheckResult(lease, verification.kind, clock.now());
    },
  };
}
