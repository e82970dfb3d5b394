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
  parseSeedAddress,
  resolvePath,
  type Role,
  ROLES,
  type SeedAddress,
} from "./config.ts";
export { type DataDirLock, DataDirLockedError, lockDataDir } from "./data_lock.ts";
export {
  IMAGE_SERVER_ID,
  type ImageServerEntry,
  parseImageServerEntry,
} from "./image_server_entry.ts";
export { LEDGER_AUTHORITY_SETTING, type LedgerPlace, ledgerPlace } from "./ledger_authority.ts";
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
export * from "./schemas/mod.ts";
export * from "./metrics/mod.ts";
export * from "./wallet/mod.ts";
export { loadOrCreateOperatorToken, OperatorTokenError, tokensEqual } from "./operator_token.ts";
export {
  derivedMachineId,
  isMachineId,
  MACHINE_ID_PATTERN,
  machineIdOf,
  nodeIdOfMachineId,
} from "./machine_id.ts";
export { type NodePaths, nodePaths, vmStorageDirs } from "./paths.ts";
export {
  chainRpcHosts,
  CONFIG_DIR,
  engineSocketPermissions,
  LAN_PROGRAMS,
  listenAddress,
  MONITOR_SYS,
  nodeProcessPermissions,
  offersLans,
  permissionFlags,
  type ProcessPermissionInputs,
  type ProcessPermissions,
  pushesMonitoring,
  QEMU_CONF_FILE,
  SERVICE_ENV,
  SERVICE_PROGRAMS,
  SERVICE_SYS,
  type ServiceProgram,
  serviceProgramPaths,
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
  type Durability,
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
export {
  concatBytes,
  Ed25519Signer,
  type EphemeralKey,
  newEphemeralKey,
  open,
  type OpenInput,
  seal,
  type SealInput,
  verifyEd25519,
  verifyEd25519Native,
  verifyEd25519Sync,
  x25519PublicKeyFromEd25519,
  x25519SecretFromEd25519,
} from "./crypto.ts";
export {
  checkNodeStatement,
  NODE_STATEMENT_MAX_SKEW_MS,
  nodeStatementBytes,
  type StatementCheck,
} from "./node_statement.ts";
