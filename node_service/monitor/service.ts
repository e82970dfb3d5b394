/**
 * Renters' monitoring servers and the pushes to them (the original's
 * `node_monitor_service`): a renter names up to two `host:port` servers
 * (`monitor.set`), and every `monitor_interval_s` the node sends each
 * server the metrics of that renter's VMs, and, while the renter rents the
 * machine, the machine's, in the original's Zabbix format (payload.ts,
 * zabbix.ts). A round gathers every VM's counters with one `virsh domstats`,
 * the host's through Deno, builds the payloads, and hands them to the push
 * process (pusher.ts), which alone may connect to the servers. Rounds never
 * overlap and never hold up anything else the worker does; a server that
 * fails is logged when it starts and stops failing, not every round.
 */
import {
  type Clock,
  type GpuReport,
  type Handlers,
  type Logger,
  pushesMonitoring,
  RpcError,
  type TimerHandle,
  VERSION,
  type Vm,
} from "../../mod/mod.ts";
import type { EventLog } from "../event_log.ts";
import { runTool } from "../tools.ts";
import { type AddressPolicy, formatServer, judgeServers, type MonitorServer } from "./address.ts";
import {
  ACTIVE_CHECK_VALID_MS,
  DOMSTATS_TIMEOUT_MS,
  PUSH_CONNECTION_TIMEOUT_MS,
  PUSH_ROUND_DEADLINE_MS,
  RENTER_CHECK_INTERVAL_MS,
} from "./constants.ts";
import { type DomainSample, MONITOR_DOMSTATS_FLAGS, parseDomstats } from "./domstats.ts";
import { type HostSample, sampleHost } from "./host_sample.ts";
import { hostAgentData, vmAgentData } from "./payload.ts";
import type { PushJob, PushOutcome } from "./push_protocol.ts";
import { processPusher, type PushRunner } from "./pusher.ts";
import { MonitorStore } from "./store.ts";

export type MonitorHandlers = Pick<Handlers<"node_service">, "monitor.list" | "monitor.set">;

/** What a round needs of a VM record. */
export type MonitoredVm = Pick<Vm, "id" | "owner" | "state" | "domain" | "gpus">;

/** The original skips VMs being made and those whose making failed; so does this. */
const MONITORED_STATES: ReadonlySet<Vm["state"]> = new Set(["running", "stopped", "expired"]);

export type MonitorDeps = {
  config: {
    role: "gpu" | "seed" | "client";
    monitor_interval_s: number;
    monitor_allow_private: boolean;
    libvirt_uri: string;
  };
  /** The machine id: what the machine's items are filed under. */
  machineId: string;
  store: MonitorStore;
  events: EventLog;
  clock: Clock;
  log: Logger;
  /** The VM records (no libvirt call). */
  vms: () => readonly MonitoredVm[];
  gpuReport: () => Promise<GpuReport>;
  /** Whether the account rents this machine now (the verification service's word). */
  renting: (account: string) => Promise<boolean>;
  /** Hosts never sent to (the chain's RPC endpoint). */
  deniedHosts: readonly string[];
  /** The VM directory: its filesystem is the original's data disk. */
  diskPath: string;
  /** `virsh domstats` of every domain; injectable for tests. */
  readDomstats?: () => Promise<string>;
  sampleHost?: (now: number) => Promise<HostSample>;
  push?: PushRunner;
};

/** What one round did, for the log and for tests. */
export type RoundReport = {
  jobs: Array<{ job: PushJob; outcome: PushOutcome }>;
};

export class MonitorService {
  readonly #deps: MonitorDeps;
  readonly #policy: AddressPolicy;
  readonly #readDomstats: () => Promise<string>;
  readonly #sampleHost: (now: number) => Promise<HostSample>;
  readonly #push: PushRunner;
  /** The previous round's samples, for usages and rates. */
  #previousDomains = new Map<string, DomainSample>();
  #previousHost: HostSample | undefined;
  /** `server|host` -> when the server last said it wants the host. */
  #wanted = new Map<string, number>();
  #renters = new Map<string, { renting: boolean; checkedAt: number }>();
  /** `server` -> the failure logged last, until it is sent to again. */
  #failing = new Map<string, string>();
  #timer: TimerHandle | undefined;
  #running: Promise<void> | undefined;
  #stopping = new AbortController();

  constructor(deps: MonitorDeps) {
    this.#deps = deps;
    this.#policy = { allowPrivate: deps.config.monitor_allow_private };
    this.#readDomstats = deps.readDomstats ?? (() => virshDomstats(deps.config.libvirt_uri));
    this.#sampleHost = deps.sampleHost ?? ((now) => sampleHost(deps.diskPath, now));
    this.#push = deps.push ?? processPusher({
      allowPrivate: deps.config.monitor_allow_private,
      deniedHosts: deps.deniedHosts,
      connectionTimeoutMs: PUSH_CONNECTION_TIMEOUT_MS,
      roundDeadlineMs: PUSH_ROUND_DEADLINE_MS,
    });
  }

  handlers(): MonitorHandlers {
    const { store, events } = this.#deps;
    return {
      "monitor.list": (params) => ({ servers: store.list(params.account).map(formatServer) }),
      "monitor.set": (params) => {
        if (!pushesMonitoring(this.#deps.config)) {
          throw new RpcError(
            "conflict",
            this.#deps.config.role === "gpu"
              ? "this node sends no monitoring data (its operator set monitor_interval_s=0)"
              : `this is a ${this.#deps.config.role} node: only a GPU node sends monitoring data`,
          );
        }
        const verdict = judgeServers(params.servers, this.#policy);
        if (!verdict.ok) throw new RpcError("invalid_params", verdict.reason);
        store.set(params.account, verdict.servers);
        const servers = verdict.servers.map(formatServer);
        events.record({
          actor: params.actor,
          action: "monitor.set",
          target: params.account,
          result: "ok",
          detail: { servers },
        });
        return { servers };
      },
    };
  }

  /** Starts the rounds, every `monitor_interval_s`; nothing on a node that sends none. */
  start(): void {
    if (!pushesMonitoring(this.#deps.config)) return;
    const intervalMs = this.#deps.config.monitor_interval_s * 1000;
    // The first round's CPU usage is measured from here.
    this.#sampleHost(this.#deps.clock.now()).then((sample) => this.#previousHost ??= sample)
      .catch(() => {});
    const next = () => {
      if (this.#stopping.signal.aborted) return;
      this.#timer = this.#deps.clock.setTimeout(() => {
        this.#running = this.round().then(
          () => {},
          (error) =>
            this.#deps.log.error("monitoring round failed", {
              error: (error as Error)?.message ?? String(error),
            }),
        ).finally(() => {
          this.#running = undefined;
          next();
        });
      }, intervalMs);
    };
    next();
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    if (this.#timer) this.#deps.clock.clearTimeout(this.#timer);
    await this.#running;
  }

  /** One round: gather, build, push. Public so tests can drive it without the timer. */
  async round(): Promise<RoundReport> {
    const { clock, store } = this.#deps;
    const accounts = store.all();
    if (accounts.size === 0) {
      this.#previousDomains.clear();
      return { jobs: [] };
    }
    const host = await this.#sampleHost(clock.now());
    const vms = this.#deps.vms().filter((vm) =>
      accounts.has(vm.owner) && MONITORED_STATES.has(vm.state)
    );
    const domains = vms.length > 0 ? await this.#domains() : new Map<string, DomainSample>();
    // No GPU list is what the original sends for a host without GPUs, never a lost round.
    const gpuReport = await this.#deps.gpuReport()
      .catch(() => ({ gpus: [], queried_at: clock.now() }));
    const now = clock.now();

    const jobs: PushJob[] = [];
    const queue = (servers: readonly MonitorServer[], hostName: string, data: unknown) => {
      const text = JSON.stringify(data);
      for (const server of servers) {
        const wantedAt = this.#wanted.get(wantKey(server, hostName));
        jobs.push({
          hostname: server.host,
          port: server.port,
          host: hostName,
          ask: wantedAt === undefined || now - wantedAt >= ACTIVE_CHECK_VALID_MS,
          data: text,
        });
      }
    };
    const seen = new Map<string, DomainSample>();
    for (const [account, servers] of accounts) {
      const own = vms.filter((vm) => vm.owner === account);
      let rxFlow = 0;
      let txFlow = 0;
      for (const vm of own) {
        const sample = domains.get(vm.domain);
        if (!sample) continue; // Not in libvirt now: the original skips it too.
        seen.set(vm.id, sample);
        for (const nic of sample.nics) {
          rxFlow += nic.rxBytes;
          txFlow += nic.txBytes;
        }
        queue(
          servers,
          vm.id,
          vmAgentData({
            vmId: vm.id,
            sample,
            previous: this.#previousDomains.get(vm.id),
            version: VERSION,
            now,
          }),
        );
      }
      if (await this.#rents(account, now)) {
        const running = own.filter((vm) => vm.state === "running");
        queue(
          servers,
          this.#deps.machineId,
          hostAgentData({
            machineId: this.#deps.machineId,
            sample: host,
            previous: this.#previousHost,
            gpus: gpuReport.gpus,
            gpusAt: gpuReport.queried_at,
            gpuUsed: running.reduce((sum, vm) => sum + vm.gpus.length, 0),
            vmCount: own.length,
            vmRunning: running.length,
            rxFlow,
            txFlow,
            version: VERSION,
            now,
          }),
        );
      }
    }
    this.#previousDomains = seen;
    this.#previousHost = host;

    const outcomes = await this.#push(jobs, this.#stopping.signal);
    const report: RoundReport = {
      jobs: jobs.map((job, index) => ({ job, outcome: outcomes[index]! })),
    };
    // A round cut short by the stop teaches nothing about the servers.
    if (this.#stopping.signal.aborted) return report;
    for (const { job, outcome } of report.jobs) this.#learn(job, outcome, now);
    return report;
  }

  /** Every domain's counters now; none when libvirt does not answer (the host's data still goes). */
  async #domains(): Promise<Map<string, DomainSample>> {
    try {
      const domains = parseDomstats(await this.#readDomstats(), this.#deps.clock.now());
      if (this.#failing.delete(DOMSTATS)) {
        this.#deps.log.info("the VMs' counters can be read again for monitoring");
      }
      return domains;
    } catch (error) {
      const reason = (error as Error)?.message ?? String(error);
      if (this.#failing.get(DOMSTATS) !== reason) {
        this.#deps.log.warn("cannot read the VMs' counters for monitoring", { reason });
      }
      this.#failing.set(DOMSTATS, reason);
      return new Map();
    }
  }

  /** Whether the account rents the machine, asked at most every 3 min (the original's timer). */
  async #rents(account: string, now: number): Promise<boolean> {
    const known = this.#renters.get(account);
    if (known && now - known.checkedAt < RENTER_CHECK_INTERVAL_MS) return known.renting;
    let renting: boolean;
    try {
      renting = await this.#deps.renting(account);
    } catch (error) {
      this.#deps.log.warn("cannot tell whether a renter with monitoring servers rents", {
        account,
        error: (error as Error)?.message ?? String(error),
      });
      // What was known stands until the verification service answers again.
      return known?.renting ?? false;
    }
    this.#renters.set(account, { renting, checkedAt: now });
    return renting;
  }

  #learn(job: PushJob, outcome: PushOutcome, now: number): void {
    const server = formatServer({ host: job.hostname, port: job.port });
    const key = wantKey({ host: job.hostname, port: job.port }, job.host);
    if (outcome.kind === "sent" && job.ask) this.#wanted.set(key, now);
    if (outcome.kind === "unwanted") {
      // A Zabbix server that does not know the host: normal until its owner adds it there.
      this.#wanted.delete(key);
      this.#deps.log.debug("a monitoring server does not want a host's data", {
        server,
        host: job.host,
        answer: outcome.answer,
      });
    }
    if (outcome.kind === "failed") {
      if (this.#failing.get(server) !== outcome.reason) {
        this.#deps.log.warn("cannot send monitoring data", { server, reason: outcome.reason });
      }
      this.#failing.set(server, outcome.reason);
      return;
    }
    if (this.#failing.delete(server)) {
      this.#deps.log.info("monitoring data reaches its server again", { server });
    }
  }
}

/** Where failures to read the VMs' counters are remembered, beside the servers'. */
const DOMSTATS = "virsh domstats";

function wantKey(server: MonitorServer, host: string): string {
  return `${formatServer(server)}|${host}`;
}

async function virshDomstats(uri: string): Promise<string> {
  const result = await runTool(
    "virsh",
    ["-c", uri, "domstats", ...MONITOR_DOMSTATS_FLAGS],
    DOMSTATS_TIMEOUT_MS,
  );
  if (result.kind === "not_found") throw new Error("virsh is not installed");
  if (result.kind === "timed_out") {
    throw new Error(`virsh domstats took over ${result.timeoutMs} ms`);
  }
  if (result.code !== 0) throw new Error(`virsh domstats: ${result.stderr.trim()}`);
  return result.stdout;
}

export type StartedMonitor = {
  service: MonitorService;
  handlers: MonitorHandlers;
  stop(): Promise<void>;
};

/** The handlers, and the rounds on a GPU node that sends monitoring data. */
export function startMonitor(deps: MonitorDeps): StartedMonitor {
  const service = new MonitorService(deps);
  service.start();
  return { service, handlers: service.handlers(), stop: () => service.stop() };
}
