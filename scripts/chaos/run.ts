/**
 * One chaos run, start to end: the network up (cluster.ts), every GPU node
 * rented (onboard.ts), then for the chaos phase the renters operate their
 * containers (renter.ts) while the kill schedule (plan.ts) kills and
 * restarts nodes; near the end a few are killed for good and the survivors
 * are watched until they forget them; then the dead are started again and
 * the ledger's rentals and the renters' instances are audited (audit.ts).
 * Whatever happens, every node is stopped, the renters' containers removed
 * and the scratch directory deleted (unless kept).
 */
import {
  auditInstances,
  auditRentals,
  deleteLeftovers,
  knownBy,
  measureForgetting,
} from "./audit.ts";
import type { Forgetting, InstanceFinding, RentalFinding } from "./audit.ts";
import { ChaosCluster, type ChaosNode, NODE_REQUEST_TIMEOUT_MS, type Progress } from "./cluster.ts";
import { sweepContainers } from "./engine_sweep.ts";
import { onboard, type RentalMade } from "./onboard.ts";
import { type ChaosOptions, chaosPlan, Random } from "./plan.ts";
import { RenterLoop, sleep } from "./renter.ts";
import { type Failure, Tally } from "./tally.ts";

/** The survivors have this long after a kill for good to forget the node. */
export const FORGET_CAP_MS = 120_000;
/** A renter waits this much longer than the nodes' own time-out before calling it a hang. */
const HANG_MARGIN_MS = 10_000;
/** A node that does not come back is tried once more after this pause. */
const RESTART_RETRY_MS = 5_000;
/** The nodes' error lines shown in the progress (all are counted in the report). */
const SHOWN_ERROR_LINES = 30;

export type ChaosReport = {
  nodes: number;
  minutes: number;
  kill_fraction: number;
  seed: number;
  /** SIGKILLs during the rounds (each followed by a restart), and the nodes killed for good. */
  kills: number;
  killed_for_good: string[];
  /** Starts that failed (the node did not answer in time or exited), retries included. */
  restart_failures: number;
  requests: number;
  succeeded: number;
  failed_with_clear_error: number;
  failed_otherwise: number;
  clear_errors: Record<string, number>;
  rentals: number;
  lost_rentals: number;
  instances_checked: number;
  lost_instances: number;
  /** Seconds until every survivor forgot the slowest-forgotten node; null: one was not forgotten. */
  forget_s: number | null;
  forgetting: Forgetting[];
  /** Lines the nodes logged at error level over the run. */
  node_error_lines: number;
  failures: Failure[];
  lost_rental_details: RentalFinding[];
  lost_instance_details: InstanceFinding[];
  seconds: number;
};

export type RunOptions = ChaosOptions & {
  /** Keep the scratch directory (the nodes' data directories) for a look afterwards. */
  keep?: boolean;
};

export async function runChaos(options: RunOptions, progress: Progress): Promise<ChaosReport> {
  const startedAt = Date.now();
  const plan = chaosPlan(options);
  progress(
    `plan: ${plan.layout.length} nodes, ${plan.kills.length} kills over ${
      plan.phaseMs / 1_000
    } s (never the seed: it keeps the ledger), ${plan.forGood.join(", ")} for good at ${
      plan.forGoodAtMs / 1_000
    } s`,
  );
  const cluster = await ChaosCluster.start(plan.layout, progress);
  let rentals: RentalMade[] = [];
  let restartFailures = 0;
  let report: ChaosReport;
  let errors: { node: string; line: string }[] = [];
  try {
    rentals = await onboard(cluster, progress);
    const tally = new Tally((failure) =>
      progress(`FAILED OTHERWISE ${failure.request} via ${failure.via}: ${failure.why}`)
    );
    const clientEnds = new Map(
      cluster.byRole("client").map((node) => [node.name, cluster.url(node)]),
    );
    const loops = rentals.map((made, index) => ({
      made,
      loop: new RenterLoop({
        renter: made.renter.pair,
        renterName: made.renter.name,
        gpuId: made.gpu.id,
        clientEnds,
        random: new Random(options.seed + 1 + index),
        tally,
        timeoutMs: NODE_REQUEST_TIMEOUT_MS + HANG_MARGIN_MS,
      }),
    }));

    // One thing at a time per node: a kill waits for the node's restart before it.
    const busy = new Map<string, Promise<void>>();
    const serially = (node: ChaosNode, work: () => Promise<void>) => {
      const next = (busy.get(node.name) ?? Promise.resolve()).then(work);
      busy.set(node.name, next);
      return next;
    };
    const bringBack = async (node: ChaosNode) => {
      for (let attempt = 1; attempt <= 2; attempt++) {
        try {
          await cluster.restart(node);
          progress(`${node.name} back`);
          return;
        } catch (error) {
          restartFailures++;
          progress(`${node.name} did not come back (try ${attempt}): ${(error as Error).message}`);
          await sleep(RESTART_RETRY_MS);
        }
      }
    };

    const stopRenters = new AbortController();
    const renting = loops.map(({ loop }) => loop.run(stopRenters.signal));
    const phaseStart = Date.now();
    const elapsed = () => Date.now() - phaseStart;
    progress(`chaos phase: ${loops.length} renters at work through ${clientEnds.size} client-ends`);
    const ticker = setInterval(() => {
      progress(
        `${
          Math.round(elapsed() / 1_000)
        } s: ${tally.requests} requests, ${tally.succeeded} ok, ${tally.clearTotal} clear errors, ${tally.otherwise} otherwise`,
      );
    }, 15_000);
    let forgetting: Forgetting[] = [];
    const dead = plan.forGood.map((name) => cluster.byName(name));
    try {
      await Promise.all(plan.kills.map(async (kill) => {
        await sleep(kill.atMs - elapsed());
        const node = cluster.byName(kill.node);
        await serially(node, async () => {
          await cluster.kill(node);
          progress(`killed ${node.name} (down ${kill.downMs / 1_000} s)`);
          await sleep(kill.downMs);
          await bringBack(node);
        });
      }));
      await sleep(plan.forGoodAtMs - elapsed());
      const known = await Promise.all(
        dead.map(async (node) => ({ node, knownBefore: await knownBy(cluster, node) })),
      );
      await Promise.all(dead.map((node) => serially(node, () => cluster.kill(node))));
      const killedAt = Date.now();
      progress(
        `killed for good: ${
          known.map(({ node, knownBefore }) => `${node.name} (known to ${knownBefore} nodes)`)
            .join(", ")
        }`,
      );
      const watching = measureForgetting(cluster, known, killedAt, FORGET_CAP_MS, progress);
      await sleep(plan.phaseMs - elapsed());
      stopRenters.abort();
      await Promise.all(renting);
      progress("renters stopped");
      forgetting = await watching;
    } finally {
      stopRenters.abort();
      clearInterval(ticker);
    }

    // The dead come back for the audit: their instances must have survived too.
    await Promise.all(dead.map((node) => serially(node, () => bringBack(node))));
    const lostRentals = await auditRentals(cluster, rentals);
    const instances = await auditInstances(cluster, loops);
    for (const finding of [...lostRentals, ...instances.lost]) {
      progress(`LOST ${JSON.stringify(finding)}`);
    }
    const forgotten = forgetting.map((entry) => entry.seconds);
    report = {
      nodes: options.nodes,
      minutes: options.minutes,
      kill_fraction: options.killFraction,
      seed: options.seed,
      kills: plan.kills.length,
      killed_for_good: plan.forGood,
      restart_failures: restartFailures,
      requests: tally.requests,
      succeeded: tally.succeeded,
      failed_with_clear_error: tally.clearTotal,
      failed_otherwise: tally.otherwise,
      clear_errors: Object.fromEntries(tally.clear),
      rentals: rentals.length,
      lost_rentals: lostRentals.length,
      instances_checked: instances.checked,
      lost_instances: instances.lost.length,
      forget_s: forgotten.some((seconds) => seconds === null)
        ? null
        : Math.max(...forgotten as number[]),
      forgetting,
      node_error_lines: 0,
      failures: tally.failures,
      lost_rental_details: lostRentals,
      lost_instance_details: instances.lost,
      seconds: 0,
    };
  } finally {
    await deleteLeftovers(cluster, rentals).catch(() => {});
    await cluster.stopAll();
    const swept = await sweepContainers(
      cluster.byRole("gpu").map((node) => node.id).filter(Boolean),
    ).catch((error) => {
      progress(`engine sweep failed: ${(error as Error).message}`);
      return 0;
    });
    if (swept > 0) progress(`removed ${swept} containers the nodes left in the engine`);
    if (!options.keep) await Deno.remove(cluster.dir, { recursive: true }).catch(() => {});
    // Every node has stopped: their logs are complete.
    errors = await cluster.errorLines();
    for (const { node, line } of errors.slice(0, SHOWN_ERROR_LINES)) progress(`${node}: ${line}`);
  }
  return { ...report, node_error_lines: errors.length, seconds: (Date.now() - startedAt) / 1_000 };
}
