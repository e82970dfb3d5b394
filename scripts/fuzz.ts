/**
 * `deno task fuzz`: runs the fuzz targets (scripts/fuzz/targets/) and prints
 * one JSON line per target: `{"target","runs","failures","max_ms","seed",
 * "heap_growth_mb"}`, plus `error`, `counterexample` and `path` when it
 * failed. Exits 1 when any target failed.
 *
 * Each target runs in a worker of its own, one after the other. The worker
 * marks when each input starts; an input still running after its budget (and
 * a grace period) is a hang: the worker is ended and the run reported failed,
 * with the seed and the path that replay it.
 *
 * ```sh
 * deno task fuzz                                  # every target, 10,000 runs each
 * deno task fuzz --runs 1000000 --target wire.frames
 * deno task fuzz --target http.routes --seed 42 --path 1234   # replay one input
 * deno task fuzz --list
 * ```
 */
import { parseArgs } from "node:util";
import { type FuzzReport, SETTING_UP, SHRINKING } from "./fuzz/run_target.ts";
import { HARNESS_TARGET_NAMES, TARGET_NAMES } from "./fuzz/targets/mod.ts";
import type { WorkerAnswer, WorkerRequest } from "./fuzz/worker.ts";

export const DEFAULT_RUNS = 10_000;
export const DEFAULT_INPUT_BUDGET_MS = 5_000;
export const DEFAULT_HEAP_GROWTH_LIMIT_MB = 32;
/** Added to a step's budget before the watchdog calls it a hang (fast-check's own time-out first). */
const HANG_GRACE_MS = 2_000;
const WATCHDOG_INTERVAL_MS = 250;

const USAGE = `usage: deno task fuzz [--runs N] [--target NAME]... [--seed S] [--path P]
                      [--input-budget-ms MS] [--heap-growth-limit-mb MB] [--list]`;

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  Deno.exit(2);
}

function positiveInteger(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) fail(`${flag}: expected a positive integer`);
  return value;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      options: {
        runs: { type: "string" },
        target: { type: "string", multiple: true },
        seed: { type: "string" },
        path: { type: "string" },
        "input-budget-ms": { type: "string" },
        "heap-growth-limit-mb": { type: "string" },
        list: { type: "boolean" },
      },
    });
  } catch (error) {
    fail((error as Error).message);
  }
  const { values } = parsed;
  if (values.list) {
    for (const name of TARGET_NAMES) console.log(name);
    return 0;
  }
  const names = values.target ?? [...TARGET_NAMES];
  const known: readonly string[] = [...TARGET_NAMES, ...HARNESS_TARGET_NAMES];
  for (const name of names) if (!known.includes(name)) fail(`no target ${name}`);
  const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
  if (!Number.isSafeInteger(seed)) fail("--seed: expected an integer");
  const options: WorkerRequest["options"] = {
    runs: positiveInteger(values.runs, "--runs", DEFAULT_RUNS),
    seed,
    ...(values.path !== undefined ? { path: values.path } : {}),
    inputBudgetMs: positiveInteger(
      values["input-budget-ms"],
      "--input-budget-ms",
      DEFAULT_INPUT_BUDGET_MS,
    ),
    heapGrowthLimitMb: positiveInteger(
      values["heap-growth-limit-mb"],
      "--heap-growth-limit-mb",
      DEFAULT_HEAP_GROWTH_LIMIT_MB,
    ),
  };
  let failures = 0;
  for (const name of names) {
    const report = await runInWorker(name, options);
    failures += report.failures;
    console.log(JSON.stringify(report));
  }
  return failures > 0 ? 1 : 0;
}

/** Runs target `name` in a fresh worker under the watchdog. */
function runInWorker(name: string, options: WorkerRequest["options"]): Promise<FuzzReport> {
  const shared = new SharedArrayBuffer(3 * Float64Array.BYTES_PER_ELEMENT);
  const progress = new Float64Array(shared);
  const worker = new Worker(new URL("./fuzz/worker.ts", import.meta.url), { type: "module" });
  const failedReport = (error: string, extra: Partial<FuzzReport> = {}): FuzzReport => ({
    target: name,
    runs: 0,
    failures: 1,
    max_ms: 0,
    seed: options.seed,
    heap_growth_mb: null,
    error,
    ...extra,
  });
  return new Promise<FuzzReport>((resolve) => {
    const finish = (report: FuzzReport) => {
      clearInterval(watchdog);
      worker.terminate();
      resolve(report);
    };
    const watchdog = setInterval(() => {
      const started = progress[1]!;
      const budget = progress[2]!;
      const now = performance.timeOrigin + performance.now();
      if (started === 0 || now - started <= budget + HANG_GRACE_MS) return;
      const run = progress[0]!;
      if (run === SETTING_UP) {
        return finish(failedReport(`the target's set-up did not finish within ${budget} ms`));
      }
      if (run === SHRINKING) {
        return finish(failedReport(`an input hung while a failure was shrinking (${budget} ms)`));
      }
      finish(failedReport(`input ${run} did not finish within ${budget} ms: a hang`, {
        runs: run + 1,
        path: String(run),
      }));
    }, WATCHDOG_INTERVAL_MS);
    worker.onmessage = (event: MessageEvent<WorkerAnswer>) => {
      const answer = event.data;
      finish(answer.kind === "report" ? answer.report : failedReport(answer.message));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      finish(failedReport(`the worker died: ${event.message}`));
    };
    worker.postMessage({ name, options, progress: shared } satisfies WorkerRequest);
  });
}

if (import.meta.main) Deno.exit(await main());
