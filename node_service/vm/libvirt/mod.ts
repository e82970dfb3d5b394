/** The public face of node_service/vm/libvirt/: what the rest of the node may use. */
export { type DomainFacts, readDomainFacts } from "./domain_facts.ts";
export {
  buildDomainXml,
  dataDiskElement,
  type DomainNetwork,
  type DomainSpec,
  DomainSpecError,
  type DomainType,
  LOGIN_GUEST_PORT,
  type PortForward,
} from "./domain_xml.ts";
export {
  type DomainState,
  type DomainSummary,
  type Hypervisor,
  HypervisorError,
  isActive,
} from "./hypervisor.ts";
export { LibvirtHypervisor } from "./libvirt.ts";
export { virshMessage } from "./virsh_output.ts";
export { xmlElement } from "./xml_text.ts";
export { type DomainUsage, parseDomainStats, readDomstats } from "./domain_stats.ts";
