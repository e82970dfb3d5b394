/** The public face of node_service/chain/: what the rest of the node may use. */
export { ChainUnavailableError, DBC_MS_PER_BLOCK, DbcConnection } from "./dbc_api.ts";
export type { ChainView } from "./dbc_api.ts";
export { SubstrateVerification } from "./substrate_rpc.ts";
export type { RentOrder } from "./rentals.ts";
export { ChainRefusal, type Included, refusalOf, submitExtrinsic } from "./extrinsics.ts";
export {
  BLOCKS_PER_MINUTE,
  CONFIRM_WINDOW_BLOCKS,
  DbcRenter,
  MIN_RELET_BLOCKS,
  multisigAddress,
  type MultisigRenter,
  RENT_STEP_BLOCKS,
  type RentResult,
  type WriteResult,
} from "./renter.ts";
