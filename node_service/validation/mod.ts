/** The public face of node_service/validation/: validators' check VMs on this GPU node. */
export { capacityRefusal, type HostCapacity } from "./capacity.ts";
export { CHECK_SCRIPT } from "./check_script.ts";
export { parseCheckConsole } from "./console_facts.ts";
export { CHECK_VM_OWNER_PREFIX } from "./constants.ts";
export { type CheckDecision, checkDecision, type CheckDecisionInput } from "./decision.ts";
export { hostCapacity, startCheckVms, type StartedCheckVms } from "./handlers.ts";
export { checkVmOwner, CheckVmService, type CheckVmServiceOptions } from "./service.ts";
export { CheckVmStore } from "./store.ts";
