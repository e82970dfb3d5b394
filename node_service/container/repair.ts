/**
 * Start-up repair of containers: a node killed half-way through an operation
 * leaves its records behind or ahead of the engine, and the next start sets
 * them right, as VMs' reconciliation does with libvirt (vm/reconcile.ts).
 * The record is the truth about what was rented; the engine about what runs.
 *
 * - a record still `creating` is a create the kill cut short (the renter never
 *   heard it succeed): what it had made in the engine (the container, its
 *   volume) is removed, its GPUs and host ports given back, and it is marked
 *   `failed` with the reason, as a failed create is;
 * - a record that claims an engine container (`running`, `stopped`,
 *   `expired`) whose container is gone (a delete cut short after the engine
 *   removed it, or someone else removed it) is marked `failed`, keeping its
 *   GPUs and ports until it is deleted, as a VM whose domain vanished;
 * - a record whose container runs while it says stopped, or the reverse (a
 *   start or stop cut short after the engine acted), takes the engine's state;
 * - an engine container labelled with this node's id that no live record
 *   owns is reported, not removed (the record is written first, so no crash
 *   of this node leaves one; it may be someone's). A node with no live
 *   record has nothing to set right and does not ask its engine.
 *
 * What differs is worked out by {@link planContainerRepairs} (pure); the
 * rest applies it, each container in its own queue, and logs every finding.
 * The engine goes on with what the dead node asked of it (a restart stops,
 * then starts the container again): when anything differs, it is judged
 * again once that has had time to end.
 */
import type { InstanceState, Logger } from "../../mod/mod.ts";
import type { EventLog } from "../event_log.ts";
import type { GpuAllocator } from "../gpu/mod.ts";
import type { ContainerEngine, ContainerListing } from "./engine.ts";
import type { ContainerRecord, ContainerStore } from "./store.ts";

/** Engine states in which a container counts as running (as a container's detail reads them). */
const RUNNING_STATUSES = new Set(["running", "restarting", "paused"]);

export type ContainerRepair =
  /** A create cut short: its engine objects removed, GPUs and ports given back, marked failed. */
  | { kind: "interrupted"; id: string; container: string | null }
  /** The record's engine container is gone: marked failed. */
  | { kind: "vanished"; id: string; from: InstanceState }
  /** The engine container runs (or not) other than the record says: the record follows. */
  | { kind: "state_changed"; id: string; from: InstanceState; to: InstanceState; status: string }
  /** An engine container with this node's label that no live record owns: reported only. */
  | { kind: "appeared"; container: string; instance: string | null; status: string };

export type ContainerRepairRecord = Pick<ContainerRecord, "id" | "name" | "engineId" | "state">;

/** What start-up repair does for `records` (live ones) given the engine's containers. */
export function planContainerRepairs(
  records: readonly ContainerRepairRecord[],
  engine: readonly ContainerListing[],
  nodeId: string,
): ContainerRepair[] {
  const repairs: ContainerRepair[] = [];
  const owned = new Set<string>();
  const find = (record: ContainerRepairRecord) =>
    engine.find((container) =>
      container.name === record.name ||
      (record.engineId !== null && container.id === record.engineId)
    );
  for (const record of records) {
    if (record.state === "deleted") continue;
    const container = find(record);
    if (container) owned.add(container.id);
    if (record.state === "creating") {
      repairs.push({ kind: "interrupted", id: record.id, container: container?.name ?? null });
      continue;
    }
    if (record.state === "failed") continue;
    if (!container) {
      repairs.push({ kind: "vanished", id: record.id, from: record.state });
      continue;
    }
    const running = RUNNING_STATUSES.has(container.status);
    const to = record.state === "running" && !running
      ? "stopped"
      : record.state === "stopped" && running
      ? "running"
      : undefined;
    if (to) {
      repairs.push({
        kind: "state_changed",
        id: record.id,
        from: record.state,
        to,
        status: container.status,
      });
    }
  }
  for (const container of engine) {
    if (container.labels["dbc.node"] === nodeId && !owned.has(container.id)) {
      repairs.push({
        kind: "appeared",
        container: container.name,
        instance: container.labels["dbc.instance"] ?? null,
        status: container.status,
      });
    }
  }
  return repairs;
}

export type ContainerRepairDeps = {
  engine: ContainerEngine;
  store: ContainerStore;
  gpus: GpuAllocator;
  events: EventLog;
  nodeId: string;
  log: Logger;
  /** Whether this process is creating `id` now (not a create a restart cut short). */
  creating: (id: string) => boolean;
  /** Runs `work` in the container's queue, after any operation on it now. */
  exclusive: <T>(id: string, work: () => Promise<T>) => Promise<T>;
  /** How long an engine operation the dead node left under way may take to end. */
  settleMs: number;
};

/** Added to the stop time-out: what a stop or restart takes beyond it. */
export const ENGINE_SETTLE_MARGIN_MS = 3_000;

/** Reason kept on a record whose create a restart cut short. */
export const INTERRUPTED_REASON =
  "creation was interrupted by a node restart; what it had made is removed";
/** Reason kept on a record whose engine container was found gone at start. */
export const VANISHED_REASON =
  "its container vanished from the engine (found at start-up); delete it to free its resources";

/**
 * Brings the records in line with the engine at start; returns what it did.
 * Throws when the engine does not answer (the records are left as they were).
 */
export async function repairContainers(deps: ContainerRepairDeps): Promise<ContainerRepair[]> {
  // Read before the first await: a create arriving later is this process's own.
  const records = deps.store.list({ includeDeleted: false })
    .filter((record) => !deps.creating(record.id));
  // Nothing to set right: a node without containers (a seed, a client-end) never asks its engine.
  let engine = records.length === 0 ? [] : await deps.engine.listContainers([]);
  let repairs = planContainerRepairs(records, engine, deps.nodeId);
  if (repairs.some((repair) => repair.kind !== "appeared")) {
    // The engine finishes what the dead node asked of it (a restart stops, then starts again,
    // and shows "exited" in between): judge once that has had time to end.
    await new Promise((resolve) => setTimeout(resolve, deps.settleMs));
    engine = await deps.engine.listContainers([]);
    repairs = planContainerRepairs(records, engine, deps.nodeId);
  }
  for (const repair of repairs) {
    if (repair.kind !== "appeared") {
      await deps.exclusive(repair.id, () => applyRepair(deps, repair));
    }
    deps.events.record({
      actor: "node",
      action: "container.reconcile",
      target: repair.kind === "appeared" ? repair.container : repair.id,
      result: repair.kind === "interrupted" || repair.kind === "vanished" ? "error" : "ok",
      detail: { ...repair },
    });
  }
  deps.log.info("reconciled containers with the engine", {
    records: records.length,
    engine_containers: engine.length,
    repairs: repairs.length,
  });
  return repairs;
}

async function applyRepair(
  deps: ContainerRepairDeps,
  repair: Exclude<ContainerRepair, { kind: "appeared" }>,
): Promise<void> {
  const { store, gpus, engine } = deps;
  const record = store.require(repair.id);
  // A renter's operation that ran first in the queue has its own word on the state.
  const planned = repair.kind === "interrupted" ? "creating" : repair.from;
  if (record.state !== planned) return;
  switch (repair.kind) {
    case "interrupted": {
      try {
        await engine.removeContainer(record.name);
        if (record.volume && !record.volume.kept) await engine.removeVolume(record.volume.name);
      } catch (error) {
        // As a failed create's undo: the record is marked failed all the same, and deleting it
        // removes the container by name.
        deps.log.warn("could not clean up after an interrupted container creation", {
          id: record.id,
          error: (error as Error).message,
        });
      }
      store.atomically(() => {
        gpus.releaseGpus(record.id, "container");
        store.releasePorts(record.id);
        store.update(record.id, { state: "failed", lastError: INTERRUPTED_REASON });
      });
      return;
    }
    case "vanished":
      store.update(repair.id, { state: "failed", lastError: VANISHED_REASON });
      return;
    case "state_changed":
      store.update(repair.id, { state: repair.to });
      return;
  }
}
