/**
 * What a chaos run does, decided before it starts (pure: a seed and the
 * options in, a layout and a kill schedule out, so the same seed makes the
 * same choices; when each answer arrives is the machine's business).
 *
 * The network: one seed (the ledger authority, never killed: without it no
 * rental could be made or checked, and the run would measure nothing but
 * that), about half the rest GPU nodes, the others client-ends. The kills:
 * the chaos phase is cut into rounds of about a minute; each round picks a
 * fresh `killFraction` of the non-seed nodes (always leaving a client-end
 * up, so renters have a way in), kills each at a random moment of the round
 * and starts it again after a random pause. Near the end a few nodes are
 * killed for good: how long the survivors take to forget them is measured.
 */
import { Random } from "../seeded_random.ts";

export { Random };

export type Role = "seed" | "gpu" | "client";

export type ChaosOptions = {
  nodes: number;
  /** Length of the chaos phase (renters operating, nodes killed), minutes. */
  minutes: number;
  /** Share of the non-seed nodes killed (and started again) in each round. */
  killFraction: number;
  seed: number;
};

export const DEFAULT_OPTIONS: Omit<ChaosOptions, "seed"> = {
  nodes: 20,
  minutes: 3,
  killFraction: 0.3,
};

/** A seed, a GPU node and a client-end, and one more to kill. */
export const MIN_NODES = 4;
/** Every node is a process of ~300 MB; more than this does not fit a small machine. */
export const MAX_NODES = 60;
/** Rounds of about this long: each kills a fresh share of the nodes. */
export const ROUND_MS = 60_000;
/** Rounds end this far into the phase; the rest is for the kills for good and their forgetting. */
export const ROUNDS_END_SHARE = 0.7;
/** The kills for good come this far into the phase. */
export const FOR_GOOD_AT_SHARE = 0.8;
/** A killed node stays down this long before it is started again. */
export const DOWNTIME_MS = { min: 2_000, max: 15_000 } as const;

export type NodePlan = { name: string; role: Role };

export type Kill = {
  /** Milliseconds into the chaos phase. */
  atMs: number;
  node: string;
  /** How long it stays down before it is started again. */
  downMs: number;
};

export type ChaosPlan = {
  layout: NodePlan[];
  kills: Kill[];
  /** Killed at {@link ChaosPlan.forGoodAtMs} and not started again until the audit. */
  forGood: string[];
  forGoodAtMs: number;
  phaseMs: number;
};

/** Why `options` cannot make a run; undefined when they can. */
export function invalidOptions(options: ChaosOptions): string | undefined {
  if (!Number.isInteger(options.nodes) || options.nodes < MIN_NODES || options.nodes > MAX_NODES) {
    return `--nodes: expected an integer from ${MIN_NODES} to ${MAX_NODES}, got ${options.nodes}`;
  }
  if (!(options.minutes > 0 && options.minutes <= 120)) {
    return `--minutes: expected a number above 0, at most 120, got ${options.minutes}`;
  }
  if (!(options.killFraction > 0 && options.killFraction < 1)) {
    return `--kill-fraction: expected a number between 0 and 1, got ${options.killFraction}`;
  }
  if (!Number.isSafeInteger(options.seed) || options.seed < 0) {
    return `--seed: expected a non-negative integer, got ${options.seed}`;
  }
  return undefined;
}

/** The roles: one seed, then GPU nodes and client-ends alternating (GPU nodes first). */
export function chaosLayout(nodes: number): NodePlan[] {
  const layout: NodePlan[] = [{ name: "seed", role: "seed" }];
  let gpus = 0;
  let clients = 0;
  for (let index = 1; index < nodes; index++) {
    if (index % 2 === 1) layout.push({ name: `gpu-${++gpus}`, role: "gpu" });
    else layout.push({ name: `client-${++clients}`, role: "client" });
  }
  return layout;
}

/** How many of `count` nodes a share stands for: at least one. */
function share(count: number, fraction: number): number {
  return Math.max(1, Math.round(count * fraction));
}

/** Picks `count` of the non-seed nodes, never every client-end (renters need one way in). */
function victims(random: Random, layout: NodePlan[], count: number): string[] {
  const clientsLeft = layout.filter((node) => node.role === "client").length;
  const chosen: string[] = [];
  let clientsChosen = 0;
  for (const node of random.sample(layout.filter((node) => node.role !== "seed"), layout.length)) {
    if (chosen.length === count) break;
    if (node.role === "client" && clientsChosen + 1 >= clientsLeft) continue;
    if (node.role === "client") clientsChosen++;
    chosen.push(node.name);
  }
  return chosen;
}

/** The whole run's choices. */
export function chaosPlan(options: ChaosOptions): ChaosPlan {
  const problem = invalidOptions(options);
  if (problem) throw new RangeError(problem);
  const random = new Random(options.seed);
  const layout = chaosLayout(options.nodes);
  const phaseMs = Math.round(options.minutes * 60_000);
  const roundsEndMs = phaseMs * ROUNDS_END_SHARE;
  const rounds = Math.max(1, Math.round(roundsEndMs / ROUND_MS));
  const roundMs = roundsEndMs / rounds;
  const nonSeed = layout.length - 1;
  const kills: Kill[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const node of victims(random, layout, share(nonSeed, options.killFraction))) {
      const downMs = random.int(DOWNTIME_MS.min, DOWNTIME_MS.max);
      // Down and back within the round, so a node's kills never overlap.
      const latest = Math.max(0, roundMs - downMs);
      kills.push({ atMs: Math.round(round * roundMs + random.next() * latest), node, downMs });
    }
  }
  kills.sort((a, b) => a.atMs - b.atMs);
  // A few for good: enough to see forgetting spread, few enough to leave a network.
  const forGood = victims(random, layout, Math.min(2, Math.max(1, Math.floor(nonSeed / 4))));
  return { layout, kills, forGood, forGoodAtMs: Math.round(phaseMs * FOR_GOOD_AT_SHARE), phaseMs };
}
