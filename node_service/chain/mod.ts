/** The public face of node_service/chain/: what the rest of the node may use. */
export { JsonRpcError, JsonRpcWebSocket } from "./json_rpc_ws.ts";
export { SubstrateVerification } from "./substrate_rpc.ts";
