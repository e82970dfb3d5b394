/** The public face of node_service/host/: what the rest of the node may use. */
export { DiskGuard } from "./disk_space.ts";
export { DEFAULT_HOST_CHECK_MAX_AGE_MS, HostChecker } from "./facts.ts";
export {
  HostPortsUnknownError,
  listeningPorts,
  parsePortRange,
  pickFreePort,
  type PortKey,
  portKey,
  type PortProtocol,
  type PortRange,
} from "./ports.ts";
export {
  ipv6Refusal,
  NO_OUTBOUND,
  NON_PUBLIC_IPV4,
  nonPublicIpv6,
  outboundFlags,
  type OutboundPolicy,
} from "./outbound.ts";
export {
  failureReason,
  type OutboundProcess,
  spawnOutbound,
  stderrLines,
} from "./outbound_process.ts";
