/** The node service's public face: its worker entry point and its pure parts. */
export const NODE_SERVICE_WORKER_URL = new URL("./worker.ts", import.meta.url);
export { SERVICE_MIGRATIONS } from "./migrations.ts";
export { EventLog, type EventQuery, type LoggedEvent, type NewEvent } from "./event_log.ts";
export { GPU_QUERY_FIELDS, gpuReportFrom, NVIDIA_SMI_ARGS, parseGpuCsv } from "./gpu_inventory.ts";
export {
  type InstanceDriver,
  type InstanceEvent,
  nextInstanceState,
  type Transition,
} from "./instances.ts";
export { containerCreateBody, gpuDeviceRequests } from "./docker_wire.ts";
export { Ledger, type LedgerOptions } from "./ledger/ledger.ts";
export { LEDGER_MIGRATIONS } from "./ledger/migrations.ts";
export { billPeriod, RENT_UNIT_MS } from "./ledger/billing.ts";
export { type MachineEvent, type MachineState, nextMachineState } from "./ledger/machine_state.ts";
export { ledgerPath, startLedger } from "./ledger_handlers.ts";
export {
  LeaseLoop,
  type LeasePass,
  type LeaseTarget,
  type LeaseTargets,
  leaseTargetsFromDrivers,
} from "./lease_loop.ts";
export { type LeaseObservation, type LeaseRecord, nextLease } from "./lease_state.ts";
export { startLeases, verificationServiceFor } from "./lease_service.ts";
export {
  type LedgerTransport,
  LocalLedgerVerification,
  type MachineStatusReport,
  RemoteLedgerVerification,
  type VerificationService,
} from "./verification_service.ts";
export { SubstrateVerification } from "./substrate_rpc.ts";
export { JsonRpcError, JsonRpcWebSocket } from "./json_rpc_ws.ts";
export { buildDomainXml, type DomainSpec, DomainSpecError } from "./domain_xml.ts";
export {
  type GpuAllocation,
  GpuAllocationError,
  GpuAllocator,
  type GpuWant,
} from "./gpu_allocation.ts";
export { parsePciBusId } from "./pci_address.ts";
export { reconcile, type ReconcileFinding } from "./reconcile.ts";
export { MarketTable, type OfferOutcome } from "./market_table.ts";
export {
  buildServiceSummary,
  gpuGroups,
  type HostFacts,
  readHostFacts,
} from "./machine_summary.ts";
export {
  answerLedgerRpc,
  isServedLedgerMethod,
  networkLedgerTransport,
  serveLedgerRpc,
} from "./ledger_rpc.ts";
export { leaseCheckResult } from "./lease_check.ts";
export { machineIdFor, startMarket } from "./market_service.ts";
