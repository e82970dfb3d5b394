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
    networkDir: `${dataDir}/network`,
    networkDb: `${dataDir}/network/network.db`,
    serviceDir: `${dataDir}/node_service`,
    serviceDb: `${dataDir}/node_service/node.db`,
  };
}
