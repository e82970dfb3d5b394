/** The public face of node_service/verification/: what the rest of the node may use. */
export {
  type LedgerTransport,
  LocalLedgerVerification,
  type MachineStatusReport,
  RemoteLedgerVerification,
  type VerificationService,
} from "./verification_service.ts";
