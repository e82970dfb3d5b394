/**
 * Which guest holds which GPU. Shared by virtual machines and containers: a
 * GPU is held by at most one instance of either kind, and the holding
 * survives a node restart because it lives in SQLite.
 *
 * Two guarantees, one in code and one in the schema: {@link GpuAllocator.allocateGpus}
 * checks and inserts inside one `BEGIN IMMEDIATE` transaction (its own, or
 * the caller's when it is called inside one), so a second writer, even on
 * another connection, waits and then sees the first one's rows; and the
 * table's primary key on the GPU UUID refuses a second holder whatever the
 * code does.
 *
 * @example
 * ```ts
 * const gpus = new GpuAllocator(db, () => Date.now());
 * const held = gpus.allocateGpus("vm-abc", "vm", { count: 1 }, inventory);
 * gpus.releaseGpus("vm-abc", "vm");
 * ```
 */
import { type DatabaseSync, type Gpu, transaction } from "../../mod/mod.ts";

export type GpuHolderKind = "vm" | "container";

/** Which GPUs an instance wants: any `count` free ones, or these exact ones. */
export type GpuWant =
  | { count: number }
  | { indexes: readonly number[] }
  | { uuids: readonly string[] };

export type GpuAllocation = {
  gpu_uuid: string;
  gpu_index: number;
  pci_bus_id: string;
  instance_kind: GpuHolderKind;
  instance_id: string;
  allocated_at: number;
};

export type GpuAllocationErrorKind =
  /** A wanted GPU is held by another instance, or too few are free. */
  | "conflict"
  /** A wanted GPU is not on this machine. */
  | "not_found"
  /** The request itself is wrong (duplicates, a count with no GPUs at all). */
  | "invalid";

/** Why GPUs could not be allocated; the message names the GPU and its holder. */
export class GpuAllocationError extends Error {
  constructor(readonly kind: GpuAllocationErrorKind, message: string) {
    super(message);
    this.name = "GpuAllocationError";
  }
}

const COLUMNS = "gpu_uuid, gpu_index, pci_bus_id, instance_kind, instance_id, allocated_at";

export class GpuAllocator {
  constructor(private readonly db: DatabaseSync, private readonly now: () => number) {}

  /**
   * Gives `instanceId` the wanted GPUs from `inventory` (what nvidia-smi
   * reports now), all or none. An instance that already holds GPUs may not
   * ask again: release first. Returns the allocations, lowest index first.
   */
  allocateGpus(
    instanceId: string,
    kind: GpuHolderKind,
    want: GpuWant,
    inventory: readonly Gpu[],
  ): GpuAllocation[] {
    // Inside a caller's transaction (record + allocation together) it joins that one.
    const atomically = <T>(work: () => T): T =>
      this.db.isTransaction ? work() : transaction(this.db, work);
    return atomically(() => {
      const held = this.#heldMap();
      for (const allocation of held.values()) {
        if (allocation.instance_id === instanceId && allocation.instance_kind === kind) {
          throw new GpuAllocationError(
            "invalid",
            `${kind} ${instanceId} already holds GPU ${allocation.gpu_index}; release it first`,
          );
        }
      }
      const chosen = choose(want, inventory, held);
      const at = this.now();
      const insert = this.db.prepare(
        `INSERT INTO gpu_allocations (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`,
      );
      return chosen.map((gpu) => {
        insert.run(gpu.uuid, gpu.index, gpu.pci_bus_id, kind, instanceId, at);
        return {
          gpu_uuid: gpu.uuid,
          gpu_index: gpu.index,
          pci_bus_id: gpu.pci_bus_id,
          instance_kind: kind,
          instance_id: instanceId,
          allocated_at: at,
        };
      });
    });
  }

  /** Frees every GPU the instance holds; returns how many. Releasing nothing is not an error. */
  releaseGpus(instanceId: string, kind?: GpuHolderKind): number {
    const info = kind === undefined
      ? this.db.prepare("DELETE FROM gpu_allocations WHERE instance_id = ?").run(instanceId)
      : this.db.prepare("DELETE FROM gpu_allocations WHERE instance_id = ? AND instance_kind = ?")
        .run(instanceId, kind);
    return Number(info.changes);
  }

  /** The GPUs one instance holds, lowest index first. */
  heldBy(instanceId: string, kind: GpuHolderKind): GpuAllocation[] {
    return this.db.prepare(
      `SELECT ${COLUMNS} FROM gpu_allocations WHERE instance_id = ? AND instance_kind = ?
       ORDER BY gpu_index`,
    ).all(instanceId, kind) as GpuAllocation[];
  }

  /** Every allocation on this node, lowest GPU index first. */
  list(): GpuAllocation[] {
    return this.db.prepare(`SELECT ${COLUMNS} FROM gpu_allocations ORDER BY gpu_index`)
      .all() as GpuAllocation[];
  }

  #heldMap(): Map<string, GpuAllocation> {
    return new Map(this.list().map((allocation) => [allocation.gpu_uuid, allocation]));
  }
}

/** Picks the GPUs for `want`; pure, so the selection rules are testable on their own. */
export function choose(
  want: GpuWant,
  inventory: readonly Gpu[],
  held: ReadonlyMap<string, GpuAllocation>,
): Gpu[] {
  const holder = (gpu: Gpu) => {
    const allocation = held.get(gpu.uuid);
    return allocation ? `${allocation.instance_kind} ${allocation.instance_id}` : undefined;
  };
  if ("count" in want) {
    if (!Number.isInteger(want.count) || want.count < 0) {
      throw new GpuAllocationError(
        "invalid",
        `GPU count must be a whole number, got ${want.count}`,
      );
    }
    if (want.count === 0) return [];
    if (inventory.length === 0) {
      throw new GpuAllocationError(
        "not_found",
        `${want.count} GPU(s) asked for; this node has none`,
      );
    }
    const free = [...inventory].sort((a, b) => a.index - b.index).filter((gpu) => !holder(gpu));
    if (free.length < want.count) {
      throw new GpuAllocationError(
        "conflict",
        `${want.count} GPU(s) asked for; ${free.length} of ${inventory.length} free`,
      );
    }
    return free.slice(0, want.count);
  }
  const keys: readonly (number | string)[] = "indexes" in want ? want.indexes : want.uuids;
  if (new Set(keys).size !== keys.length) {
    throw new GpuAllocationError("invalid", `a GPU is named twice in ${JSON.stringify(keys)}`);
  }
  const gpus = keys.map((key) => {
    const gpu = inventory.find((candidate) =>
      typeof key === "number" ? candidate.index === key : candidate.uuid === key
    );
    if (!gpu) {
      throw new GpuAllocationError(
        "not_found",
        `GPU ${key} is not on this node (it has ${
          inventory.map((g) => g.index).join(", ") || "none"
        })`,
      );
    }
    const by = holder(gpu);
    if (by) {
      throw new GpuAllocationError("conflict", `GPU ${gpu.index} (${gpu.uuid}) is held by ${by}`);
    }
    return gpu;
  });
  return gpus.sort((a, b) => a.index - b.index);
}
