/** The node service's public face: its worker entry point and its pure parts. */
export const NODE_SERVICE_WORKER_URL = new URL("./worker.ts", import.meta.url);
export { SERVICE_MIGRATIONS } from "./migrations.ts";
export { EventLog, type EventQuery, type LoggedEvent, type NewEvent } from "./event_log.ts";
export {
  GPU_QUERY_FIELDS,
  type GpuAllocation,
  GpuAllocationError,
  GpuAllocator,
  gpuReportFrom,
  type GpuWant,
  NVIDIA_SMI_ARGS,
  parseGpuCsv,
  parsePciBusId,
} from "./gpu/mod.ts";
export {
  type InstanceDriver,
  type InstanceEvent,
  nextInstanceState,
  type Transition,
} from "./instances.ts";
export {
  containerCreateBody,
  ContainerService,
  ContainerStore,
  DockerEngine,
  gpuDeviceRequests,
} from "./container/mod.ts";
export {
  answerLedgerRpc,
  billPeriod,
  isServedLedgerMethod,
  Ledger,
  LEDGER_MIGRATIONS,
  type LedgerOptions,
  ledgerPath,
  ledgerStartRefusal,
  type MachineEvent,
  type MachineState,
  networkLedgerTransport,
  nextMachineState,
  RENT_UNIT_MS,
  serveLedgerRpc,
  startLedger,
} from "./ledger/mod.ts";
export {
  leaseCheckResult,
  LeaseLoop,
  type LeaseObservation,
  type LeasePass,
  type LeaseRecord,
  type LeaseTarget,
  type LeaseTargets,
  leaseTargetsFromDrivers,
  nextLease,
  startLeases,
  verificationServiceFor,
} from "./lease/mod.ts";
export {
  type LedgerTransport,
  LocalLedgerVerification,
  type MachineStatusReport,
  RemoteLedgerVerification,
  type VerificationService,
} from "./verification/mod.ts";
export { ChainUnavailableError, DbcConnection, SubstrateVerification } from "./chain/mod.ts";
export {
  buildDomainXml,
  type DomainSpec,
  DomainSpecError,
  ImageStore,
  LibvirtHypervisor,
  reconcile,
  type ReconcileFinding,
  VM_FILES,
  VmService,
  VmStore,
} from "./vm/mod.ts";
export {
  buildServiceSummary,
  gpuGroups,
  type HostFacts,
  machineIdFor,
  MarketTable,
  type OfferOutcome,
  readHostFacts,
  startMarket,
} from "./market/mod.ts";
export { listeningPorts } from "./host/mod.ts";
