/**
 * `GET /metrics`: the node's Prometheus exposition, served by the HTTP worker on the API's own
 * listener (it may open no other). It merges its own registry (requests, its isolate, the
 * process) with those the network and node-service workers send (`metrics.network`,
 * `metrics.node_service`) and the node-wide families of node_families.ts. A worker that does
 * not answer in time (restarting) leaves its families out and shows as
 * `dbc_metrics_source_up{worker=...} 0`; the scrape still succeeds.
 *
 * Only clients in `metrics_allow` (default: loopback) are answered, and never a request
 * tunnelled in from another node.
 */
import type { Context, MiddlewareHandler } from "hono";
import {
  addressAllowed,
  type CallOptions,
  type Cidr,
  EXPOSITION_CONTENT_TYPE,
  type MetricsSnapshot,
  type NodeStatus,
  type ParamsOf,
  parseCidrList,
  registerIsolateMetrics,
  registerProcessMetrics,
  Registry,
  renderExposition,
  type ResultOf,
  snapshotOf,
} from "../../mod/mod.ts";
import { ApiError } from "../errors.ts";
import { isRemoteEnv } from "../remote.ts";
import { METRICS_SOURCES, type MetricsSource, nodeSnapshot } from "./node_families.ts";
import { requestMetrics } from "./request_metrics.ts";

export const METRICS_PATH = "/metrics";
/** How long a scrape waits for each worker; Prometheus's own scrape time-out is 10 s. */
export const SOURCE_TIMEOUT_MS = 5_000;

/** The requests a scrape makes (the app's `call` does them all). */
type ScrapeCall = <M extends "node.status" | `metrics.${MetricsSource}`>(
  method: M,
  params: ParamsOf<M>,
  options?: CallOptions,
) => Promise<ResultOf<M>>;

export type HttpMetricsOptions = {
  call: ScrapeCall;
  /** `metrics_allow`: CIDR blocks whose clients may scrape; empty: nobody. */
  allow: readonly string[];
  /** The socket's peer address; absent in tools and unit tests that call the app directly. */
  clientAddress?: (c: Context) => string;
  /** When the node started (ms), for `process_start_time_seconds`. */
  startedAtMs: number;
  sourceTimeoutMs?: number;
};

/** Why `address` may not scrape, or undefined when it may. Pure. */
export function metricsRefusal(
  address: string | undefined,
  remote: boolean,
  allow: readonly Cidr[],
  allowText: readonly string[],
): string | undefined {
  if (remote) return "metrics answer only on the node itself, not through the network";
  if (allow.length === 0) return "metrics are off on this node (metrics_allow is empty)";
  if (address !== undefined && !addressAllowed(address, allow)) {
    return `metrics answer only to metrics_allow (${allowText.join(", ")}), not to ${address}`;
  }
  return undefined;
}

export class HttpMetrics {
  readonly middleware: MiddlewareHandler;
  readonly #registry = new Registry();
  readonly #options: HttpMetricsOptions;
  readonly #allow: Cidr[];

  constructor(options: HttpMetricsOptions) {
    this.#options = options;
    this.#allow = parseCidrList(options.allow);
    registerProcessMetrics(this.#registry, options.startedAtMs);
    registerIsolateMetrics(this.#registry, "http");
    this.middleware = requestMetrics(this.#registry).middleware;
  }

  /** The `GET /metrics` handler. */
  async serve(c: Context): Promise<Response> {
    const refusal = metricsRefusal(
      this.#options.clientAddress?.(c),
      isRemoteEnv(c.env),
      this.#allow,
      this.#options.allow,
    );
    if (refusal) throw new ApiError("forbidden", refusal);
    return c.body(await this.exposition(), 200, { "content-type": EXPOSITION_CONTENT_TYPE });
  }

  /** Every worker's families, merged, as Prometheus text. */
  async exposition(): Promise<string> {
    const options = { timeoutMs: this.#options.sourceTimeoutMs ?? SOURCE_TIMEOUT_MS };
    const asked = (source: MetricsSource) =>
      this.#options.call(`metrics.${source}`, {}, options).catch(() => undefined);
    const [own, status, ...answers] = await Promise.all([
      snapshotOf(this.#registry),
      this.#options.call("node.status", {}, options).catch((): NodeStatus | undefined => undefined),
      ...METRICS_SOURCES.map(asked),
    ]);
    const answered = Object.fromEntries(
      METRICS_SOURCES.map((source, index) => [source, answers[index] !== undefined]),
    ) as Record<MetricsSource, boolean>;
    const snapshots: MetricsSnapshot[] = [
      own,
      ...answers.filter((answer): answer is MetricsSnapshot => answer !== undefined),
      nodeSnapshot(status, answered),
    ];
    return await renderExposition(snapshots);
  }
}
