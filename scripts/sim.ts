/**
 * The network simulation: the node's own protocol code (network/peer_node.ts)
 * for thousands of nodes in one process, over in-memory links with 10-80 ms
 * latency, on a virtual clock, with the default configuration (8 outbound
 * links, 32 inbound, exchange every 30 s, ping every 15 s).
 *
 *   deno task sim --nodes 1000 [--seed 1] [--churn 0.2] [--broadcasts 5] [--crypto simulated|real]
 *
 * Phases: everyone joins through three seeds within the first 30 s; broadcasts
 * from random nodes; one graceful leave, one crash and one cable cut; then
 * churn (a share of the nodes leave or crash over ten exchange rounds while as
 * many new ones join) and the same measurements again. Progress goes to
 * stderr; stdout ends with one JSON object of the figures.
 */
import { parseArgs } from "node:util";
import { DEFAULT_SIM_CONFIG, SimCluster, type SimNode } from "./sim/cluster.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nodes: { type: "string", default: "1000" },
    seed: { type: "string", default: "1" },
    churn: { type: "string", default: "0.2" },
    broadcasts: { type: "string", default: "5" },
    crypto: { type: "string", default: "simulated" },
  },
});
const NODES = Number(values.nodes);
const CHURN = Number(values.churn);
const BROADCASTS = Number(values.broadcasts);
const ROUND_MS = DEFAULT_SIM_CONFIG.exchangeIntervalMs;
const SEEDS = 3;
if (!Number.isInteger(NODES) || NODES < SEEDS + 2) {
  throw new Error("--nodes: an integer of at least 5");
}
if (values.crypto !== "simulated" && values.crypto !== "real") {
  throw new Error("--crypto: simulated or real");
}

const wallStarted = performance.now();
const log = (text: string) =>
  console.error(`[${((performance.now() - wallStarted) / 1000).toFixed(1)} s] ${text}`);
const cluster = new SimCluster({ seed: Number(values.seed), crypto: values.crypto });
const { clock } = cluster;
const pick = <T>(items: readonly T[]) => items[Math.floor(cluster.random() * items.length)]!;
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

// --- Join -----------------------------------------------------------------------------------
const seeds: SimNode[] = [];
for (let index = 0; index < SEEDS; index++) {
  seeds.push(cluster.add({ role: "seed", seeds: seeds.map((seed) => seed.address) }));
}
const seedAddresses = seeds.map((seed) => seed.address);
const joinStarted = clock.now();
for (let index = SEEDS; index < NODES; index++) {
  clock.setTimeout(() => cluster.add({ seeds: seedAddresses }), cluster.random() * 30_000);
}
await clock.runFor(30_000);
const joinMs = await clock.runUntil(() => cluster.converged(), 1_000, 60 * ROUND_MS);
const roundsToTarget = joinMs === undefined ? null : round((clock.now() - joinStarted) / ROUND_MS);
log(`${NODES} nodes joined; every node at its outbound target after ${roundsToTarget} rounds`);

// --- Broadcast ------------------------------------------------------------------------------
async function broadcasts(count: number) {
  const coverage: number[] = [];
  const perNode: number[] = [];
  for (let index = 0; index < count; index++) {
    const alive = cluster.alive;
    const relayedBefore = alive.reduce(
      (sum, node) => sum + node.peer.counters.broadcasts_relayed,
      0,
    );
    const origin = pick(alive);
    const { nonce } = await origin.peer.broadcast("sim.broadcast", { index });
    await clock.runFor(ROUND_MS);
    const reached = alive.filter((node) =>
      node === origin || node.deliveries.get(nonce) === 1
    ).length;
    const relayed = alive.reduce((sum, node) => sum + node.peer.counters.broadcasts_relayed, 0) -
      relayedBefore;
    coverage.push(reached / alive.length);
    perNode.push(relayed / alive.length);
  }
  const mean = (list: number[]) => list.reduce((sum, value) => sum + value, 0) / list.length;
  return { coverage: round(mean(coverage), 4), messagesPerNode: round(mean(perNode)) };
}
const steady = await broadcasts(BROADCASTS);
log(
  `broadcast: ${
    steady.coverage * 100
  }% of nodes reached, ${steady.messagesPerNode} messages per node`,
);

// --- Single departures ----------------------------------------------------------------------
async function forgetTime(how: "leave" | "crash" | "cut"): Promise<number | null> {
  const victim = pick(cluster.alive.filter((node) => !seeds.includes(node)));
  cluster[how](victim);
  const took = await clock.runUntil(() => cluster.forgotten(victim.id), 500, 40 * ROUND_MS);
  return took === undefined ? null : Math.round(took);
}
const forgotten = {
  leave_ms: await forgetTime("leave"),
  crash_ms: await forgetTime("crash"),
  cut_ms: await forgetTime("cut"),
};
log(
  `forgotten by all: leave ${forgotten.leave_ms} ms, crash ${forgotten.crash_ms} ms, cut ${forgotten.cut_ms} ms`,
);

// --- Churn ----------------------------------------------------------------------------------
const churnCount = Math.round(NODES * CHURN);
const churnWindow = 10 * ROUND_MS;
const departed = new Map<string, number>();
const candidates = cluster.alive.filter((node) => !seeds.includes(node));
for (let index = candidates.length - 1; index > 0; index--) {
  const other = Math.floor(cluster.random() * (index + 1));
  [candidates[index], candidates[other]] = [candidates[other]!, candidates[index]!];
}
const churnStarted = clock.now();
for (const [index, victim] of candidates.slice(0, churnCount).entries()) {
  clock.setTimeout(() => {
    departed.set(victim.id, clock.now());
    if (index % 2 === 0) cluster.leave(victim);
    else cluster.crash(victim);
  }, cluster.random() * churnWindow);
  clock.setTimeout(() => cluster.add({ seeds: seedAddresses }), cluster.random() * churnWindow);
}
const forgottenAt = new Map<string, number>();
const stillListed = () => {
  const pending = new Set([...departed.keys()].filter((id) => !forgottenAt.has(id)));
  const listed = new Set<string>();
  for (const node of cluster.alive) {
    for (const id of pending) {
      if (!listed.has(id) && (node.peer.isLinked(id) || node.peer.book.get(id))) listed.add(id);
    }
  }
  for (const id of pending) if (!listed.has(id)) forgottenAt.set(id, clock.now());
  return listed.size;
};
// Checked every few seconds from the start, so each departure is timed from its own moment.
const CHECK_MS = 5_000;
const churnEnds = churnStarted + churnWindow;
let reconvergedAt: number | undefined;
while (clock.now() < churnEnds || stillListed() > 0 || reconvergedAt === undefined) {
  if (clock.now() > churnEnds + 60 * ROUND_MS) break;
  await clock.runFor(CHECK_MS);
  stillListed();
  if (clock.now() >= churnEnds && reconvergedAt === undefined && cluster.converged()) {
    reconvergedAt = clock.now();
  }
}
const forgetTimes = [...departed]
  .map(([id, at]) => Math.round((forgottenAt.get(id) ?? Infinity) - at))
  .sort((a, b) => a - b);
const churned = await broadcasts(BROADCASTS);
const churn = {
  share: CHURN,
  departed: departed.size,
  joined: churnCount,
  forgotten_median_ms: forgetTimes.length ? forgetTimes[forgetTimes.length >> 1]! : null,
  forgotten_max_ms: forgetTimes.length && Number.isFinite(forgetTimes.at(-1)!)
    ? forgetTimes.at(-1)!
    : null,
  not_forgotten: forgetTimes.filter((time) => !Number.isFinite(time)).length,
  /** From the end of the churn window (0 when no node was below its target then). */
  rounds_to_target_after: reconvergedAt === undefined
    ? null
    : round((reconvergedAt - churnEnds) / ROUND_MS),
  broadcast_coverage: churned.coverage,
  broadcast_messages_per_node: churned.messagesPerNode,
};
log(`churn ${CHURN * 100}%: ${JSON.stringify(churn)}`);
for (const node of cluster.nodes) node.peer.stop();

const figures = {
  nodes: NODES,
  seed: Number(values.seed),
  crypto: values.crypto,
  exchange_interval_ms: ROUND_MS,
  target_outbound: DEFAULT_SIM_CONFIG.targetOutbound,
  max_inbound: DEFAULT_SIM_CONFIG.maxInbound,
  rounds_to_target: roundsToTarget,
  broadcast_coverage: steady.coverage,
  broadcast_messages_per_node: steady.messagesPerNode,
  forgotten_after_leave_ms: forgotten.leave_ms,
  forgotten_after_crash_ms: forgotten.crash_ms,
  forgotten_after_cut_ms: forgotten.cut_ms,
  churn,
  virtual_time_s: round((clock.now() - joinStarted) / 1000, 0),
  timers_fired: clock.firedTimers,
  wall_time_s: round((performance.now() - wallStarted) / 1000, 1),
};
console.log(
  `nodes ${NODES}: target reached after ${roundsToTarget} rounds; broadcast coverage ${steady.coverage}, ${steady.messagesPerNode} messages per node`,
);
console.log(JSON.stringify(figures));
