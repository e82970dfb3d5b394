/**
 * What the network sent during one phase of the simulation, to see where its cost goes:
 * messages by wire kind, departure entries carried (`gone`, signed goodbyes and unsigned
 * reports apart), and the departure counters summed over the nodes (reports heard, checks
 * dialled, departures recorded). Counted on the memory network's tap, so nothing in the
 * protocol code changes to measure it.
 */
import type { WireMessage } from "../../network/mod.ts";
import type { SimCluster } from "./cluster.ts";

const DEPARTURE_COUNTERS = [
  "departure_reports",
  "departure_checks",
  "departure_checks_failed",
  "departure_checks_skipped",
  "departures_recorded",
  "dials_failed",
] as const;
type DepartureCounter = typeof DEPARTURE_COUNTERS[number];

export type TrafficFigures = {
  /** Messages sent, by wire kind (only kinds sent at least once). */
  messages: Record<string, number>;
  /** Departure entries carried in `peers` messages: signed goodbyes, unsigned reports. */
  gone_signed: number;
  gone_unsigned: number;
  /** `peers` messages that carried departures only (pushes), and the entries in them. */
  departure_pushes: number;
  gone_pushed: number;
  /** Departure entries in exchange rounds and in a new link's first exchange. */
  gone_exchanged: number;
  /** Summed over every node ever in the cluster, during the phase. */
  counters: Record<DepartureCounter, number>;
  /** Virtual-clock timers fired during the phase. */
  timers_fired: number;
};

function sumCounters(cluster: SimCluster): Record<DepartureCounter, number> {
  const sums = Object.fromEntries(DEPARTURE_COUNTERS.map((name) => [name, 0])) as Record<
    DepartureCounter,
    number
  >;
  for (const node of cluster.nodes) {
    for (const name of DEPARTURE_COUNTERS) sums[name] += node.peer.counters[name];
  }
  return sums;
}

/** Starts counting; the returned function stops and reports. */
export function countTraffic(cluster: SimCluster): () => TrafficFigures {
  const messages: Record<string, number> = {};
  let goneSigned = 0;
  let goneUnsigned = 0;
  let pushes = 0;
  let gonePushed = 0;
  const before = sumCounters(cluster);
  const timersBefore = cluster.clock.firedTimers;
  const previous = cluster.network.tap;
  cluster.network.tap = (from: string, to: string, message: WireMessage) => {
    previous?.(from, to, message);
    messages[message.t] = (messages[message.t] ?? 0) + 1;
    if (message.t !== "peers" || message.gone.length === 0) return;
    if (message.peers.length === 0) {
      pushes++;
      gonePushed += message.gone.length;
    }
    for (const departure of message.gone) {
      if (departure.sig === undefined) goneUnsigned++;
      else goneSigned++;
    }
  };
  return () => {
    cluster.network.tap = previous;
    const after = sumCounters(cluster);
    const counters = { ...after };
    for (const name of DEPARTURE_COUNTERS) counters[name] -= before[name];
    return {
      messages,
      gone_signed: goneSigned,
      gone_unsigned: goneUnsigned,
      departure_pushes: pushes,
      gone_pushed: gonePushed,
      gone_exchanged: goneSigned + goneUnsigned - gonePushed,
      counters,
      timers_fired: cluster.clock.firedTimers - timersBefore,
    };
  };
}
