/**
 * `deno task fuzz`, run as a developer runs it (a process of its own, the
 * task's own permissions): every target keeps its contract for a few
 * thousand inputs, and the runner reports each kind of broken contract (a
 * throw, a hang, an escaped rejection, a leak) with what replays it.
 *
 * The seed is new on every run, so CI keeps looking at inputs it has not
 * tried; a failure names the seed (and the path of its counterexample), and
 * `DBC_FUZZ_SEED=<seed>` runs the same inputs again.
 */
import assert from "node:assert/strict";
import { TARGET_NAMES } from "../../scripts/fuzz/targets/mod.ts";
import type { FuzzReport } from "../../scripts/fuzz/run_target.ts";
import { REPO_ROOT } from "../helpers.ts";

/**
 * Runs per target. Most take 3,000; the targets whose every input costs a real signature check,
 * a PeerNode or a round through the HTTP app take fewer, so the file stays near a minute on two
 * cores.
 */
const DEFAULT_RUNS = 3_000;
const FEWER_RUNS: Record<string, number> = {
  "network.peer": 2_000,
  "wallet.multisig": 2_000,
  "wallet.signature": 2_000,
  "wallet.request_auth": 2_000,
  "http.routes": 2_000,
  "http.remote": 2_000,
  "http.compat": 2_000,
};

const SEED = Number(Deno.env.get("DBC_FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));

type Run = { code: number; reports: FuzzReport[]; stderr: string };

/** `deno task fuzz` with `args`; its JSON lines, parsed. */
async function fuzz(args: string[]): Promise<Run> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "fuzz", ...args],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const reports = stdout.split("\n").filter((line) => line.startsWith("{")).map((line) =>
    JSON.parse(line) as FuzzReport
  );
  return { code: output.code, reports, stderr: new TextDecoder().decode(output.stderr) };
}

Deno.test(`every fuzz target keeps its contract (seed ${SEED})`, async () => {
  const groups = new Map<number, string[]>();
  for (const name of TARGET_NAMES) {
    const runs = FEWER_RUNS[name] ?? DEFAULT_RUNS;
    groups.set(runs, [...(groups.get(runs) ?? []), name]);
  }
  const seen: string[] = [];
  for (const [runs, names] of groups) {
    const run = await fuzz([
      "--runs",
      String(runs),
      "--seed",
      String(SEED),
      ...names.flatMap((name) => ["--target", name]),
    ]);
    for (const report of run.reports) {
      seen.push(report.target);
      assert.equal(
        report.failures,
        0,
        `${report.target} failed (replay: DBC_FUZZ_SEED=${SEED}, or deno task fuzz --target ` +
          `${report.target} --seed ${report.seed} --path ${report.path}):\n${report.error}\n` +
          `counterexample: ${report.counterexample}`,
      );
      assert.equal(report.runs, runs, `${report.target} ran ${report.runs} of ${runs} inputs`);
      assert.equal(report.seed, SEED);
      assert.ok(report.max_ms > 0 && Number.isFinite(report.max_ms), `max_ms ${report.max_ms}`);
      assert.equal(typeof report.heap_growth_mb, "number", "the heap was not measured");
    }
    assert.equal(run.code, 0, run.stderr);
  }
  assert.deepEqual(seen.sort(), [...TARGET_NAMES].sort());
});

Deno.test("the runner reports a throw, a hang, an escaped rejection and a leak, and replays them", async () => {
  const run = await fuzz([
    "--runs",
    "2000",
    "--seed",
    String(SEED),
    "--input-budget-ms",
    "300",
    "--target",
    "harness.throws",
    "--target",
    "harness.hangs",
    "--target",
    "harness.escapes",
    "--target",
    "harness.leaks",
  ]);
  assert.equal(run.code, 1, "a failed run exits 1");
  const [throws, hangs, escapes, leaks] = run.reports;
  assert.deepEqual(run.reports.map((report) => report.failures), [1, 1, 1, 1]);

  // The counterexample is shrunk to the smallest breaking input, and its path replays it.
  assert.equal(throws!.counterexample, "1000");
  assert.match(throws!.error!, /1000 is not below 1000/);
  const replay = await fuzz([
    "--target",
    "harness.throws",
    "--seed",
    String(throws!.seed),
    "--path",
    throws!.path!,
  ]);
  assert.equal(replay.reports[0]!.failures, 1);
  assert.equal(replay.reports[0]!.counterexample, "1000");

  // A synchronous loop cannot be interrupted in its thread: the watchdog ends the worker.
  assert.match(hangs!.error!, /did not finish within 300 ms: a hang/);
  assert.ok(hangs!.path, "a hang names the input that hung");
  assert.match(escapes!.error!, /escaped the boundary: .*escaped on purpose/s);
  assert.match(leaks!.error!, /the heap grew by [\d.]+ MiB over the second half/);
  assert.ok(leaks!.heap_growth_mb! > 32);
});
