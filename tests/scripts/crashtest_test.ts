/**
 * `deno task crashtest`, small: three runs of kill -9 against a real GPU node
 * (real libvirt, real Podman, rented through a real seed's ledger), and every
 * figure must be 0. The full measure is `deno task crashtest --runs 100`.
 */
import assert from "node:assert/strict";
import { passed } from "../../scripts/crashtest.ts";
import { FIGURES } from "../../scripts/crashtest/invariants.ts";
import { runCrashtest } from "../../scripts/crashtest/run.ts";
import { requireLibvirt } from "../node_service/vm/libvirt_fixture.ts";
import { requireEngine } from "../node_service/container/engine_fixture.ts";

const RUNS = 3;

Deno.test({
  name: "kill -9 at random steps of VM and container operations: nothing orphaned, lost or stuck",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await requireLibvirt();
    await requireEngine();
    const seed = Math.floor(Math.random() * 2 ** 31);
    const lines: string[] = [];
    const result = await runCrashtest(
      { runs: RUNS, seed, maxKillMs: 3_000, keep: false },
      (line) => lines.push(line),
    );
    const log = `seed ${seed} (replay: deno task crashtest --runs ${RUNS} --seed ${seed})\n${
      lines.join("\n")
    }`;
    assert.equal(result.report.runs, RUNS, log);
    for (const figure of FIGURES) assert.equal(result.report[figure], 0, `${figure}\n${log}`);
    assert.ok(passed(result));
  },
});
