/**
 * The node service's state as the metrics read it at each scrape: instances by kind and state,
 * GPUs held by kind. One grouped query each, read-only, on the node service's own database.
 */
import { type DatabaseSync, INSTANCE_STATES } from "../../mod/mod.ts";

export type InstanceKind = "vm" | "container";
export type InstanceCount = { kind: InstanceKind; state: string; count: number };

const INSTANCE_TABLES: Record<InstanceKind, string> = { vm: "vms", container: "containers" };

/**
 * Every kind and known state, zero where there is none, so each series exists from the start;
 * a state the database holds beyond the known ones is reported too, never hidden.
 */
export function instanceCounts(db: DatabaseSync): InstanceCount[] {
  return (Object.keys(INSTANCE_TABLES) as InstanceKind[]).flatMap((kind) => {
    const rows = db.prepare(
      `SELECT state, COUNT(*) AS count FROM ${INSTANCE_TABLES[kind]} GROUP BY state`,
    ).all() as Array<{ state: string; count: number }>;
    const byState = new Map(rows.map((row) => [row.state, Number(row.count)]));
    const states = new Set<string>([...INSTANCE_STATES, ...byState.keys()]);
    return [...states].map((state) => ({ kind, state, count: byState.get(state) ?? 0 }));
  });
}

/** GPUs allocated now, by the kind of instance holding them (both kinds always present). */
export function gpuAllocationCounts(db: DatabaseSync): Record<InstanceKind, number> {
  const rows = db.prepare(
    "SELECT instance_kind AS kind, COUNT(*) AS count FROM gpu_allocations GROUP BY instance_kind",
  ).all() as Array<{ kind: InstanceKind; count: number }>;
  const counts: Record<InstanceKind, number> = { vm: 0, container: 0 };
  for (const row of rows) counts[row.kind] = Number(row.count);
  return counts;
}
