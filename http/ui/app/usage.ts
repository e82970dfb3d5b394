/**
 * Usage over time from an instance's readings: a GPU node answers counters
 * at one moment (CPU time, bytes sent, memory in use); the dashboard reads
 * them every few seconds and draws rates between consecutive readings. Pure,
 * tested without a browser (tests/http/ui_usage_test.ts).
 */
import type { InstanceUsage } from "../../../mod/mod.ts";

/** One point of each chart; null where the reading had no such counter. */
export type UsagePoint = {
  /** Seconds since the epoch (the charts' time axis). */
  t: number;
  /** CPU in use, percent of one core (200 = two cores busy). */
  cpuPercent: number | null;
  memoryBytes: number | null;
  /** Network bytes per second, received and sent together. */
  netBytesPerS: number | null;
  /** Disk bytes per second, read and written together. */
  diskBytesPerS: number | null;
};

/** How many points a chart keeps: ten minutes at one reading every five seconds. */
export const USAGE_HISTORY_POINTS = 120;

/** The point that `current` makes after `previous` (rates need both; the first has none). */
export function usagePoint(
  previous: InstanceUsage | undefined,
  current: InstanceUsage,
): UsagePoint {
  const seconds = previous ? (current.at - previous.at) / 1000 : 0;
  const rate = (before: number | null | undefined, after: number | null) =>
    before === null || before === undefined || after === null || seconds <= 0 || after < before
      ? null // No earlier reading, or a counter that went back: the instance restarted.
      : (after - before) / seconds;
  const sum = (a: number | null, b: number | null) => (a === null || b === null ? null : a + b);
  const cpuNsPerS = rate(previous?.cpu_time_ns, current.cpu_time_ns);
  return {
    t: current.at / 1000,
    cpuPercent: cpuNsPerS === null ? null : cpuNsPerS / 1e7,
    memoryBytes: current.memory_used_bytes,
    netBytesPerS: sum(
      rate(previous?.net_rx_bytes, current.net_rx_bytes),
      rate(previous?.net_tx_bytes, current.net_tx_bytes),
    ),
    diskBytesPerS: sum(
      rate(previous?.disk_read_bytes, current.disk_read_bytes),
      rate(previous?.disk_write_bytes, current.disk_write_bytes),
    ),
  };
}

/** The readings kept for a chart: the newest {@link USAGE_HISTORY_POINTS}, oldest first. */
export class UsageHistory {
  readonly points: UsagePoint[] = [];
  #last: InstanceUsage | undefined;

  /** Adds a reading; a reading no newer than the last one is ignored. */
  add(reading: InstanceUsage): UsagePoint | undefined {
    if (this.#last && reading.at <= this.#last.at) return undefined;
    const point = usagePoint(this.#last, reading);
    this.#last = reading;
    this.points.push(point);
    if (this.points.length > USAGE_HISTORY_POINTS) this.points.shift();
    return point;
  }

  /** The points as uPlot's columns: times, then one series. */
  columns(pick: (point: UsagePoint) => number | null): [number[], (number | null)[]] {
    return [this.points.map((point) => point.t), this.points.map(pick)];
  }
}
