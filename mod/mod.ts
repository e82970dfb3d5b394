/** The shared kernel's public face: everything other folders may use from `mod/`. */
export { type Clock, ManualClock, systemClock, type TimerHandle } from "./clock.ts";
export {
  CONFIG_FIELDS,
  ConfigError,
  type ConfigKey,
  type ConfigSource,
  describeSource,
  envName,
  flagName,
  helpText,
  type HostPort,
  loadConfig,
  type LoadedConfig,
  type NodeConfig,
  parseCommandLine,
  parseHostPort,
  resolvePath,
  type Role,
  ROLES,
} from "./config.ts";
export { type DataDirLock, DataDirLockedError, lockDataDir } from "./data_lock.ts";
export {
  generateNodeKeys,
  KeyFileError,
  keysFromPrivateKey,
  loadOrCreateNodeKeys,
  nodeIdFromPublicKey,
  type NodeKeys,
  publicKeyFromNodeId,
} from "./keys.ts";
export {
  createLogger,
  type LogFields,
  type LogFormat,
  type Logger,
  type LogLevel,
  silentLogger,
} from "./log.ts";
export * from "./messages.ts";
export * from "./instance_schemas.ts";
export * from "./container_schemas.ts";
export * from "./vm_schemas.ts";
export { type NodePaths, nodePaths, vmStorageDirs } from "./paths.ts";
export {
  engineSocketPermissions,
  listenAddress,
  SERVICE_ENV,
  SERVICE_PROC_NET_FILES,
  SERVICE_PROGRAMS,
  type ServiceProgram,
  type WorkerPermissions,
  workerPermissions,
} from "./permissions.ts";
export { resolveProgram } from "./programs.ts";
export {
  type CallOptions,
  DEFAULT_RPC_TIMEOUT_MS,
  type Handler,
  type Handlers,
  RpcPeer,
} from "./rpc.ts";
export {
  type DatabaseSync,
  type Migration,
  MigrationError,
  openDatabase,
  schemaVersion,
  transaction,
} from "./sqlite.ts";
export {
  backoffDelay,
  type BackoffPolicy,
  DEFAULT_BACKOFF,
  Supervisor,
  type WorkerSpec,
} from "./supervisor.ts";
export { VERSION } from "./version.ts";
export { type RunningWorker, runWorker, type WorkerContext } from "./worker_runtime.ts";
