/**
 * The simulation's broadcast figures: how many live nodes a broadcast reaches, and what it
 * costs, in full copies (`bcast`, the payload) and in the lazy push's small control messages
 * (`ihave`, `graft`, `prune`), per live node. Broadcasts go one at a time (each given
 * `waitMs`), or during churn, started at random moments while nodes come and go.
 */
import type { SimCluster, SimNode } from "./cluster.ts";

export type BroadcastFigures = {
  /** Mean share of the nodes alive from start to end of each broadcast that got it exactly once. */
  coverage: number;
  /** Mean full copies sent per live node per broadcast (relays, repairs, the origin's own). */
  payloadsPerNode: number;
  /** The first broadcast's copies per node (new links carry it before the tree is pruned). */
  firstPayloadsPerNode: number;
  /** Mean `ihave` + `graft` + `prune` messages per live node per broadcast. */
  controlPerNode: number;
  /** Median ms until every node that stayed had it (null if some never did). */
  fullCoverageMs: number | null;
};

type Sample = { coverage: number; payloads: number; control: number; fullMs: number | null };

const CONTROL_KINDS = ["ihave", "graft", "prune"] as const;

function payloadsSent(nodes: readonly SimNode[]): number {
  return nodes.reduce((sum, node) => sum + node.peer.messageCounts.sent.bcast, 0);
}

function controlSent(nodes: readonly SimNode[]): number {
  return nodes.reduce(
    (sum, node) =>
      sum + CONTROL_KINDS.reduce((inner, kind) => inner + node.peer.messageCounts.sent[kind], 0),
    0,
  );
}

type Started = { origin: SimNode; nonce: string; startedAt: number; aliveAtStart: Set<SimNode> };

/** Starts one broadcast from `origin`, noting who was alive then. */
async function start(cluster: SimCluster, origin: SimNode, index: number): Promise<Started> {
  const aliveAtStart = new Set(cluster.alive);
  const { nonce } = await origin.peer.broadcast("sim.broadcast", { index });
  return { origin, nonce, startedAt: cluster.clock.now(), aliveAtStart };
}

/**
 * A random live node with a neighbour: one that has none yet (it joined a moment ago) reaches
 * nobody, whatever the protocol, and its announcer tries again once it has (sent_to 0).
 */
function pickOrigin(cluster: SimCluster): SimNode {
  const linked = cluster.alive.filter((node) => node.peer.neighbourIds().length > 0);
  return linked[Math.floor(cluster.random() * linked.length)]!;
}

function reachedShare(
  nonce: string,
  origin: SimNode,
  aliveAtStart: Set<SimNode>,
): { share: number; complete: boolean } {
  const stayed = [...aliveAtStart].filter((node) => node.alive);
  const reached = stayed.filter((node) => node === origin || node.deliveries.get(nonce) === 1);
  return { share: reached.length / stayed.length, complete: reached.length === stayed.length };
}

/** `count` broadcasts from random live nodes, one after the other, `waitMs` each. */
export async function measureBroadcasts(
  cluster: SimCluster,
  options: { count: number; waitMs: number; checkMs?: number },
): Promise<BroadcastFigures> {
  const samples: Sample[] = [];
  const checkMs = options.checkMs ?? 50;
  for (let index = 0; index < options.count; index++) {
    const alive = cluster.alive;
    const payloadsBefore = payloadsSent(cluster.nodes);
    const controlBefore = controlSent(cluster.nodes);
    const origin = pickOrigin(cluster);
    const { nonce, startedAt, aliveAtStart } = await start(cluster, origin, index);
    const tookMs = await cluster.clock.runUntil(
      () => reachedShare(nonce, origin, aliveAtStart).complete,
      checkMs,
      options.waitMs,
    );
    const remaining = startedAt + options.waitMs - cluster.clock.now();
    if (remaining > 0) await cluster.clock.runFor(remaining);
    samples.push({
      coverage: reachedShare(nonce, origin, aliveAtStart).share,
      payloads: (payloadsSent(cluster.nodes) - payloadsBefore) / alive.length,
      control: (controlSent(cluster.nodes) - controlBefore) / alive.length,
      fullMs: tookMs === undefined ? null : Math.round(tookMs),
    });
  }
  return summarise(samples);
}

/**
 * Schedules `count` broadcasts at random moments within the next `windowMs` (while nodes leave
 * and join, say); the caller runs the clock (to the end of the window and a while longer: a
 * broadcast needs time to arrive), then reads the figures. Coverage counts the nodes
 * alive from a broadcast's start until the figures are read; the cost is every copy sent since
 * scheduling, per broadcast and mean live node.
 */
export function scheduleBroadcasts(
  cluster: SimCluster,
  options: { count: number; windowMs: number },
): { figures(): BroadcastFigures } {
  const started: Started[] = [];
  const payloadsBefore = payloadsSent(cluster.nodes);
  const controlBefore = controlSent(cluster.nodes);
  let aliveSum = 0;
  for (let index = 0; index < options.count; index++) {
    cluster.clock.setTimeout(() => {
      const alive = cluster.alive;
      aliveSum += alive.length;
      const origin = pickOrigin(cluster);
      void start(cluster, origin, index).then((one) => started.push(one));
    }, cluster.random() * options.windowMs);
  }
  return {
    figures() {
      const perNode = (total: number) =>
        started.length === 0 ? 0 : total / started.length / (aliveSum / started.length);
      const payloads = perNode(payloadsSent(cluster.nodes) - payloadsBefore);
      const control = perNode(controlSent(cluster.nodes) - controlBefore);
      return summarise(started.map((one) => ({
        coverage: reachedShare(one.nonce, one.origin, one.aliveAtStart).share,
        payloads,
        control,
        fullMs: null,
      })));
    },
  };
}

function summarise(samples: Sample[]): BroadcastFigures {
  const mean = (list: number[]) =>
    list.length === 0 ? 0 : list.reduce((sum, value) => sum + value, 0) / list.length;
  const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;
  const times = samples.map((sample) => sample.fullMs);
  const complete = times.every((time) => time !== null)
    ? (times as number[]).sort((a, b) => a - b)
    : undefined;
  return {
    coverage: round(mean(samples.map((sample) => sample.coverage)), 4),
    payloadsPerNode: round(mean(samples.map((sample) => sample.payloads)), 2),
    firstPayloadsPerNode: round(samples[0]?.payloads ?? 0, 2),
    controlPerNode: round(mean(samples.map((sample) => sample.control)), 2),
    fullCoverageMs: complete && complete.length > 0 ? complete[complete.length >> 1]! : null,
  };
}
