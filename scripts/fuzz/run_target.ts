/**
 * Runs one target in this thread under fast-check and measures it: the
 * slowest input, the heap growth over the second half of the runs, and every
 * error that escapes (an unhandled rejection or an uncaught error while an
 * input runs counts against that input). An input over its time budget is a
 * failure too; one that never returns is caught by the watchdog of the thread
 * that started this one (scripts/fuzz.ts), through `progress`.
 */
import fc from "fast-check";
import { ContractError, type FuzzTarget } from "./target.ts";

export type RunOptions = {
  runs: number;
  seed: number;
  /** Replays one run (fast-check's counterexample path) instead of drawing new ones. */
  path?: string;
  /** Longest one input may take. */
  inputBudgetMs: number;
  /** Heap growth over the second half of the runs above this is a failure (a leak). */
  heapGrowthLimitMb: number;
  /** Shared with the watchdog: [run index, when the current step started (ms, 0: none), its budget]. */
  progress?: Float64Array;
};

export type FuzzReport = {
  target: string;
  runs: number;
  failures: number;
  max_ms: number;
  seed: number;
  /**
   * Memory (JS heap and buffers) after GC at the end less at the middle of the runs, MiB; null
   * without `--expose-gc` or when the run stopped at a failure.
   */
  heap_growth_mb: number | null;
  error?: string;
  counterexample?: string;
  /** With `seed`, replays the counterexample: `deno task fuzz --target T --seed S --path P`. */
  path?: string;
};

/** `progress[0]` while the target sets itself up, and while a failure shrinks. */
export const SETTING_UP = -1;
export const SHRINKING = -2;
/** How long a target may take to set itself up. */
export const SETUP_BUDGET_MS = 60_000;
const MAX_REPORT_CHARS = 4_000;
const GC_ROUNDS = 3;
const GC_SETTLE_MS = 20;

export async function runTarget(target: FuzzTarget, options: RunOptions): Promise<FuzzReport> {
  const progress = options.progress ?? new Float64Array(3);
  const startStep = (index: number, budgetMs: number) => {
    progress[0] = index;
    progress[2] = budgetMs;
    progress[1] = performance.timeOrigin + performance.now();
  };
  const escaped: unknown[] = [];
  const onRejection = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    escaped.push(event.reason);
  };
  const onError = (event: ErrorEvent) => {
    event.preventDefault();
    escaped.push(event.error ?? event.message);
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  globalThis.addEventListener("error", onError);

  startStep(SETTING_UP, SETUP_BUDGET_MS);
  const property = await target.property();
  progress[1] = 0;
  const half = Math.floor(options.runs / 2);
  let calls = 0;
  let maxMs = 0;
  let failed = false;
  let heapMiddle: number | undefined;

  const check = async (input: unknown) => {
    const index = calls++;
    if (!failed && index === half) heapMiddle = await heapAfterGc();
    // While a failure shrinks, the index names no run of the seed: -2 says so to the watchdog.
    startStep(failed ? SHRINKING : index, options.inputBudgetMs);
    const started = performance.now();
    let error: unknown;
    try {
      await property.check(input);
    } catch (thrown) {
      error = thrown;
    }
    const elapsed = performance.now() - started;
    progress[1] = 0;
    maxMs = Math.max(maxMs, elapsed);
    if (error === undefined && escaped.length > 0) error = escapedError(escaped.splice(0));
    if (error === undefined && elapsed > options.inputBudgetMs) {
      error = new ContractError(
        `one input took ${Math.round(elapsed)} ms, over the ${options.inputBudgetMs} ms budget`,
      );
    }
    if (error !== undefined) {
      failed = true;
      throw error;
    }
  };

  let details: fc.RunDetails<[unknown]>;
  try {
    details = await fc.check(fc.asyncProperty(property.arbitrary, check), {
      numRuns: options.runs,
      seed: options.seed,
      ...(options.path !== undefined ? { path: options.path } : {}),
      timeout: options.inputBudgetMs,
      markInterruptAsFailure: true,
    });
  } finally {
    await property.dispose?.();
    globalThis.removeEventListener("unhandledrejection", onRejection);
    globalThis.removeEventListener("error", onError);
  }
  const heapEnd = await heapAfterGc();
  const heapGrowthMb = heapMiddle !== undefined && heapEnd !== undefined
    ? round((heapEnd - heapMiddle) / 2 ** 20)
    : null;
  const report: FuzzReport = {
    target: target.name,
    runs: details.numRuns,
    failures: details.failed ? 1 : 0,
    max_ms: round(maxMs),
    seed: details.seed,
    heap_growth_mb: heapGrowthMb,
  };
  if (details.failed) {
    report.error = clip(describe(details.errorInstance));
    report.counterexample = clip(
      details.counterexample ? fc.stringify(details.counterexample[0]) : "(none)",
    );
    report.path = details.counterexamplePath ?? undefined;
  } else if (escaped.length > 0) {
    // Escaped after the last input finished: no input to blame, still a failure.
    report.failures++;
    report.error = clip(describe(escapedError(escaped)));
  } else if (heapGrowthMb !== null && heapGrowthMb > options.heapGrowthLimitMb) {
    report.failures++;
    report.error = `the heap grew by ${heapGrowthMb} MiB over the second half of the runs ` +
      `(limit ${options.heapGrowthLimitMb} MiB): memory grows with the inputs`;
  }
  return report;
}

/**
 * Memory in use after a full collection: the JS heap and the buffers outside it (typed arrays'
 * bytes live there); `undefined` unless V8 runs with `--expose-gc`.
 */
async function heapAfterGc(): Promise<number | undefined> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return undefined;
  // Buffers' bytes are released by a background sweeper after the collection: give it a moment.
  for (let round = 0; round < GC_ROUNDS; round++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, GC_SETTLE_MS));
  }
  const usage = Deno.memoryUsage();
  return usage.heapUsed + usage.external;
}

function escapedError(errors: unknown[]): ContractError {
  return new ContractError(`an error escaped the boundary: ${errors.map(describe).join("; ")}`);
}

function describe(error: unknown): string {
  // The code under test threw: where it threw helps more than the message alone.
  if (error instanceof Error && !(error instanceof ContractError)) {
    return error.stack ?? `${error.name}: ${error.message}`;
  }
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

function clip(text: string): string {
  return text.length > MAX_REPORT_CHARS ? `${text.slice(0, MAX_REPORT_CHARS)}...` : text;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
