/** The public face of node_service/vm/: what the rest of the node may use. */
export { VM_FILES } from "./constants.ts";
export { ImageStore, renterImageKey } from "./images/mod.ts";
export { startVms } from "./handlers.ts";
export {
  buildDomainXml,
  type DomainSpec,
  DomainSpecError,
  LibvirtHypervisor,
  virshMessage,
  xmlElement,
} from "./libvirt/mod.ts";
export { reconcile, type ReconcileFinding } from "./reconcile.ts";
export { toRpcError, VmService } from "./service.ts";
export { VmStore } from "./store.ts";
