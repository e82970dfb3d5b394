/**
 * Metrics whose numbers are kept elsewhere: running totals the code already counts
 * (network/counters.ts), states in a database. Each scrape reads them afresh into prom-client
 * metrics, so the code they watch needs no metrics calls of its own.
 *
 * @example
 * ```ts
 * mirroredCounter({
 *   registry, name: "dbc_p2p_links_total", help: "Peer links by event.", labelNames: ["event"],
 *   read: () => [[{ event: "opened" }, counters.links_opened]],
 * });
 * ```
 */
import { Counter, Gauge, type LabelValues, type Registry } from "prom-client";

/** One series: its label values and its number now. */
export type Reading<L extends string> = readonly [labels: LabelValues<L>, value: number];

export type MirroredOptions<L extends string> = {
  registry: Registry;
  name: string;
  help: string;
  labelNames: readonly L[];
  /** Every series, read when the registry is collected. */
  read: () => Iterable<Reading<L>>;
};

/** A counter set to running totals counted elsewhere (they only grow while the worker lives). */
export function mirroredCounter<L extends string>(options: MirroredOptions<L>): Counter<L> {
  return new Counter<L>({
    name: options.name,
    help: options.help,
    labelNames: options.labelNames,
    registers: [options.registry],
    collect() {
      this.reset();
      for (const [labels, value] of options.read()) this.inc(labels, value);
    },
  });
}

/** A gauge set to the numbers read at each scrape; series no longer read disappear. */
export function mirroredGauge<L extends string>(options: MirroredOptions<L>): Gauge<L> {
  return new Gauge<L>({
    name: options.name,
    help: options.help,
    labelNames: options.labelNames,
    registers: [options.registry],
    collect() {
      this.reset();
      for (const [labels, value] of options.read()) this.set(labels, value);
    },
  });
}
