/** The public face of node_service/ledger/: what the rest of the node may use. */
export { billPeriod, RENT_UNIT_MS } from "./billing.ts";
export { ledgerPath, ledgerStartRefusal, startLedger } from "./handlers.ts";
export { Ledger, type LedgerOptions } from "./ledger.ts";
export { type MachineEvent, type MachineState, nextMachineState } from "./machine_state.ts";
export { LEDGER_MIGRATIONS } from "./migrations.ts";
export {
  answerLedgerRpc,
  isServedLedgerMethod,
  type NetworkLedgerTransport,
  networkLedgerTransport,
  serveLedgerRpc,
} from "./rpc.ts";
export { inSlot } from "./validation.ts";
