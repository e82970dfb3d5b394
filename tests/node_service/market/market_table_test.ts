/**
 * The market table alone: who may speak for whom, which summary wins, when
 * entries expire, and what goes when the table is full.
 */
import assert from "node:assert/strict";
import { generateNodeKeys, type ServiceSummary } from "../../../mod/mod.ts";
import { MarketTable } from "../../../node_service/market/table.ts";

const T0 = Date.UTC(2026, 0, 1);
const ids = Array.from({ length: 5 }, () => generateNodeKeys().nodeId);

function summary(nodeId: string, overrides: Partial<ServiceSummary> = {}): ServiceSummary {
  return {
    node_id: nodeId,
    role: "gpu",
    version: "0.1.0",
    gpu_count: 2,
    gpus: [{ model: "NVIDIA H100 80GB HBM3", count: 2, memory_total_mib: 81559 }],
    gpu_status: "present",
    cpu: { model: "AMD EPYC", cores: 64 },
    memory_total_mib: 515_000,
    disk: { total_gib: 3_500, free_gib: 3_000 },
    state: "online",
    price_per_hour: "5000",
    announce_interval_s: 30,
    signed_at: T0,
    ...overrides,
  };
}

Deno.test("a summary is listed until three of its intervals pass without a newer one", () => {
  const table = new MarketTable();
  assert.deepEqual(table.offer(ids[0]!, summary(ids[0]!), T0), { kind: "added" });
  const [listed] = table.list(T0 + 1_000);
  assert.equal(listed?.node_id, ids[0]);
  assert.equal(listed?.received_at, T0);
  assert.equal(listed?.expires_at, T0 + 90_000);
  assert.equal(table.list(T0 + 89_999).length, 1);
  assert.equal(table.get(ids[0]!, T0 + 90_000), undefined);
  assert.equal(table.list(T0 + 90_000).length, 0);
  assert.equal(table.size, 0);

  // A node announcing every 2 s is forgotten after 6 s.
  table.offer(ids[1]!, summary(ids[1]!, { announce_interval_s: 2 }), T0);
  assert.ok(table.get(ids[1]!, T0 + 5_999));
  assert.equal(table.get(ids[1]!, T0 + 6_000), undefined);
});

Deno.test("a newer summary replaces the held one and renews it; an older or equal one is ignored", () => {
  const table = new MarketTable();
  table.offer(ids[0]!, summary(ids[0]!, { signed_at: T0 }), T0);
  assert.deepEqual(
    table.offer(
      ids[0]!,
      summary(ids[0]!, { signed_at: T0 + 30_000, state: "leased" }),
      T0 + 30_000,
    ),
    { kind: "updated" },
  );
  assert.deepEqual(
    table.offer(
      ids[0]!,
      summary(ids[0]!, { signed_at: T0 + 10_000, state: "online" }),
      T0 + 31_000,
    ),
    { kind: "stale" },
  );
  assert.deepEqual(
    table.offer(ids[0]!, summary(ids[0]!, { signed_at: T0 + 30_000 }), T0 + 32_000),
    {
      kind: "stale",
    },
  );
  const held = table.get(ids[0]!, T0 + 100_000);
  assert.equal(held?.state, "leased");
  assert.equal(held?.expires_at, T0 + 30_000 + 90_000);
});

Deno.test("no node speaks for another; malformed and future-dated summaries are refused", () => {
  const table = new MarketTable();
  const forged = table.offer(ids[1]!, summary(ids[0]!), T0);
  assert.equal(forged.kind, "refused");
  assert.match((forged as { reason: string }).reason, /sent a summary for/);
  const malformed = table.offer(ids[0]!, { ...summary(ids[0]!), gpu_count: -1 }, T0);
  assert.equal(malformed.kind, "refused");
  assert.match((malformed as { reason: string }).reason, /gpu_count/);
  assert.equal(table.offer(ids[0]!, "not even an object", T0).kind, "refused");
  const future = table.offer(ids[0]!, summary(ids[0]!, { signed_at: T0 + 3_600_000 }), T0);
  assert.deepEqual(future, { kind: "refused", reason: "signed in the future" });
  assert.equal(table.size, 0);
  // Fields a newer version adds are ignored, not refused.
  assert.equal(table.offer(ids[0]!, { ...summary(ids[0]!), gpu_power_w: 700 }, T0).kind, "added");
  assert.equal("gpu_power_w" in table.get(ids[0]!, T0)!, false);
});

Deno.test("a full table drops expired entries first, then the one closest to expiry", () => {
  const table = new MarketTable({ maxEntries: 3 });
  table.offer(ids[0]!, summary(ids[0]!, { announce_interval_s: 60 }), T0);
  table.offer(ids[1]!, summary(ids[1]!, { announce_interval_s: 10 }), T0);
  table.offer(ids[2]!, summary(ids[2]!, { announce_interval_s: 30 }), T0);
  // Full: ids[1] (expiring at T0 + 30 s) is closest to expiry.
  table.offer(ids[3]!, summary(ids[3]!, { announce_interval_s: 30 }), T0 + 1_000);
  assert.equal(table.size, 3);
  assert.deepEqual(
    table.list(T0 + 1_000).map((node) => node.node_id).sort(),
    [ids[0], ids[2], ids[3]].sort(),
  );
  // Once ids[2] and ids[3] expired, a newcomer takes their room without evicting ids[0].
  assert.equal(table.offer(ids[4]!, summary(ids[4]!), T0 + 95_000).kind, "added");
  assert.deepEqual(
    table.list(T0 + 95_000).map((node) => node.node_id).sort(),
    [ids[0], ids[4]].sort(),
  );
});

Deno.test("a node the network reports gone is dropped at once; the list is ordered by node id", () => {
  const table = new MarketTable();
  for (const id of ids) table.offer(id, summary(id), T0);
  assert.deepEqual(table.list(T0).map((node) => node.node_id), [...ids].sort());
  assert.equal(table.remove(ids[2]!), true);
  assert.equal(table.remove(ids[2]!), false);
  assert.equal(table.get(ids[2]!, T0), undefined);
  assert.equal(table.list(T0).length, ids.length - 1);
});
