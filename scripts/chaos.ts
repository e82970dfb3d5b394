/**
 * `deno task chaos`: a network of real nodes (one seed keeping the ledger,
 * GPU nodes, client-ends: `deno task node` processes on loopback, each with
 * its own data directory under /var/tmp/dbc-test, ports and domain prefix)
 * in which renters keep operating containers on the GPU nodes they rent,
 * through client-ends picked at random, while a share of the nodes is
 * SIGKILLed and started again at random for minutes; a few are killed for
 * good near the end and the survivors are watched until they forget them.
 * The seed, the ledger authority, is never killed. scripts/chaos/ holds the
 * parts; scripts/chaos/classify.ts says what each request's outcome counts
 * as. Progress goes to stderr; the last line on stdout is the JSON report:
 *
 *   {"nodes":20,"minutes":3,"kill_fraction":0.3,"seed":7,"kills":12,...,
 *    "requests":1000,"succeeded":800,"failed_with_clear_error":200,"failed_otherwise":0,
 *    "rentals":10,"lost_rentals":0,"instances_checked":15,"lost_instances":0,"forget_s":3.1,...}
 *
 * Exit 0 when nothing failed otherwise, nothing was lost, every node came
 * back and the dead were forgotten; 1 otherwise; 2 for a bad command line.
 * Needs what the system tests need (scripts/system/test_setup.sh: Podman on
 * /run/dbc-podman/podman.sock with the test image).
 *
 * ```sh
 * deno task chaos
 * deno task chaos --nodes 8 --minutes 1 --kill-fraction 0.5 --seed 7 --keep
 * ```
 */
import { parseArgs } from "node:util";
import { type ChaosReport, runChaos } from "./chaos/run.ts";
import { type ChaosOptions, DEFAULT_OPTIONS, invalidOptions } from "./chaos/plan.ts";

const USAGE =
  "usage: deno task chaos [--nodes N] [--minutes M] [--kill-fraction F] [--seed S] [--keep]";

/** Whether the run found nothing wrong. */
export function passed(report: ChaosReport): boolean {
  return report.failed_otherwise === 0 && report.lost_instances === 0 &&
    report.lost_rentals === 0 && report.restart_failures === 0 && report.forget_s !== null;
}

function number(text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : Number(text);
}

async function main(args: string[]): Promise<number> {
  let options: ChaosOptions & { keep: boolean };
  try {
    const { values } = parseArgs({
      args,
      options: {
        nodes: { type: "string" },
        minutes: { type: "string" },
        "kill-fraction": { type: "string" },
        seed: { type: "string" },
        keep: { type: "boolean" },
      },
    });
    options = {
      nodes: number(values.nodes, DEFAULT_OPTIONS.nodes),
      minutes: number(values.minutes, DEFAULT_OPTIONS.minutes),
      killFraction: number(values["kill-fraction"], DEFAULT_OPTIONS.killFraction),
      seed: number(values.seed, Math.floor(Math.random() * 2 ** 31)),
      keep: values.keep ?? false,
    };
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const problem = invalidOptions(options);
  if (problem) {
    console.error(`${problem}\n${USAGE}`);
    return 2;
  }
  const report = await runChaos(
    options,
    (message) => console.error(`[chaos ${new Date().toISOString().slice(11, 19)}] ${message}`),
  );
  console.log(JSON.stringify(report));
  return passed(report) ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
