/**
 * What one crash run fires, chosen at random from what the node holds now
 * (pure: a seeded generator and the instances in, scenarios out, so a run is
 * replayed from its seed). A scenario is a sequence of renter operations on
 * one instance, each sent when the one before it has answered; a run fires
 * one or two scenarios at once, on different instances, and the node is
 * killed somewhere inside them.
 */
import { Random } from "../seeded_random.ts";

export { Random };

/** What the planner knows of an instance: the node's record after the last restart. */
export type PoolInstance = {
  id: string;
  kind: "vm" | "container";
  state: string;
  /** The VM's snapshot records (none for a container). */
  snapshots: string[];
  /** The VM's disk size on record, GiB; null: the image's own. */
  diskGib: number | null;
};

export type Step =
  | { op: "vm.create"; gpus: number }
  | { op: "vm.start" | "vm.restart" | "vm.reset" | "vm.delete"; id: string }
  | { op: "vm.stop"; id: string; force: boolean }
  | { op: "vm.snapshot_create"; id: string; name: string }
  | { op: "vm.snapshot_delete" | "vm.snapshot_restore"; id: string; name: string }
  | { op: "vm.modify"; id: string; cpuCores: number; memGib: number; diskGib?: number }
  | { op: "container.create"; gpus: number }
  | {
    op: "container.start" | "container.stop" | "container.restart" | "container.delete";
    id: string;
  }
  /** The instance the scenario's create made: steps after it act on that one. */
  | { op: "then"; steps: (id: string) => Step[] };

export type Scenario = { name: string; steps: Step[] };

/** Bounds that keep the machine's load and the test's disk small. */
export const POOL_LIMITS = { vms: 3, containers: 3, snapshotsPerVm: 3, diskGib: 3 } as const;
/** A create asks for the (fake) GPU this often, so allocations are made and must be given back. */
const GPU_SHARE = 0.2;
/** Most stops are forced: an ACPI stop of a guest still booting waits out the node's time-out. */
const FORCED_STOP_SHARE = 0.8;
const SECOND_SCENARIO_SHARE = 0.35;

type Candidate = { weight: number; make: () => Scenario };

/** One or two scenarios on distinct instances, for run `run`. */
export function planRun(random: Random, pool: readonly PoolInstance[], run: number): Scenario[] {
  const first = pickScenario(random, pool, run, new Set());
  if (!first || !random.chance(SECOND_SCENARIO_SHARE)) return first ? [first.scenario] : [];
  const second = pickScenario(random, pool, run, new Set(first.touches));
  return second ? [first.scenario, second.scenario] : [first.scenario];
}

function pickScenario(
  random: Random,
  pool: readonly PoolInstance[],
  run: number,
  taken: ReadonlySet<string>,
): { scenario: Scenario; touches: string[] } | undefined {
  const free = pool.filter((instance) => !taken.has(instance.id) && instance.state !== "deleted");
  const vms = free.filter((instance) => instance.kind === "vm");
  const containers = free.filter((instance) => instance.kind === "container");
  const liveVms = pool.filter((instance) => instance.kind === "vm" && instance.state !== "deleted");
  const liveContainers = pool.filter((instance) =>
    instance.kind === "container" && instance.state !== "deleted"
  );
  const candidates: (Candidate & { touches: string[] })[] = [];
  const add = (weight: number, touches: string[], make: () => Scenario) =>
    candidates.push({ weight, touches, make });

  const gpus = () => (random.chance(GPU_SHARE) ? 1 : 0);
  if (liveVms.length < POOL_LIMITS.vms && !taken.has("new-vm")) {
    add(liveVms.length === 0 ? 6 : 2, ["new-vm"], () => ({
      name: "vm create",
      steps: [{ op: "vm.create", gpus: gpus() }],
    }));
    add(1, ["new-vm"], () => ({
      name: "vm create, stop, delete",
      steps: [{ op: "vm.create", gpus: 0 }, {
        op: "then",
        steps: (id) => [{ op: "vm.stop", id, force: true }, { op: "vm.delete", id }],
      }],
    }));
  }
  if (liveContainers.length < POOL_LIMITS.containers && !taken.has("new-container")) {
    add(liveContainers.length === 0 ? 4 : 2, ["new-container"], () => ({
      name: "container create",
      steps: [{ op: "container.create", gpus: gpus() }],
    }));
  }
  for (const vm of vms) {
    const id = vm.id;
    if (vm.state === "failed" || vm.state === "expired") {
      add(4, [id], () => ({ name: "vm delete", steps: [{ op: "vm.delete", id }] }));
      continue;
    }
    if (vm.state !== "running" && vm.state !== "stopped") continue;
    const stop = (): Step => ({ op: "vm.stop", id, force: random.chance(FORCED_STOP_SHARE) });
    add(1, [id], () => ({ name: "vm delete", steps: [{ op: "vm.delete", id }] }));
    add(1, [id], () => ({
      name: "vm power",
      steps: [
        random.pick<Step>([stop(), { op: "vm.start", id }, { op: "vm.restart", id }, {
          op: "vm.reset",
          id,
        }]),
      ],
    }));
    add(2, [id], () => {
      const steps: Step[] = [stop()];
      if (vm.snapshots.length < POOL_LIMITS.snapshotsPerVm) {
        steps.push({ op: "vm.snapshot_create", id, name: `r${run}` });
      }
      const grow = (vm.diskGib ?? 1) < POOL_LIMITS.diskGib && random.chance(0.5);
      steps.push({
        op: "vm.modify",
        id,
        cpuCores: random.int(1, 2),
        memGib: random.pick([0.25, 0.375]),
        ...(grow ? { diskGib: (vm.diskGib ?? 1) + 1 } : {}),
      });
      steps.push({ op: "vm.start", id });
      return { name: "vm stop, snapshot, modify, start", steps };
    });
    if (vm.snapshots.length > 0) {
      add(2, [id], () => {
        const name = random.pick(vm.snapshots);
        return {
          name: "vm stop, snapshot restore or delete, start",
          steps: [
            stop(),
            random.chance(0.5)
              ? { op: "vm.snapshot_restore", id, name }
              : { op: "vm.snapshot_delete", id, name },
            { op: "vm.start", id },
          ],
        };
      });
    }
  }
  for (const container of containers) {
    const id = container.id;
    if (container.state === "failed" || container.state === "expired") {
      add(4, [id], () => ({ name: "container delete", steps: [{ op: "container.delete", id }] }));
      continue;
    }
    if (container.state !== "running" && container.state !== "stopped") continue;
    add(1, [id], () => ({
      name: "container delete",
      steps: [{ op: "container.delete", id }],
    }));
    add(2, [id], () => ({
      name: "container stop, start, restart",
      steps: [{ op: "container.stop", id }, { op: "container.start", id }, {
        op: "container.restart",
        id,
      }],
    }));
  }
  if (candidates.length === 0) return undefined;
  const total = candidates.reduce((sum, candidate) => sum + candidate.weight, 0);
  let at = random.next() * total;
  for (const candidate of candidates) {
    at -= candidate.weight;
    if (at < 0) return { scenario: candidate.make(), touches: candidate.touches };
  }
  const last = candidates.at(-1)!;
  return { scenario: last.make(), touches: last.touches };
}
