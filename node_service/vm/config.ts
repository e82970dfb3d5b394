/**
 * The VM settings of the node configuration, parsed into the shapes the VM
 * service uses. Pure; the text forms are checked by the config schema first.
 */
import type { NodeConfig, NodePaths } from "../../mod/mod.ts";
import { vmStorageDirs } from "../../mod/mod.ts";
import type { DomainNetwork, DomainType, PortForward } from "./libvirt/mod.ts";
import { parsePortRange, type PortRange } from "../host/mod.ts";

/** How guests are networked: QEMU user-mode NAT with forwarded ports, a host bridge, or a libvirt network. */
export type VmNetworkSetting =
  | { mode: "user" }
  | { mode: "bridge"; bridge: string }
  | { mode: "network"; network: string };

export type VmSettings = {
  libvirtUri: string;
  domainType: DomainType;
  vmDir: string;
  imageDir: string;
  network: VmNetworkSetting;
  listenAddress: string;
  loginPorts: PortRange;
  /** The user a renter logs in to a Linux guest as. */
  loginUser: string;
  /** Names of this node's libvirt domains start with it; reconciliation looks only at these. */
  domainPrefix: string;
};

/** `user`, `bridge:<interface>` or `network:<name>`. */
export function parseVmNetwork(text: string): VmNetworkSetting | undefined {
  if (text === "user") return { mode: "user" };
  const bridge = /^bridge:([A-Za-z0-9][A-Za-z0-9_.-]{0,14})$/.exec(text);
  if (bridge) return { mode: "bridge", bridge: bridge[1]! };
  const network = /^network:([A-Za-z0-9][A-Za-z0-9_.-]{0,63})$/.exec(text);
  if (network) return { mode: "network", network: network[1]! };
  return undefined;
}

export function vmSettings(config: NodeConfig, paths: NodePaths): VmSettings {
  const network = parseVmNetwork(config.vm_network);
  const loginPorts = parsePortRange(config.vm_port_range);
  // The config schema has already refused anything these parsers refuse.
  if (!network || !loginPorts) {
    throw new Error("vm_network or vm_port_range slipped past the config schema");
  }
  const dirs = vmStorageDirs(config, paths);
  return {
    libvirtUri: config.libvirt_uri,
    domainType: config.vm_domain_type,
    vmDir: dirs.vmDir,
    imageDir: dirs.imageDir,
    network,
    listenAddress: config.vm_listen_address,
    loginPorts,
    loginUser: config.vm_login_user,
    domainPrefix: config.vm_domain_prefix,
  };
}

/** The {@link DomainNetwork} of one VM under `setting`. */
export function domainNetwork(
  setting: VmNetworkSetting,
  forward: { hostAddress: string; hostPort: number; guestPort: number } | undefined,
  customForwards: PortForward[] = [],
): DomainNetwork {
  switch (setting.mode) {
    case "user": {
      // Each key only when it has something, so older VMs keep their spec digest.
      const network: DomainNetwork = { mode: "user" };
      if (forward) network.forward = forward;
      if (customForwards.length > 0) network.customForwards = customForwards;
      return network;
    }
    case "bridge":
      return setting;
    case "network":
      return setting;
  }
}
