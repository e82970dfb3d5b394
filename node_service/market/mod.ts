/** The public face of node_service/market/: what the rest of the node may use. */
export {
  buildServiceSummary,
  gpuGroups,
  type HostFacts,
  readHostFacts,
} from "./machine_summary.ts";
export { machineIdFor, startMarket } from "./service.ts";
export { MarketTable, type OfferOutcome } from "./table.ts";
