/**
 * Where things live inside the data directory. Each worker owns one
 * sub-directory, so its file permissions can be scoped to exactly that; the
 * key file sits at the top, outside every worker's reach.
 */
export type NodePaths = {
  readonly dataDir: string;
  /** The node's private key (main thread only). */
  readonly keyFile: string;
  /** Held open while the node runs, so two nodes never share a data directory. */
  readonly lockFile: string;
  /** The operator endpoints' secret (main thread reads it; only the HTTP worker gets it). */
  readonly operatorTokenFile: string;
  readonly networkDir: string;
  readonly networkDb: string;
  readonly serviceDir: string;
  readonly serviceDb: string;
};

export function nodePaths(dataDir: string): NodePaths {
  return {
    dataDir,
    keyFile: `${dataDir}/node.key`,
    lockFile: `${dataDir}/node.lock`,
    operatorTokenFile: `${dataDir}/operator.token`,
    networkDir: `${dataDir}/network`,
    networkDb: `${dataDir}/network/network.db`,
    serviceDir: `${dataDir}/node_service`,
    serviceDb: `${dataDir}/node_service/node.db`,
  };
}

/**
 * Where VM disks and VM images live: the configured directories, or `vms/`
 * and `images/` in the data directory. QEMU runs as libvirt's own user, so
 * every directory above them must be traversable by others (mode 0711 is
 * enough; the key file keeps its own 0600).
 */
export function vmStorageDirs(
  config: { readonly vm_dir: string; readonly image_dir: string },
  paths: Pick<NodePaths, "dataDir">,
): { vmDir: string; imageDir: string } {
  return {
    vmDir: config.vm_dir === "" ? `${paths.dataDir}/vms` : config.vm_dir,
    imageDir: config.image_dir === "" ? `${paths.dataDir}/images` : config.image_dir,
  };
}
