/**
 * The crash test's loop: per run, plan scenarios from the node's records,
 * fire them, SIGKILL the GPU node after a random delay, read its database as
 * the kill left it, start it again, wait for its start-up repair and for it
 * to accept the renter, then check the invariants (invariants.ts) against
 * the ground truth (ground_truth.ts). A finding is looked at again a moment
 * later: only what is still wrong then counts (libvirt or the engine may
 * still be finishing a step the dead node asked for, such as a guest powering
 * off after an ACPI stop). Everything it made is removed at the end.
 */
import { DockerEngine } from "../../node_service/mod.ts";
import { removeDomains } from "../../tests/node_service/vm/libvirt_fixture.ts";
import { type Acknowledged, fireScenarios, type RunLedger } from "./actions.ts";
import {
  type Cluster,
  DOCKER_SOCKET,
  type Progress,
  restartGpu,
  startCluster,
  stopCluster,
} from "./cluster.ts";
import { readGroundTruth, readRecords } from "./ground_truth.ts";
import { checkInvariants, type Figure, FIGURES, type Finding } from "./invariants.ts";
import { planRun, type PoolInstance, Random } from "./plan.ts";

/** A second look, after a finding, for what was still settling at the first. */
const RECHECK_AFTER_MS = 3_000;

export type CrashtestOptions = {
  runs: number;
  seed: number;
  /** The kill lands uniformly in [0, maxKillMs] after the run's first request. */
  maxKillMs: number;
  /** Keep the scratch directory (node data, logs) after the test. */
  keep: boolean;
};

export type CrashtestReport = { runs: number } & Record<Figure, number> & {
  seed: number;
  seconds: number;
};

export type CrashtestResult = { report: CrashtestReport; findings: Finding[] };

export async function runCrashtest(
  options: CrashtestOptions,
  progress: Progress,
): Promise<CrashtestResult> {
  const startedAt = Date.now();
  const random = new Random(options.seed);
  const findings = new Map<string, Finding>();
  const cluster = await startCluster(progress);
  let runs = 0;
  try {
    for (let run = 1; run <= options.runs; run++) {
      const found = await crashRun(cluster, random, run, options, progress);
      for (const finding of found) {
        if (!findings.has(finding.key)) findings.set(finding.key, finding);
      }
      runs = run;
    }
  } finally {
    await stopCluster(cluster).catch((error) => progress(`cannot stop the nodes: ${error}`));
    await cleanUp(cluster, options.keep, progress);
  }
  const counts = Object.fromEntries(FIGURES.map((figure) => [figure, 0])) as Record<
    Figure,
    number
  >;
  for (const finding of findings.values()) counts[finding.figure]++;
  return {
    report: {
      runs,
      ...counts,
      seed: options.seed,
      seconds: Math.round((Date.now() - startedAt) / 1000),
    },
    findings: [...findings.values()],
  };
}

async function crashRun(
  cluster: Cluster,
  random: Random,
  run: number,
  options: CrashtestOptions,
  progress: Progress,
): Promise<Finding[]> {
  const scenarios = planRun(random, poolNow(cluster), run);
  const killAfterMs = random.int(0, options.maxKillMs);
  const ledger: RunLedger = { createsAnswered: [], done: [], lines: [] };
  let killed = false;
  const started = Date.now();
  const firing = fireScenarios(
    {
      client: cluster.client,
      nodeId: cluster.gpuId,
      images: cluster.images,
      killed: () => killed,
      started,
    },
    scenarios,
    ledger,
  );
  await new Promise((resolve) => setTimeout(resolve, killAfterMs));
  killed = true;
  await cluster.gpu.crash();
  await firing;
  const atKill = readRecords(cluster.serviceDb);
  const restartAt = Date.now();
  await restartGpu(cluster);
  const restartMs = Date.now() - restartAt;
  const check = async () => {
    const truth = await readGroundTruth({
      dbPath: cluster.serviceDb,
      domainPrefix: cluster.domainPrefix,
      vmDir: cluster.vmDir,
      dockerSocket: DOCKER_SOCKET,
      nodeId: cluster.gpuId,
      api: cluster.gpu.baseUrl,
      operatorToken: cluster.operatorToken,
    });
    const findings = checkInvariants({
      truth,
      atKill,
      createsAnswered: ledger.createsAnswered,
      eventsMissing: await missingEvents(cluster, ledger.done),
    });
    return { truth, findings };
  };
  let { truth, findings } = await check();
  if (findings.length > 0) {
    // What differs only while libvirt or the engine finish a step (a guest still powering off
    // after an ACPI stop cut short) is no finding: only what is still wrong a moment later is.
    await new Promise((resolve) => setTimeout(resolve, RECHECK_AFTER_MS));
    ({ truth, findings } = await check());
  }
  const live = (kind: "vms" | "containers") =>
    truth.records[kind].filter((record) => record.state !== "deleted").length;
  progress(
    `run ${run}/${options.runs}: ${
      scenarios.map((scenario) => scenario.name).join(" + ") || "idle"
    }; ` +
      `killed at ${killAfterMs} ms; restarted and repaired in ${restartMs} ms; ` +
      `${live("vms")} VMs, ${live("containers")} containers live; ` +
      `${findings.length === 0 ? "all invariants hold" : `${findings.length} finding(s)`}`,
  );
  for (const line of ledger.lines) progress(`    ${line}`);
  for (const finding of findings) progress(`    ${finding.figure}: ${finding.detail}`);
  return findings;
}

/** The node's instances as its database holds them now, for planning. */
function poolNow(cluster: Cluster): PoolInstance[] {
  const records = readRecords(cluster.serviceDb);
  const snapshots = (id: string) =>
    records.snapshots.filter((snapshot) => snapshot.vmId === id).map((snapshot) => snapshot.name);
  return [
    ...records.vms.map((vm) => ({
      id: vm.id,
      kind: "vm" as const,
      state: vm.state,
      snapshots: snapshots(vm.id),
      diskGib: vm.diskGib,
    })),
    ...records.containers.map((container) => ({
      id: container.id,
      kind: "container" as const,
      state: container.state,
      snapshots: [],
      diskGib: null,
    })),
  ];
}

/** The acknowledged operations that have no `ok` event in the node's log (operator API). */
async function missingEvents(
  cluster: Cluster,
  done: readonly Acknowledged[],
): Promise<Acknowledged[]> {
  const missing: Acknowledged[] = [];
  for (const acknowledged of done) {
    const query = new URLSearchParams({
      action: acknowledged.action,
      target: acknowledged.target,
      result: "ok",
      limit: "1",
    });
    const response = await fetch(`${cluster.gpu.baseUrl}/api/v1/operator/events?${query}`, {
      headers: { authorization: `Bearer ${cluster.operatorToken}` },
    });
    const answer = await response.json();
    if (answer.error_code !== 0) throw new Error(`operator events: ${answer.error_message}`);
    if (answer.data.events.length === 0) missing.push(acknowledged);
  }
  return missing;
}

/** Removes the domains, engine containers and scratch directory of this test. */
async function cleanUp(cluster: Cluster, keep: boolean, progress: Progress): Promise<void> {
  await removeDomains(cluster.domainPrefix).catch((error) =>
    progress(`cannot remove domains: ${error}`)
  );
  const engine = new DockerEngine(DOCKER_SOCKET);
  try {
    for (const container of await engine.listContainers([`dbc.node=${cluster.gpuId}`])) {
      await engine.removeContainer(container.id);
    }
  } catch (error) {
    progress(`cannot remove engine containers: ${error}`);
  } finally {
    engine.close();
  }
  if (keep) {
    progress(`kept ${cluster.dir}`);
    return;
  }
  await Deno.remove(cluster.dir, { recursive: true }).catch((error) =>
    progress(`cannot remove ${cluster.dir}: ${error}`)
  );
}
