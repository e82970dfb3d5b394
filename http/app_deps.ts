/**
 * What the HTTP application is given: its only way to the rest of the node (`call`), and its
 * settings. Apart from app.ts so that the routes, the dispatcher and the forwarder that app.ts
 * assembles can name it without importing app.ts back.
 */
import type { Context } from "hono";
import type {
  CallOptions,
  Logger,
  Method,
  ParamsOf,
  ResultOf,
  Role,
  WalletAuthConfig,
} from "../mod/mod.ts";
import type { HttpMetrics } from "./metrics/mod.ts";
import type { DashboardAssets } from "./ui/mod.ts";

export type AppDeps = {
  call: <M extends Method>(
    method: M,
    params: ParamsOf<M>,
    options?: CallOptions,
  ) => Promise<ResultOf<M>>;
  log: Logger;
  /** Requests per second and burst allowed to one client address; unlimited when absent. */
  rateLimit?: { perSecond: number; burst: number };
  /** The address a request came from; the socket's peer address in the worker. */
  clientAddress?: (c: Context) => string;
  now?: () => number;
  /** How wallet signatures of writes are checked (time window, legacy nonce signing). */
  walletAuth?: WalletAuthConfig;
  /**
   * This node, so requests for other nodes are forwarded through the network;
   * without it (tools, unit tests) every request is answered here.
   */
  node?: {
    nodeId: string;
    role: Role;
    forwardTimeoutMs: number;
    /** `ledger_authority`: the node ledger requests go to; empty: a lone seed keeps it. */
    ledgerAuthority?: string;
    /** A GPU node's chain-style machine id (mod/machine_id.ts); derived from the node id when absent. */
    machineId?: string;
  };
  /** Guards `/api/v1/operator/*`; without it those endpoints refuse every request. */
  operatorToken?: string;
  /** Counts every request and serves `GET /metrics`; without it there is no /metrics. */
  metrics?: HttpMetrics;
  /** The dashboard's bundle, or why there is none (`/ui` says so); without it there is no `/ui`. */
  ui?: DashboardAssets;
};
