/**
 * The network worker's metrics read from real peer nodes (the simulation's in-memory links, the
 * protocol code the node runs): every running total has its series, and by-kind counts add up to
 * the totals the protocol keeps.
 */
import assert from "node:assert/strict";
import { type MetricsSnapshot, MetricsSnapshotSchema } from "../../mod/mod.ts";
import { COUNTER_NAMES } from "../../network/mod.ts";
import { networkMetrics } from "../../network/metrics.ts";
import { SimCluster } from "../../scripts/sim/cluster.ts";

function byName(snapshot: MetricsSnapshot) {
  return new Map(snapshot.families.map((family) => [family.name, family]));
}

Deno.test("dbc_p2p_* follow the peer node: links, messages by kind, broadcasts, relays", async () => {
  const cluster = new SimCluster({
    seed: 11,
    config: { targetOutbound: 2, maxInbound: 4, exchangeIntervalMs: 1_000, pingIntervalMs: 500 },
  });
  const seed = cluster.add({ role: "seed" });
  for (let index = 0; index < 3; index++) cluster.add({ seeds: [seed.address] });
  try {
    await cluster.clock.runFor(10_000);
    const origin = cluster.nodes[1]!;
    await origin.peer.broadcast("test.metrics", { n: 1 });
    await cluster.clock.runFor(3_000);

    const metrics = networkMetrics(origin.peer);
    const families = byName(MetricsSnapshotSchema.parse(await metrics.collect()));
    const status = origin.peer.status();
    const value = (name: string, labels: Record<string, string> = {}) =>
      families.get(name)?.values.find((sample) =>
        Object.entries(labels).every(([key, text]) => sample.labels[key] === text)
      )?.value;

    assert.equal(families.get("dbc_p2p_peers")?.type, "gauge");
    assert.equal(value("dbc_p2p_peers", { direction: "outbound" }), status.outbound);
    assert.equal(value("dbc_p2p_peers", { direction: "inbound" }), status.inbound);
    assert.ok(status.outbound + status.inbound > 0);
    assert.equal(value("dbc_p2p_known_peers"), status.knownPeers);
    assert.equal(families.get("dbc_p2p_messages_total")?.type, "counter");
    for (
      const [direction, total] of [["sent", "messages_sent"], [
        "received",
        "messages_received",
      ]] as const
    ) {
      const byKind = families.get("dbc_p2p_messages_total")!.values
        .filter((sample) => sample.labels.direction === direction)
        .reduce((sum, sample) => sum + sample.value, 0);
      assert.equal(byKind, status.counters[total], `${direction} by kind adds up to the total`);
    }
    assert.ok(value("dbc_p2p_messages_total", { direction: "sent", kind: "hello" })! >= 1);
    assert.ok(value("dbc_p2p_messages_total", { direction: "sent", kind: "bcast" })! >= 1);
    assert.equal(value("dbc_p2p_broadcasts_total", { event: "originated" }), 1);
    assert.equal(
      value("dbc_p2p_relayed_total", { kind: "bcast" }),
      status.counters.broadcasts_relayed,
    );
    assert.equal(value("dbc_p2p_links_total", { event: "opened" }), status.counters.links_opened);

    // Every running total is exported, each exactly once (three of them as by-kind families).
    const exported = new Set(["messages_sent", "messages_received", "messages_shed"]);
    const mapped = [
      "dbc_p2p_links_total",
      "dbc_p2p_messages_dropped_total",
      "dbc_p2p_broadcasts_total",
      "dbc_p2p_relayed_total",
      "dbc_p2p_events_total",
    ].reduce((sum, name) => sum + (families.get(name)?.values.length ?? 0), 0);
    assert.equal(mapped + exported.size, COUNTER_NAMES.length);

    // A later scrape reads the totals afresh instead of adding them again.
    const again = byName(await metrics.collect());
    assert.equal(
      again.get("dbc_p2p_broadcasts_total")?.values.find((s) => s.labels.event === "originated")
        ?.value,
      1,
    );
  } finally {
    for (const node of cluster.nodes) node.peer.stop();
  }
});
