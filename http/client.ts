/**
 * A typed client for the node's HTTP API, for the renter CLI, tests and
 * benchmarks alike: it signs each request with the wallet (or multisig
 * account) it was given, exactly as `mod/wallet/auth.ts` checks it, unwraps
 * the `{error_code, error_message, data}` envelope and throws an
 * {@link ApiClientError} for anything but success. It knows nothing of
 * terminals or arguments.
 *
 * Paths and fields are the API's (the original network's where it had one):
 * `/api/v1/node`, `/api/v1/peers/*`, `/api/v1/mining_nodes`, `/api/v1/ledger/*`,
 * `/api/v1/tasks/*` (VMs), `/api/v1/containers/*`, `/api/v1/operations/*`.
 *
 * @example
 * ```ts
 * const client = new ApiClient({ baseUrl: "http://127.0.0.1:8080", signer: keyringPair });
 * const rental = await client.rent({ machine_id: "m1", unit: "hour", count: 2 });
 * const { task_id, operation_id } = await client.createVm("12D3KooW...", {
 *   image_name: "ubuntu.qcow2", gpu_count: 1, cpu_cores: 4, mem_size: 8,
 * });
 * for await (const event of client.operationEvents("12D3KooW...", operation_id)) console.log(event);
 * ```
 */
import type { z } from "zod";
import type {
  AccountBalance,
  ActivePeerListSchema,
  Container,
  ContainerDetail,
  ContainerLogsSchema,
  GlobalPeerListSchema,
  InstanceUsage,
  LeaseCheckResult,
  LedgerMachineListSchema,
  Machine,
  MachineConfig,
  MachineRegistration,
  MachineStatus,
  MarketNode,
  MarketNodeList,
  MultisigAccount,
  NetworkStatusSchema,
  Rental,
  RentPrices,
  RentUnit,
  Session,
  SessionCreatedSchema,
  Vm,
  VmDetail,
  VmLogsSchema,
  VmSnapshot,
} from "../mod/mod.ts";
import { newNonce, type RequestSigner, signatureHeaders } from "./client_signer.ts";
import { readServerSentEvents, type ServerSentEvent } from "./client_sse.ts";
import { API_ERRORS } from "./errors.ts";
import type { Operation } from "./operations.ts";

export type SessionCreated = z.infer<typeof SessionCreatedSchema>;
import type { NodeInfoSchema } from "./routes/node.ts";
import type { PeerPingSchema } from "./routes/peers.ts";

/** How long a request waits for its whole answer unless told otherwise (the node itself waits 30 s for a GPU node). */
export const CLIENT_REQUEST_TIMEOUT_MS = 60_000;
/** Longest stretch of an error body quoted in an error message. */
const QUOTED_BODY_CHARS = 300;

/** Why a request failed: the API said so, or no API answer came. */
export type ApiClientErrorKind =
  /** The API answered with its error envelope. */
  | "api"
  /** The connection could not be made or broke. */
  | "unreachable"
  /** No answer within the time-out. */
  | "timeout"
  /** An answer that is not the API's envelope (a proxy's page, a truncated body). */
  | "malformed_response";

/**
 * A failed API request. `status` is the HTTP status (0 when no HTTP answer
 * came); `errorCode` the envelope's `error_code` (for failures without one,
 * the API's own code for the same situation: time-out -32700, try later
 * -32602, bad response -32701).
 */
export class ApiClientError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: number,
    message: string,
    readonly kind: ApiClientErrorKind = "api",
  ) {
    super(message);
    this.name = "ApiClientError";
  }
}

/** A JSON object whose shape the client does not pin down (served by another node's version). */
export type JsonObject = { [field: string]: unknown };

export type NodeInfo = z.infer<typeof NodeInfoSchema>;
export type ActivePeerList = z.infer<typeof ActivePeerListSchema>;
export type GlobalPeerList = z.infer<typeof GlobalPeerListSchema>;
export type NetworkStatus = z.infer<typeof NetworkStatusSchema>;
export type PeerPing = z.infer<typeof PeerPingSchema>;
export type LedgerMachineList = z.infer<typeof LedgerMachineListSchema>;
export type VmLogs = z.infer<typeof VmLogsSchema>;
export type ContainerLogs = z.infer<typeof ContainerLogsSchema>;
export type { Operation };

/** A VM create request (`POST /api/v1/tasks/start`), in the original's field names; sizes in GiB. */
export type VmCreateFields = {
  image_name: string;
  os?: "linux" | "windows";
  gpu_count?: number;
  cpu_cores: number;
  /** Memory, GiB (fractions allowed). */
  mem_size: number;
  /** System disk, GiB; the image's own size when absent. */
  disk_size?: number;
  /** The host port forwarded to the guest's SSH (or RDP) port; the node picks one when absent. */
  ssh_port?: number;
  vnc_port?: number;
  /** OpenSSH public key(s) the login user accepts (Linux). */
  ssh_key?: string | string[];
  /** The login user's password (Linux); the node makes one when absent (see the VM's detail). */
  password?: string;
  [field: string]: unknown;
};

/** A modify of a stopped VM (`POST /api/v1/tasks/:task_id/modify`); what is absent stays. */
export type VmModifyFields = {
  cpu_cores?: number;
  /** Memory, GiB (fractions allowed). */
  mem_size?: number;
  /** System disk, GiB; it only grows. */
  disk_size?: number;
  ssh_port?: number;
};

export const SNAPSHOT_ACTIONS = ["delete", "restore"] as const;
export type SnapshotAction = typeof SNAPSHOT_ACTIONS[number];

/** A container create request (`POST /api/v1/containers/create`). */
export type ContainerCreateFields = {
  image: string;
  /** The command and its arguments; the image's own when absent. */
  command?: string[];
  env?: Record<string, string>;
  gpu_count?: number;
  cpu_cores?: number;
  /** Memory, GiB. */
  mem_size?: number;
  /** Publish the container's SSH port (22/tcp) on a host port. */
  ssh?: boolean;
  ports?: { container_port: number; protocol?: "tcp" | "udp"; host_port?: number }[];
  /** Where a persistent volume is mounted, if one is wanted. */
  volume_path?: string;
  [field: string]: unknown;
};

/** What a create answers at once (202): the new instance and the operation that builds it. */
export type CreateAccepted = { task_id: string; operation_id: string; state: "creating" };

export const VM_ACTIONS = ["start", "stop", "restart", "reset", "delete"] as const;
export type VmAction = typeof VM_ACTIONS[number];
export const CONTAINER_ACTIONS = ["start", "stop", "restart", "delete"] as const;
export type ContainerAction = typeof CONTAINER_ACTIONS[number];

/** Which end of an instance's log to read, and how many lines (the node answers at most 100). */
export type LogRange = { from: "head" | "tail"; lines: number };

/** Operation states after which nothing more happens. */
export const FINAL_OPERATION_STATES = ["done", "failed"] as const;
/** The event an operation's stream sends instead when it cannot follow the operation (unknown id). */
export const OPERATION_ERROR_EVENT = "error";

/** `done` or `failed` when `event` ends an operation (named so, or carrying that `state`); else undefined. */
export function finalOperationState(
  event: ServerSentEvent,
): typeof FINAL_OPERATION_STATES[number] | undefined {
  const isFinal = (text: unknown) => FINAL_OPERATION_STATES.find((state) => state === text);
  const named = isFinal(event.event);
  if (named) return named;
  try {
    const data = JSON.parse(event.data);
    return typeof data === "object" && data !== null ? isFinal(data.state) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `event` ends an operation's event stream. */
export function isFinalOperationEvent(event: ServerSentEvent): boolean {
  return finalOperationState(event) !== undefined;
}

export type ApiClientOptions = {
  /** The node's API, e.g. `http://127.0.0.1:8080` (a path prefix is kept). */
  baseUrl: string;
  /** Signs every request when given (a polkadot-js `KeyringPair` is a signer as it is). */
  signer?: RequestSigner;
  /**
   * A delegated session's id (`X-DBC-Session`), sent instead of a signature: it operates the
   * renter's instances on the session's machine. Not with `signer`.
   */
  session?: string;
  fetch?: typeof fetch;
  /** Milliseconds since the epoch, for the signed timestamp. */
  now?: () => number;
  nonce?: () => string;
  timeoutMs?: number;
};

export type QueryValue = string | number | boolean | undefined;

export type RequestOptions = {
  query?: Record<string, QueryValue>;
  /** JSON body; sent as `JSON.stringify` writes it and signed as the node will parse it. */
  body?: unknown;
  /** Sign this request; by default whenever the client has a signer. */
  sign?: boolean;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Extra headers (they are not signed). */
  headers?: Record<string, string>;
};

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export class ApiClient {
  readonly baseUrl: string;
  readonly signer: RequestSigner | undefined;
  readonly #session: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #nonce: () => string;
  readonly #timeoutMs: number;

  constructor(options: ApiClientOptions) {
    const base = new URL(options.baseUrl);
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new RangeError(`baseUrl: expected an http or https URL, got ${options.baseUrl}`);
    }
    this.baseUrl = `${base.origin}${base.pathname.replace(/\/+$/, "")}`;
    if (options.signer && options.session) {
      throw new RangeError("give a signer or a session, not both");
    }
    this.signer = options.signer;
    this.#session = options.session;
    // Called as a plain function: a browser refuses `fetch` invoked as another object's method.
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#now = options.now ?? Date.now;
    this.#nonce = options.nonce ?? newNonce;
    this.#timeoutMs = options.timeoutMs ?? CLIENT_REQUEST_TIMEOUT_MS;
  }

  /** The acting account's address, if the client signs. */
  get address(): string | undefined {
    return this.signer?.address;
  }

  /** The full URL of `path` (`/api/v1/...`) with `query` (undefined values left out). */
  url(path: string, query: Record<string, QueryValue> = {}): URL {
    const url = new URL(`${this.baseUrl}${path}`);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.append(name, String(value));
    }
    return url;
  }

  /** Any API request; the envelope's `data` on success. */
  async request<T = unknown>(
    method: HttpMethod,
    path: string,
    options: RequestOptions = {},
  ): Promise<T> {
    const { response, done } = await this.#send(method, path, options, "application/json");
    try {
      return await unwrapEnvelope<T>(response);
    } catch (error) {
      throw done(error);
    } finally {
      done();
    }
  }

  /**
   * The server-sent events of `path`, as they arrive; a refusal before the
   * stream starts throws {@link ApiClientError}. The time-out covers only the
   * wait for the stream to start; `signal` ends it any time.
   */
  async *events(
    path: string,
    options: Omit<RequestOptions, "body"> = {},
  ): AsyncGenerator<ServerSentEvent> {
    const { response, done } = await this.#send("GET", path, options, "text/event-stream");
    done();
    const type = response.headers.get("content-type") ?? "";
    if (!response.ok || !type.startsWith("text/event-stream")) {
      await unwrapEnvelope(response);
      throw new ApiClientError(
        response.status,
        API_ERRORS.bad_response.code,
        `expected server-sent events from ${path}, got ${type || "no content type"}`,
        "malformed_response",
      );
    }
    if (!response.body) return;
    yield* readServerSentEvents(response.body);
  }

  // --- node and network ---

  /** `GET /api/v1/node`: this node's id, role, version, workers and GPUs. */
  node(): Promise<NodeInfo> {
    return this.request("GET", "/api/v1/node");
  }

  /** `GET /api/v1/peers/active`: connected neighbours. */
  peers(): Promise<ActivePeerList> {
    return this.request("GET", "/api/v1/peers/active");
  }

  /** `GET /api/v1/peers/global`: the address book. */
  globalPeers(): Promise<GlobalPeerList> {
    return this.request("GET", "/api/v1/peers/global");
  }

  /** `GET /api/v1/peers/status`: the network worker's links and counters. */
  networkStatus(): Promise<NetworkStatus> {
    return this.request("GET", "/api/v1/peers/status");
  }

  /** `GET /api/v1/peers/:node_id/ping`. */
  ping(nodeId: string): Promise<PeerPing> {
    return this.request("GET", `/api/v1/peers/${segment(nodeId)}/ping`);
  }

  /** `GET /api/v1/mining_nodes`: the GPU nodes the network announced, with their machines. */
  miningNodes(): Promise<MarketNodeList> {
    return this.request("GET", "/api/v1/mining_nodes");
  }

  /** `GET /api/v1/mining_nodes/:node_id`: one GPU node's machine, state and price. */
  miningNode(nodeId: string): Promise<MarketNode> {
    return this.request("GET", `/api/v1/mining_nodes/${segment(nodeId)}`);
  }

  /** `GET /api/v1/mining_nodes/:node_id/lease?account=`: whether `account` rents the node now. */
  lease(nodeId: string, account: string): Promise<LeaseCheckResult> {
    return this.request("GET", `/api/v1/mining_nodes/${segment(nodeId)}/lease`, {
      query: { account },
    });
  }

  // --- ledger ---

  /** `GET /api/v1/ledger/machines`. */
  ledgerMachines(filter: { status?: MachineStatus; owner?: string } = {}): Promise<
    LedgerMachineList
  > {
    return this.request("GET", "/api/v1/ledger/machines", { query: filter });
  }

  /** `GET /api/v1/ledger/machines/:machine_id`. */
  ledgerMachine(machineId: string): Promise<Machine> {
    return this.request("GET", `/api/v1/ledger/machines/${segment(machineId)}`);
  }

  /** `POST /api/v1/ledger/machines` (signed by the owner; the body comes from {@link operatorRegistration}). */
  registerMachine(fields: MachineRegistration): Promise<Machine> {
    return this.request("POST", "/api/v1/ledger/machines", { body: fields });
  }

  /**
   * `POST /api/v1/operator/registration` on the GPU node itself (loopback, operator token):
   * the registration its node key agrees to, for its owner to sign.
   */
  operatorRegistration(
    token: string,
    fields: { prices?: RentPrices; config?: Partial<MachineConfig> } = {},
  ): Promise<{ owner: string; registration: MachineRegistration }> {
    return this.request("POST", "/api/v1/operator/registration", {
      body: fields,
      sign: false,
      headers: { authorization: `Bearer ${token}` },
    });
  }

  /** `POST /api/v1/ledger/accounts/:account/fund` (signed by a ledger admin). */
  fund(account: string, amount: string): Promise<AccountBalance> {
    return this.request("POST", `/api/v1/ledger/accounts/${segment(account)}/fund`, {
      body: { amount },
    });
  }

  /** `GET /api/v1/ledger/accounts/:account`: balance and latest changes. */
  balance(account: string): Promise<AccountBalance> {
    return this.request("GET", `/api/v1/ledger/accounts/${segment(account)}`, { sign: false });
  }

  /** `POST /api/v1/ledger/rentals` (signed by the renter). */
  rent(fields: { machine_id: string; unit: RentUnit; count: number }): Promise<Rental> {
    return this.request("POST", "/api/v1/ledger/rentals", { body: fields });
  }

  /** `POST /api/v1/ledger/rentals/:rental_id/renew` (signed by the renter). */
  renew(rentalId: number, fields: { unit: RentUnit; count: number }): Promise<Rental> {
    return this.request("POST", `/api/v1/ledger/rentals/${rentalId}/renew`, { body: fields });
  }

  /** `GET /api/v1/ledger/rentals/:rental_id`. */
  rental(rentalId: number): Promise<Rental> {
    return this.request("GET", `/api/v1/ledger/rentals/${rentalId}`);
  }

  /** `POST /api/v1/ledger/multisig` (signed by one signatory). */
  registerMultisig(fields: { signatories: string[]; threshold: number }): Promise<MultisigAccount> {
    return this.request("POST", "/api/v1/ledger/multisig", { body: fields });
  }

  // --- VMs (`tasks`, as the original called them) on a GPU node ---

  /** `POST /api/v1/tasks/start`: creates a VM on `nodeId`; answers at once with the operation. */
  createVm(nodeId: string, fields: VmCreateFields): Promise<CreateAccepted> {
    return this.request("POST", "/api/v1/tasks/start", {
      body: { peer_nodes_list: [nodeId], ...fields },
    });
  }

  /** `GET /api/v1/tasks?node_id=`: the renter's VMs on `nodeId`. */
  listVms(nodeId: string): Promise<{ tasks: Vm[] }> {
    return this.request("GET", "/api/v1/tasks", { query: { node_id: nodeId } });
  }

  /** `GET /api/v1/tasks/:task_id?node_id=`: one VM with its login details. */
  getVm(nodeId: string, taskId: string): Promise<VmDetail> {
    return this.request("GET", `/api/v1/tasks/${segment(taskId)}`, { query: { node_id: nodeId } });
  }

  /** `POST /api/v1/tasks/:task_id/<action>`. */
  vmAction(
    nodeId: string,
    taskId: string,
    action: VmAction,
    options: { force?: boolean } = {},
  ): Promise<Vm> {
    // `force` belongs to stop alone: it powers the guest off without asking it first.
    const force = action === "stop" && options.force ? { force: true } : {};
    return this.request("POST", `/api/v1/tasks/${segment(taskId)}/${action}`, {
      body: { peer_nodes_list: [nodeId], ...force },
    });
  }

  /** `GET /api/v1/tasks/:task_id/trace?node_id=&flag=&line_num=`: lines of the VM's log. */
  vmLogs(nodeId: string, taskId: string, range: LogRange): Promise<VmLogs> {
    return this.request("GET", `/api/v1/tasks/${segment(taskId)}/trace`, {
      query: { node_id: nodeId, flag: range.from, line_num: range.lines },
    });
  }

  /** `POST /api/v1/tasks/:task_id/modify`: new resources of a stopped VM. */
  modifyVm(nodeId: string, taskId: string, fields: VmModifyFields): Promise<Vm> {
    return this.request("POST", `/api/v1/tasks/${segment(taskId)}/modify`, {
      body: { peer_nodes_list: [nodeId], ...fields },
    });
  }

  /** `GET /api/v1/snapshot/:task_id?node_id=`: the VM's snapshots, oldest first. */
  listSnapshots(nodeId: string, taskId: string): Promise<{ snapshots: VmSnapshot[] }> {
    return this.request("GET", `/api/v1/snapshot/${segment(taskId)}`, {
      query: { node_id: nodeId },
    });
  }

  /** `GET /api/v1/snapshot/:task_id/:name?node_id=`. */
  getSnapshot(nodeId: string, taskId: string, name: string): Promise<VmSnapshot> {
    return this.request("GET", `/api/v1/snapshot/${segment(taskId)}/${segment(name)}`, {
      query: { node_id: nodeId },
    });
  }

  /** `POST /api/v1/snapshot/:task_id/create`: a snapshot of a stopped VM's disk. */
  createSnapshot(
    nodeId: string,
    taskId: string,
    fields: { name: string; description?: string },
  ): Promise<VmSnapshot> {
    return this.request("POST", `/api/v1/snapshot/${segment(taskId)}/create`, {
      body: { peer_nodes_list: [nodeId], ...fields },
    });
  }

  /** `POST /api/v1/snapshot/:task_id/:name/<delete|restore>` (the VM stopped). */
  snapshotAction(
    nodeId: string,
    taskId: string,
    name: string,
    action: SnapshotAction,
  ): Promise<JsonObject> {
    return this.request("POST", `/api/v1/snapshot/${segment(taskId)}/${segment(name)}/${action}`, {
      body: { peer_nodes_list: [nodeId] },
    });
  }

  // --- containers on a GPU node ---

  /** `POST /api/v1/sessions`: a session that operates the signer's instances on `nodeId` (id shown once). */
  createSession(
    nodeId: string,
    fields: { ttl_s?: number; label?: string } = {},
  ): Promise<SessionCreated> {
    return this.request("POST", "/api/v1/sessions", {
      body: { peer_nodes_list: [nodeId], ...fields },
    });
  }

  /** `GET /api/v1/sessions?node_id=`: the signer's sessions on `nodeId`. */
  sessions(nodeId: string): Promise<{ sessions: Session[] }> {
    return this.request("GET", "/api/v1/sessions", { query: { node_id: nodeId } });
  }

  /** `POST /api/v1/sessions/:prefix/revoke`. */
  revokeSession(nodeId: string, prefix: string): Promise<Session> {
    return this.request("POST", `/api/v1/sessions/${segment(prefix)}/revoke`, {
      body: { peer_nodes_list: [nodeId] },
    });
  }

  /** `POST /api/v1/containers/create`: creates a container on `nodeId`; answers at once with the operation. */
  createContainer(nodeId: string, fields: ContainerCreateFields): Promise<CreateAccepted> {
    return this.request("POST", "/api/v1/containers/create", {
      body: { peer_nodes_list: [nodeId], ...fields },
    });
  }

  /** `GET /api/v1/containers?node_id=`: the renter's containers on `nodeId`. */
  listContainers(nodeId: string): Promise<{ containers: Container[] }> {
    return this.request("GET", "/api/v1/containers", { query: { node_id: nodeId } });
  }

  /** `GET /api/v1/containers/:container_id?node_id=`. */
  getContainer(nodeId: string, containerId: string): Promise<ContainerDetail> {
    return this.request("GET", `/api/v1/containers/${segment(containerId)}`, {
      query: { node_id: nodeId },
    });
  }

  /** `POST /api/v1/containers/:container_id/<action>`. */
  containerAction(
    nodeId: string,
    containerId: string,
    action: ContainerAction,
  ): Promise<Container> {
    return this.request("POST", `/api/v1/containers/${segment(containerId)}/${action}`, {
      body: { peer_nodes_list: [nodeId] },
    });
  }

  /** `GET /api/v1/containers/:container_id/logs?node_id=&flag=&line_num=`: lines of its output. */
  containerLogs(nodeId: string, containerId: string, range: LogRange): Promise<ContainerLogs> {
    return this.request("GET", `/api/v1/containers/${segment(containerId)}/logs`, {
      query: { node_id: nodeId, flag: range.from, line_num: range.lines },
    });
  }

  /** `GET /api/v1/tasks/:task_id/usage?node_id=`: a running VM's counters now. */
  vmUsage(nodeId: string, taskId: string): Promise<InstanceUsage> {
    return this.request("GET", `/api/v1/tasks/${segment(taskId)}/usage`, {
      query: { node_id: nodeId },
    });
  }

  /** `GET /api/v1/containers/:container_id/usage?node_id=`: a running container's counters now. */
  containerUsage(nodeId: string, containerId: string): Promise<InstanceUsage> {
    return this.request("GET", `/api/v1/containers/${segment(containerId)}/usage`, {
      query: { node_id: nodeId },
    });
  }

  // --- long operations ---

  /** `GET /api/v1/operations/:operation_id?node_id=`: where an operation stands. */
  operation(nodeId: string, operationId: string): Promise<Operation> {
    return this.request("GET", `/api/v1/operations/${segment(operationId)}`, {
      query: { node_id: nodeId },
    });
  }

  /**
   * `GET /api/v1/operations/:operation_id/events?node_id=`: the operation's
   * progress as it happens (each event named by the operation's state, its
   * data the operation), up to and including its final (`done`/`failed`)
   * event, or the `error` event of a stream that cannot follow it.
   */
  async *operationEvents(
    nodeId: string,
    operationId: string,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<ServerSentEvent> {
    const events = this.events(`/api/v1/operations/${segment(operationId)}/events`, {
      query: { node_id: nodeId },
      signal: options.signal,
      // A stream of progress can take as long as the operation; only its start is timed.
    });
    for await (const event of events) {
      yield event;
      if (isFinalOperationEvent(event) || event.event === OPERATION_ERROR_EVENT) return;
    }
  }

  /**
   * Sends one request. `done(error?)` stops its time-out and, given the error
   * the time-out caused, turns it into the time-out's {@link ApiClientError}.
   */
  async #send(
    method: HttpMethod,
    path: string,
    options: RequestOptions,
    accept: string,
  ): Promise<{ response: Response; done: (error?: unknown) => unknown }> {
    const url = this.url(path, options.query);
    const bodyText = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = { accept, ...options.headers };
    if (bodyText !== undefined) headers["content-type"] = "application/json";
    if (this.#session && options.sign !== false) headers["x-dbc-session"] = this.#session;
    if (this.signer && options.sign !== false) {
      Object.assign(
        headers,
        await signatureHeaders(this.signer, {
          method,
          pathAndQuery: url.pathname + url.search,
          // What the node will parse from the text sent: undefined fields gone, and so on.
          body: bodyText === undefined ? undefined : JSON.parse(bodyText),
        }, { timestampMs: this.#now(), nonce: this.#nonce() }),
      );
    }
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const controller = new AbortController();
    const timedOut = new ApiClientError(
      0,
      API_ERRORS.timeout.code,
      `${method} ${url.pathname}: no answer from ${url.origin} within ${timeoutMs} ms`,
      "timeout",
    );
    const timer = setTimeout(() => controller.abort(timedOut), timeoutMs);
    const forwardAbort = () => controller.abort(options.signal?.reason);
    options.signal?.addEventListener("abort", forwardAbort, { once: true });
    if (options.signal?.aborted) forwardAbort();
    const done = (error?: unknown) => {
      clearTimeout(timer);
      if (error === undefined) return undefined;
      return controller.signal.reason === timedOut ? timedOut : error;
    };
    try {
      const response = await this.#fetch(url, {
        method,
        headers,
        body: bodyText,
        signal: controller.signal,
      });
      return { response, done };
    } catch (error) {
      const cause = done(error);
      if (cause === timedOut || options.signal?.aborted) throw cause;
      throw new ApiClientError(
        0,
        API_ERRORS.try_later.code,
        `cannot reach ${url.origin}: ${describe(error)}`,
        "unreachable",
      );
    }
  }
}

/** The `data` of a success envelope, or the {@link ApiClientError} the answer stands for. */
export async function unwrapEnvelope<T>(response: Response): Promise<T> {
  const text = await response.text();
  let body: unknown;
  try {
    body = text === "" ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  const envelope = body !== null && typeof body === "object" && "error_code" in body
    ? body as { error_code: unknown; error_message?: unknown; data?: unknown }
    : undefined;
  if (!envelope || typeof envelope.error_code !== "number") {
    throw new ApiClientError(
      response.status,
      API_ERRORS.bad_response.code,
      `HTTP ${response.status} without the API's envelope${
        text ? `: ${text.slice(0, QUOTED_BODY_CHARS)}` : ""
      }`,
      "malformed_response",
    );
  }
  if (envelope.error_code !== 0 || !response.ok) {
    const message = typeof envelope.error_message === "string" && envelope.error_message !== ""
      ? envelope.error_message
      : `HTTP ${response.status}`;
    throw new ApiClientError(response.status, envelope.error_code, message);
  }
  return envelope.data as T;
}

/** An error's message with its cause's ("fetch failed" alone says little). */
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : "";
  return cause && !message.includes(cause) ? `${message}: ${cause}` : message;
}

/** A path segment from an id, escaped so that it stays one segment. */
function segment(id: string): string {
  return encodeURIComponent(id);
}
