/** The public face of node_service/machine/: the GPU node's registration and heartbeats. */
export { type Declaration, declareMachine } from "./declaration.ts";
export { OWNER_WALLET_SETTING, type StartedMachine, startMachine } from "./service.ts";
