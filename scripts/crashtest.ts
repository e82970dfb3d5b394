/**
 * `deno task crashtest`: kill -9 at any step, measured. A GPU node (a real
 * process, `deno task node`) rented through a seed's ledger creates, starts,
 * stops, snapshots, modifies and deletes VMs (real libvirt) and containers
 * (real Podman) while it is killed with SIGKILL at random moments and
 * started again each time; after each restart's repair the node's records
 * are checked against libvirt, the VM directory, the engine and its own
 * SQLite file (scripts/crashtest/invariants.ts defines each figure).
 * Progress goes to stderr; the last line on stdout is the JSON report:
 *
 *   {"runs":100,"orphan_domains":0,"orphan_disks":0,"orphan_containers":0,"lost_records":0,
 *    "leaked_gpus":0,"stuck_operations":0,"lost_events":0,"mismatched_records":0,
 *    "seed":...,"seconds":...}
 *
 * Exit 0 when every figure is 0, 1 otherwise, 2 for a bad command line.
 * Needs what the system tests need (scripts/system/test_setup.sh: libvirt,
 * Podman on /run/dbc-podman/podman.sock, the test guest and container image).
 *
 * ```sh
 * deno task crashtest --runs 100
 * deno task crashtest --runs 20 --seed 7 --max-kill-ms 1500 --keep
 * ```
 */
// First: the npm modules below read variables of their own through process.env as they load.
import "./cli/env_shim.ts";
import { parseArgs } from "node:util";
import { type CrashtestResult, runCrashtest } from "./crashtest/run.ts";
import { FIGURES } from "./crashtest/invariants.ts";

const USAGE = "usage: deno task crashtest [--runs N] [--seed S] [--max-kill-ms MS] [--keep]";
export const DEFAULT_RUNS = 20;
export const DEFAULT_MAX_KILL_MS = 3_000;

function integer(text: string | undefined, flag: string, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${flag}: expected an integer of at least ${min}, got ${text}`);
  }
  return value;
}

/** Every figure is zero. */
export function passed(result: CrashtestResult): boolean {
  return FIGURES.every((figure) => result.report[figure] === 0);
}

async function main(args: string[]): Promise<number> {
  let options;
  try {
    const { values } = parseArgs({
      args,
      options: {
        runs: { type: "string" },
        seed: { type: "string" },
        "max-kill-ms": { type: "string" },
        keep: { type: "boolean" },
      },
    });
    options = {
      runs: integer(values.runs, "--runs", DEFAULT_RUNS, 1),
      seed: integer(values.seed, "--seed", Math.floor(Math.random() * 2 ** 31), 0),
      maxKillMs: integer(values["max-kill-ms"], "--max-kill-ms", DEFAULT_MAX_KILL_MS, 0),
      keep: values.keep ?? false,
    };
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const progress = (message: string) =>
    console.error(`[crashtest ${new Date().toISOString()}] ${message}`);
  progress(`seed ${options.seed}, ${options.runs} runs, kills within ${options.maxKillMs} ms`);
  const result = await runCrashtest(options, progress);
  console.log(JSON.stringify(result.report));
  return passed(result) ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
