/**
 * The LAN service as the node-service worker runs it: built from the configuration, restored at
 * start, and answering `lan.*` messages. Only a GPU node has LANs; the others refuse.
 */
import type { Handlers, Logger, NodeConfig, NodePaths } from "../../mod/mod.ts";
import { RpcError } from "../../mod/mod.ts";
import type { EventLog } from "../event_log.ts";
import { type LanHost, SystemLanHost } from "./host.ts";
import { LanService } from "./service.ts";
import type { DatabaseSync } from "../../mod/mod.ts";

export type LanHandlers = Pick<
  Handlers<"node_service">,
  "lan.list" | "lan.create" | "lan.delete" | "lan.peers"
>;

/** The first letters of the nodes' bridge and VXLAN device names. */
export const NODE_DEVICE_PREFIX = "dbc";

export type StartedLans = {
  service: LanService;
  handlers: LanHandlers;
  /** Settles once every stored LAN's devices are back (or their failure logged). */
  restored: Promise<void>;
};

export function startLans(deps: {
  config: Pick<NodeConfig, "role" | "libvirt_uri" | "vm_domain_prefix">;
  paths: Pick<NodePaths, "serviceDir">;
  db: DatabaseSync;
  events: EventLog;
  members: (lanId: string) => string[];
  lastUse: (lanId: string) => number | null;
  now: () => number;
  log: Logger;
  host?: LanHost;
  /** {@link NODE_DEVICE_PREFIX} unless a test names its own (its leftovers are then told apart). */
  devicePrefix?: string;
}): StartedLans {
  const service = new LanService({
    db: deps.db,
    events: deps.events,
    host: deps.host ?? new SystemLanHost({ libvirtUri: deps.config.libvirt_uri }),
    xmlDir: `${deps.paths.serviceDir}/lans`,
    domainPrefix: deps.config.vm_domain_prefix,
    devicePrefix: deps.devicePrefix ?? NODE_DEVICE_PREFIX,
    members: deps.members,
    lastUse: deps.lastUse,
    now: deps.now,
    log: deps.log,
  });
  const gpu = deps.config.role === "gpu";
  const refuse = () => {
    throw new RpcError(
      "conflict",
      `this is a ${deps.config.role} node: only a GPU node has private networks`,
    );
  };
  return {
    service,
    restored: gpu ? service.restore() : Promise.resolve(),
    handlers: {
      "lan.list": async (params) => ({ networks: await service.list(params.account, params.name) }),
      "lan.create": (params) => gpu ? service.create(params) : refuse(),
      "lan.delete": (params) => gpu ? service.delete(params) : refuse(),
      "lan.peers": (params) => gpu ? service.setPeers(params) : refuse(),
    },
  };
}
