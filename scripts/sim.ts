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
 *
 * `join_rounds`: exchange rounds from the first join until every node has its
 * target number of outbound links. `churn_join_rounds`: for each node that
 * joins during the churn, the rounds from its own start until it first has
 * its outbound target (checked every second), the slowest of them (null if
 * one never did); the median is `churn.join_rounds_median`.
 * `churn_forget_*_s`: the slowest departure of each kind during the churn,
 * from its moment until no live node lists it (links or address book).
 * `--churn 0` skips the churn phase.
 */
import { parseArgs } from "node:util";
import { DEFAULT_SIM_CONFIG, SimCluster, type SimNode } from "./sim/cluster.ts";
import { measureBroadcasts, scheduleBroadcasts } from "./sim/broadcasts.ts";
import { measureRequests } from "./sim/requests.ts";
import { countTraffic } from "./sim/traffic.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nodes: { type: "string", default: "1000" },
    seed: { type: "string", default: "1" },
    churn: { type: "string", default: "0.2" },
    broadcasts: { type: "string", default: "5" },
    crypto: { type: "string", default: "simulated" },
    /** New client-ends that each send a first and a next request to a GPU node (0: skip). */
    requests: { type: "string", default: "20" },
    /** Stop after the request phase (its figures only): the large sizes, where later phases are slow. */
    "requests-only": { type: "boolean", default: false },
    /**
     * Address-book tables smaller than the defaults (1,024 new, 256 tried): a smaller network
     * whose books hold the share of it that a 10,000-node one's do (1/8), in minutes, not hours.
     */
    "max-new": { type: "string" },
    "max-tried": { type: "string" },
    /** Stderr lines about departures still listed a minute after they happened: who lists them. */
    "trace-slow": { type: "boolean", default: false },
  },
});
const NODES = Number(values.nodes);
const CHURN = Number(values.churn);
const BROADCASTS = Number(values.broadcasts);
const ROUND_MS = DEFAULT_SIM_CONFIG.exchangeIntervalMs;
const SEEDS = 3;
/**
 * How long a departure is watched before it counts as not forgotten (null in the figures): the
 * goal is 3 rounds, and every round of virtual time at 10,000 nodes costs minutes of wall time.
 */
const FORGET_WAIT_ROUNDS = 10;
if (!Number.isInteger(NODES) || NODES < SEEDS + 2) {
  throw new Error("--nodes: an integer of at least 5");
}
if (values.crypto !== "simulated" && values.crypto !== "real") {
  throw new Error("--crypto: simulated or real");
}

const wallStarted = performance.now();
const log = (text: string) =>
  console.error(`[${((performance.now() - wallStarted) / 1000).toFixed(1)} s] ${text}`);
const bookSizes = {
  ...(values["max-new"] ? { maxNewEntries: Number(values["max-new"]) } : {}),
  ...(values["max-tried"] ? { maxTriedEntries: Number(values["max-tried"]) } : {}),
};
const cluster = new SimCluster({
  seed: Number(values.seed),
  crypto: values.crypto,
  config: bookSizes,
});
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
// Plumtree (network/broadcast/): full copies along a tree, ids on the other links.
const broadcasts = (count: number) => measureBroadcasts(cluster, { count, waitMs: ROUND_MS });
const steady = await broadcasts(BROADCASTS);
log(
  `broadcast: ${
    steady.coverage * 100
  }% of nodes reached, ${steady.payloadsPerNode} full copies per node (first ${steady.firstPayloadsPerNode}), ${steady.controlPerNode} ids/grafts/prunes per node, all reached in ${steady.fullCoverageMs} ms`,
);

// --- Requests to one node (issue #14; scripts/sim/requests.ts) --------------------------------
const REQUEST_SAMPLES = Number(values.requests);
const requests = REQUEST_SAMPLES > 0
  ? await measureRequests(cluster, {
    samples: REQUEST_SAMPLES,
    seeds: seedAddresses,
    settleMs: ROUND_MS,
    timeoutMs: 10_000,
  })
  : {};
log(`requests: ${JSON.stringify(requests)}`);
if (values["requests-only"]) {
  for (const node of cluster.nodes) node.peer.stop();
  console.log(JSON.stringify({
    nodes: NODES,
    seed: Number(values.seed),
    crypto: values.crypto,
    rounds_to_target: roundsToTarget,
    ...requests,
    wall_time_s: round((performance.now() - wallStarted) / 1000, 1),
  }));
  Deno.exit(0);
}

// --- Single departures ----------------------------------------------------------------------
async function forgetTime(how: "leave" | "crash" | "cut"): Promise<number | null> {
  const victim = pick(cluster.alive.filter((node) => !seeds.includes(node)));
  cluster[how](victim);
  const took = await clock.runUntil(
    () => cluster.forgotten(victim.id),
    500,
    FORGET_WAIT_ROUNDS * ROUND_MS,
  );
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
const churnWallStarted = performance.now();
const stopCounting = countTraffic(cluster);
/** Nodes that join during the churn -> when; and when each first had its outbound target. */
const joiners = new Map<SimNode, number>();
const joinerReached = new Map<SimNode, number>();
const JOIN_CHECK_MS = 1_000;
let watchingJoiners = true;
function watchJoiners(): void {
  for (const [node, at] of joiners) {
    if (joinerReached.has(node) || !node.alive) continue;
    if (node.peer.outboundCount >= DEFAULT_SIM_CONFIG.targetOutbound) {
      joinerReached.set(node, clock.now() - at);
    }
  }
  if (watchingJoiners) clock.setTimeout(watchJoiners, JOIN_CHECK_MS);
}
for (const [index, victim] of candidates.slice(0, churnCount).entries()) {
  clock.setTimeout(() => {
    departed.set(victim.id, clock.now());
    if (index % 2 === 0) cluster.leave(victim);
    else cluster.crash(victim);
  }, cluster.random() * churnWindow);
  clock.setTimeout(() => {
    joiners.set(cluster.add({ seeds: seedAddresses }), clock.now());
  }, cluster.random() * churnWindow);
}
watchJoiners();
const duringChurn = scheduleBroadcasts(cluster, { count: BROADCASTS, windowMs: churnWindow });
const forgottenAt = new Map<string, number>();
/**
 * How many departed nodes some live node still lists. Each is looked for until the first node
 * that lists it (most are found among the first few), so a check costs about one pass over the
 * nodes per departure forgotten since the last one, not one per departure and node.
 */
const stillListed = () => {
  const alive = cluster.alive;
  let listed = 0;
  for (const id of departed.keys()) {
    if (forgottenAt.has(id)) continue;
    if (alive.some((node) => node.peer.isLinked(id) || node.peer.book.get(id) !== undefined)) {
      listed++;
    } else forgottenAt.set(id, clock.now());
  }
  return listed;
};
/** Departures traced (--trace-slow): when they were last described. */
const traced = new Map<string, number>();
const TRACE_AFTER_MS = 60_000;
const MAX_TRACED = 12;
/** Describes, every round, who still lists a departure that a minute did not clear. */
function traceSlow(): void {
  const now = clock.now();
  for (const [id, at] of departed) {
    if (forgottenAt.has(id) || now - at < TRACE_AFTER_MS) continue;
    const last = traced.get(id);
    if (last === undefined && traced.size >= MAX_TRACED) continue;
    if (last !== undefined && now - last < ROUND_MS) continue;
    traced.set(id, now);
    const kind = candidates.findIndex((node) => node.id === id) % 2 === 0 ? "leave" : "crash";
    const holders = cluster.alive.flatMap((node) => {
      const entry = node.peer.book.get(id);
      const linked = node.peer.isLinked(id);
      return entry || linked ? [{ node, entry, linked }] : [];
    });
    const describe = holders.slice(0, 6).map(({ node, entry, linked }) => ({
      joined_in_churn: joiners.has(node),
      linked,
      tried: entry?.tried,
      seen_s_ago: entry ? round((now - entry.lastSeen) / 1000, 0) : null,
      failures: entry?.failures,
      reported: entry ? node.peer.reportedGone(id, entry.incarnation) : null,
      departure_known: node.peer.book.departure(id) !== undefined,
      retry_in_s: entry ? round(Math.max(0, entry.retryAt - now) / 1000, 0) : null,
      checks_skipped: node.peer.counters.departure_checks_skipped,
    }));
    log(
      `slow ${kind} ${id.slice(-6)} +${round((now - at) / 1000, 0)} s: ${holders.length} holders ${
        JSON.stringify(describe)
      }`,
    );
  }
}
// Checked every few seconds from the start, so each departure is timed from its own moment.
const CHECK_MS = 5_000;
const churnEnds = churnStarted + churnWindow;
let reconvergedAt: number | undefined;
const joinersWaiting = () => joiners.size - joinerReached.size;
while (
  clock.now() < churnEnds || stillListed() > 0 || reconvergedAt === undefined ||
  joinersWaiting() > 0
) {
  if (clock.now() > churnEnds + FORGET_WAIT_ROUNDS * ROUND_MS) break;
  await clock.runFor(CHECK_MS);
  stillListed();
  if (values["trace-slow"]) traceSlow();
  if (clock.now() >= churnEnds && reconvergedAt === undefined && cluster.converged()) {
    reconvergedAt = clock.now();
  }
}
watchingJoiners = false;
const traffic = stopCounting();
const churnWallS = round((performance.now() - churnWallStarted) / 1000, 1);
const joinTimes = [...joinerReached.values()].sort((a, b) => a - b);
/** Rounds from a churn joiner's start until it had its outbound target: the slowest, the median. */
const churnJoin = {
  max: joinersWaiting() > 0 || joinTimes.length === 0 ? null : round(joinTimes.at(-1)! / ROUND_MS),
  median: joinTimes.length ? round(joinTimes[joinTimes.length >> 1]! / ROUND_MS) : null,
};
/** The slowest departure of each kind (even: left, odd: crashed), null if one was never forgotten. */
const churnForget = churnCount > 0
  ? { leave: 0 as number | null, crash: 0 as number | null }
  : { leave: null, crash: null }; // No churn: nothing to time.
for (const [index, victim] of candidates.slice(0, churnCount).entries()) {
  const at = departed.get(victim.id);
  const kind = index % 2 === 0 ? "leave" : "crash";
  const took = at === undefined ? Infinity : (forgottenAt.get(victim.id) ?? Infinity) - at;
  const worst = churnForget[kind];
  churnForget[kind] = worst === null || !Number.isFinite(took)
    ? null
    : Math.max(worst, Math.round(took));
}
const seconds = (ms: number | null) => ms === null ? null : round(ms / 1000, 1);
const forgetTimes = [...departed]
  .map(([id, at]) => Math.round((forgottenAt.get(id) ?? Infinity) - at))
  .sort((a, b) => a - b);
// The last of them may have started a moment ago: give it the time the others had.
await clock.runFor(ROUND_MS);
const churnedDuring = duringChurn.figures();
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
  /** Nodes that joined during the churn and reached their outbound target (see churn_join_rounds). */
  joiners_at_target: joinerReached.size,
  join_rounds_median: churnJoin.median,
  /** From the end of the churn window (0 when no node was below its target then). */
  rounds_to_target_after: reconvergedAt === undefined
    ? null
    : round((reconvergedAt - churnEnds) / ROUND_MS),
  /** Broadcasts sent while nodes left and joined. */
  during_broadcast_coverage: churnedDuring.coverage,
  during_broadcast_payloads_per_node: churnedDuring.payloadsPerNode,
  /** Broadcasts sent after the churn, when the network had settled. */
  broadcast_coverage: churned.coverage,
  broadcast_messages_per_node: churned.payloadsPerNode,
  /** Wall time of the churn phase (until every departure was forgotten), and what was sent in it. */
  wall_s: churnWallS,
  traffic,
};
log(`churn ${CHURN * 100}%: ${JSON.stringify(churn)}`);
for (const node of cluster.nodes) node.peer.stop();

/** Memory at the end: the process's, and the live heap after a full collection where one can be asked for (`--v8-flags=--expose-gc`). */
function memory(): { rss_mib: number; heap_live_mib?: number } {
  const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
  const rss = mib(Deno.memoryUsage().rss);
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return { rss_mib: rss };
  gc();
  return { rss_mib: rss, heap_live_mib: mib(Deno.memoryUsage().heapUsed) };
}

const figures = {
  nodes: NODES,
  seed: Number(values.seed),
  crypto: values.crypto,
  exchange_interval_ms: ROUND_MS,
  target_outbound: DEFAULT_SIM_CONFIG.targetOutbound,
  max_inbound: DEFAULT_SIM_CONFIG.maxInbound,
  rounds_to_target: roundsToTarget,
  broadcast_coverage: steady.coverage,
  broadcast_messages_per_node: steady.payloadsPerNode,
  // Issue #15's names: Plumtree's full copies and its control messages per node and broadcast.
  join_rounds: roundsToTarget,
  broadcast_payloads_per_node: steady.payloadsPerNode,
  broadcast_first_payloads_per_node: steady.firstPayloadsPerNode,
  broadcast_control_per_node: steady.controlPerNode,
  broadcast_full_coverage_ms: steady.fullCoverageMs,
  forget_leave_s: seconds(forgotten.leave_ms),
  forget_crash_s: seconds(forgotten.crash_ms),
  forget_cut_s: seconds(forgotten.cut_ms),
  churn_broadcast_coverage: Math.min(churnedDuring.coverage, churned.coverage),
  churn_broadcast_payloads_per_node: Math.max(
    churnedDuring.payloadsPerNode,
    churned.payloadsPerNode,
  ),
  churn_join_rounds: churnJoin.max,
  churn_forget_leave_s: seconds(churnForget.leave),
  churn_forget_crash_s: seconds(churnForget.crash),
  ...requests,
  forgotten_after_leave_ms: forgotten.leave_ms,
  forgotten_after_crash_ms: forgotten.crash_ms,
  forgotten_after_cut_ms: forgotten.cut_ms,
  churn,
  virtual_time_s: round((clock.now() - joinStarted) / 1000, 0),
  timers_fired: clock.firedTimers,
  wall_time_s: round((performance.now() - wallStarted) / 1000, 1),
  ...memory(),
};
console.log(
  `nodes ${NODES}: target reached after ${roundsToTarget} rounds; broadcast coverage ${steady.coverage}, ${steady.payloadsPerNode} full copies per node`,
);
console.log(JSON.stringify(figures));
