/**
 * A GPU node's announcements: soon after start and then every
 * `announce_interval_s`, it broadcasts a summary of its machine on topic
 * `service.summary`. The network layer signs every broadcast with the
 * node's key and each receiver checks that signature against the origin's
 * node id before delivering it, so the summary needs no signature of its
 * own (the node service holds no private key); receivers only check that a
 * summary describes its origin (`table.ts`).
 *
 * While announcements reach no neighbour (the node is still joining), the
 * next comes sooner: {@link ANNOUNCE_RETRY_MS}, doubling up to the interval,
 * so a joining node is listed quickly and a lone node stays quiet.
 */
import {
  type Clock,
  type Logger,
  SERVICE_SUMMARY_TOPIC,
  type ServiceSummary,
  type TimerHandle,
} from "../../mod/mod.ts";
import { ANNOUNCE_FIRST_DELAY_MS, ANNOUNCE_RETRY_MS } from "./constants.ts";
import { describeSummary } from "./machine_summary.ts";
import type { WorkerCall } from "../network_subscription.ts";

export type AnnouncerDeps = {
  call: WorkerCall;
  clock: Clock;
  log: Logger;
  intervalMs: number;
  /** Builds the summary to announce now. */
  summary: () => Promise<ServiceSummary>;
  /** Each summary made, whether or not it reached anyone (the node lists itself too). */
  onSummary?: (summary: ServiceSummary) => void;
};

export type Announcer = {
  /** Resolves with the number of neighbours the announcement went to. */
  announceNow(): Promise<number>;
  stop(): Promise<void>;
};

export function startAnnouncer(deps: AnnouncerDeps): Announcer {
  const { call, clock, log } = deps;
  let timer: TimerHandle | undefined;
  let inFlight: Promise<number> | undefined;
  let stopped = false;
  /** Whether an announcement has reached a neighbour yet (logged once). */
  let reached = false;
  let failures = 0;
  let retryMs = Math.min(ANNOUNCE_RETRY_MS, deps.intervalMs);
  /** The delay after an announcement that reached `sentTo` neighbours (0 also for a failure). */
  const nextDelay = (sentTo: number) => {
    if (sentTo > 0) {
      retryMs = Math.min(ANNOUNCE_RETRY_MS, deps.intervalMs);
      return deps.intervalMs;
    }
    const delay = retryMs;
    retryMs = Math.min(retryMs * 2, deps.intervalMs);
    return delay;
  };

  const announce = async (): Promise<number> => {
    const summary = await deps.summary();
    deps.onSummary?.(summary);
    const { sent_to } = await call("network.broadcast", {
      topic: SERVICE_SUMMARY_TOPIC,
      body: summary,
    });
    if (sent_to > 0 && !reached) {
      reached = true;
      log.info("announced this machine", { summary: describeSummary(summary), sent_to });
    }
    return sent_to;
  };

  const schedule = (delayMs: number) => {
    if (stopped) return;
    timer = clock.setTimeout(() => {
      timer = undefined;
      inFlight = announce();
      inFlight.then(
        (sentTo) => {
          failures = 0;
          schedule(nextDelay(sentTo));
        },
        (error) => {
          // Once is news; the same failure again (network worker still starting) is not.
          if (failures++ === 0) log.warn("announcement failed", { error: String(error) });
          schedule(nextDelay(0));
        },
      ).finally(() => (inFlight = undefined));
    }, delayMs);
  };
  schedule(Math.min(ANNOUNCE_FIRST_DELAY_MS, deps.intervalMs));

  return {
    announceNow: announce,
    async stop() {
      stopped = true;
      if (timer) clock.clearTimeout(timer);
      await inFlight?.catch(() => {});
    },
  };
}
