/**
 * A GPU node's announcements: it broadcasts a summary of its machine on topic
 * `service.summary` when it has something to say, not on a short period:
 *
 * - as soon as it has a neighbour (first try {@link ANNOUNCE_FIRST_DELAY_MS} after start;
 *   while an announcement reaches nobody, again after {@link ANNOUNCE_RETRY_MS}, doubling),
 *   and twice more while the network around it forms ({@link JOIN_REANNOUNCE_MS});
 * - whenever its offer changes (looked at every {@link CHANGE_CHECK_MS}: GPUs, disk, the
 *   ledger's state of the machine, price);
 * - otherwise once every `intervalMs` (`announce_interval_s`), a slow refresh that keeps it
 *   listed (a summary lives three intervals; a node that leaves is dropped when the network
 *   reports it gone).
 *
 * The network layer signs every broadcast with the node's key and each receiver checks that
 * signature against the origin's node id before delivering it, so the summary needs no
 * signature of its own (the node service holds no private key); receivers only check that a
 * summary describes its origin (`table.ts`).
 */
import {
  type Clock,
  type Logger,
  SERVICE_SUMMARY_TOPIC,
  type ServiceSummary,
  type TimerHandle,
} from "../../mod/mod.ts";
import {
  ANNOUNCE_FIRST_DELAY_MS,
  ANNOUNCE_RETRY_MS,
  CHANGE_CHECK_MS,
  JOIN_REANNOUNCE_MS,
} from "./constants.ts";
import { describeSummary } from "./machine_summary.ts";
import { offerChanged } from "./offer_change.ts";
import type { WorkerCall } from "../network_subscription.ts";

export type AnnouncerDeps = {
  call: WorkerCall;
  clock: Clock;
  log: Logger;
  /** The slow refresh: an unchanged offer is announced again after this long. */
  intervalMs: number;
  /** Builds the summary to announce now. */
  summary: () => Promise<ServiceSummary>;
  /** Each summary made, whether or not it reached anyone (the node lists itself too). */
  onSummary?: (summary: ServiceSummary) => void;
};

export type Announcer = {
  /** Announces the current summary now; resolves with the number of neighbours it went to. */
  announceNow(): Promise<number>;
  stop(): Promise<void>;
};

export function startAnnouncer(deps: AnnouncerDeps): Announcer {
  const { call, clock, log } = deps;
  const checkMs = Math.min(CHANGE_CHECK_MS, deps.intervalMs);
  let timer: TimerHandle | undefined;
  let inFlight: Promise<unknown> | undefined;
  let stopped = false;
  let failures = 0;
  let retryMs = Math.min(ANNOUNCE_RETRY_MS, deps.intervalMs);
  /** The last summary that reached a neighbour, and when. */
  let announced: { summary: ServiceSummary; at: number } | undefined;
  /** When the first announcement reached a neighbour: the join re-announcements count from it. */
  let joinedAt: number | undefined;
  let joinStep = 0;

  const announce = async (summary: ServiceSummary): Promise<number> => {
    const { sent_to } = await call("network.broadcast", {
      topic: SERVICE_SUMMARY_TOPIC,
      body: summary,
    });
    if (sent_to > 0) {
      if (joinedAt === undefined) {
        joinedAt = clock.now();
        log.info("announced this machine", { summary: describeSummary(summary), sent_to });
      }
      announced = { summary, at: clock.now() };
    }
    return sent_to;
  };

  /** Why to announce now, if at all. */
  const reason = (summary: ServiceSummary, now: number): string | undefined => {
    if (!announced) return "first";
    if (offerChanged(announced.summary, summary)) return "changed";
    const joinDelay = JOIN_REANNOUNCE_MS[joinStep];
    if (joinedAt !== undefined && joinDelay !== undefined && now >= joinedAt + joinDelay) {
      joinStep++;
      return "joining";
    }
    if (now - announced.at >= deps.intervalMs) return "refresh";
    return undefined;
  };

  /** One look: build the summary, announce it if there is a reason; the delay to the next look. */
  const look = async (): Promise<number> => {
    const summary = await deps.summary();
    deps.onSummary?.(summary);
    const now = clock.now();
    const why = reason(summary, now);
    if (why === undefined) return nextLook(now);
    const sentTo = await announce(summary);
    if (sentTo > 0) {
      retryMs = Math.min(ANNOUNCE_RETRY_MS, deps.intervalMs);
      log.debug("announced this machine", { reason: why, sent_to: sentTo });
      return nextLook(clock.now());
    }
    // Nobody heard it (no neighbour yet): soon again, then less and less often.
    const delay = retryMs;
    retryMs = Math.min(retryMs * 2, deps.intervalMs);
    return delay;
  };

  /** The next look: the regular check, brought forward to a join re-announcement that is due. */
  const nextLook = (now: number): number => {
    const joinDelay = JOIN_REANNOUNCE_MS[joinStep];
    const joinDue = joinedAt !== undefined && joinDelay !== undefined
      ? joinedAt + joinDelay - now
      : Infinity;
    return Math.max(0, Math.min(checkMs, joinDue));
  };

  const schedule = (delayMs: number) => {
    if (stopped) return;
    timer = clock.setTimeout(() => {
      timer = undefined;
      const running = look();
      inFlight = running;
      running.then(
        (delay) => {
          failures = 0;
          schedule(delay);
        },
        (error) => {
          // Once is news; the same failure again (network worker still starting) is not.
          if (failures++ === 0) log.warn("announcement failed", { error: String(error) });
          const delay = retryMs;
          retryMs = Math.min(retryMs * 2, deps.intervalMs);
          schedule(delay);
        },
      ).finally(() => (inFlight = undefined));
    }, delayMs);
  };
  schedule(Math.min(ANNOUNCE_FIRST_DELAY_MS, deps.intervalMs));

  return {
    async announceNow() {
      const summary = await deps.summary();
      deps.onSummary?.(summary);
      return announce(summary);
    },
    async stop() {
      stopped = true;
      if (timer) clock.clearTimeout(timer);
      await inFlight?.catch(() => {});
    },
  };
}
