/** The public face of node_service/lan/: renters' private networks (libvirt, bridges, VXLAN). */
export {
  formatIpv4,
  formatRange,
  judgePeer,
  judgeRange,
  overlaps,
  parseIpv4,
  parseRange,
  rangeAddresses,
} from "./cidr.ts";
export { LAN_MTU, VXLAN_PORT } from "./constants.ts";
export { type LanHandlers, NODE_DEVICE_PREFIX, type StartedLans, startLans } from "./handlers.ts";
export {
  type LanHost,
  LanHostError,
  type LanToolRunner,
  SystemLanHost,
  systemRunner,
  type VxlanSpec,
} from "./host.ts";
export { type LanNames, lanNames, type LanRecord, networkXml } from "./plan.ts";
export {
  type LanAttachment,
  type LanCreateRequest,
  LanService,
  type LanServiceOptions,
} from "./service.ts";
