/** The public face of node_service/monitor/: renters' monitoring servers and the pushes to them. */
export { formatServer, judgeAddress, judgeServers, type MonitorServer } from "./address.ts";
export { type DomainSample, MONITOR_DOMSTATS_FLAGS, parseDomstats } from "./domstats.ts";
export { type HostSample, sampleHost } from "./host_sample.ts";
export { type AgentData, hostAgentData, vmAgentData, type ZabbixItem } from "./payload.ts";
export { pushFlags } from "./push_policy.ts";
export type { PushJob, PushOutcome } from "./push_protocol.ts";
export { processPusher, type PushRunner } from "./pusher.ts";
export {
  type MonitorDeps,
  type MonitoredVm,
  MonitorService,
  type RoundReport,
  type StartedMonitor,
  startMonitor,
} from "./service.ts";
export { MonitorStore } from "./store.ts";
export { activeChecksRequest, answerSucceeded, frame, readFrame } from "./zabbix.ts";
