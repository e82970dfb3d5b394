/** The public face of node_service/lease/: what the rest of the node may use. */
export { leaseCheckHandlers, leaseCheckResult, verificationMachineId } from "./check.ts";
export {
  LeaseLoop,
  type LeasePass,
  type LeaseTarget,
  type LeaseTargets,
  leaseTargetsFromDrivers,
} from "./loop.ts";
export { startLeases, verificationServiceFor } from "./service.ts";
export { type LeaseObservation, type LeaseRecord, nextLease } from "./state.ts";
