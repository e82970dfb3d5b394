/**
 * Reads Prometheus' text format (what `GET /metrics` answers) into one number
 * per family and label set, for the operator page's charts. Pure, tested
 * without a browser (tests/http/ui_usage_test.ts).
 */

export type Sample = { name: string; labels: string; value: number };

/** The samples of a scrape; comments, blank and unreadable lines are skipped. */
export function parseMetricsText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[3]);
    if (Number.isNaN(value)) continue;
    samples.push({ name: match[1]!, labels: match[2] ?? "", value });
  }
  return samples;
}

/** Every sample of `name` added up (all label sets); null when the scrape has none. */
export function total(samples: readonly Sample[], name: string): number | null {
  const values = samples.filter((sample) => sample.name === name).map((sample) => sample.value);
  return values.length === 0 ? null : values.reduce((sum, value) => sum + value, 0);
}

/** The largest sample of `name`; null when the scrape has none. */
export function largest(samples: readonly Sample[], name: string): number | null {
  const values = samples.filter((sample) => sample.name === name).map((sample) => sample.value);
  return values.length === 0 ? null : Math.max(...values);
}
