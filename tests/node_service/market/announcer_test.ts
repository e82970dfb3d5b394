/**
 * When a GPU node announces itself, on a virtual clock: soon after start,
 * sooner again (backing off) while nobody hears it, twice more while the
 * network forms, at once when its offer changes, else only at the slow refresh.
 */
import assert from "node:assert/strict";
import {
  generateNodeKeys,
  ManualClock,
  type Method,
  type ParamsOf,
  RpcError,
  type ServiceSummary,
  silentLogger,
} from "../../../mod/mod.ts";
import { startAnnouncer } from "../../../node_service/market/announcer.ts";
import type { WorkerCall } from "../../../node_service/network_subscription.ts";

const T0 = Date.UTC(2026, 0, 1);
const nodeId = generateNodeKeys().nodeId;

function summaryAt(now: number): ServiceSummary {
  return {
    node_id: nodeId,
    role: "gpu",
    version: "0.1.0",
    gpu_count: 0,
    gpus: [],
    gpu_status: "none",
    cpu: { model: null, cores: 4 },
    memory_total_mib: 1024,
    disk: null,
    state: "unknown",
    price_per_hour: null,
    announce_interval_s: 30,
    signed_at: now,
  };
}

function fakeNetwork(clock: ManualClock, answers: Array<number | RpcError>) {
  const broadcasts: Array<{ at: number; summary: ServiceSummary }> = [];
  const call = ((method: Method, params: unknown) => {
    assert.equal(method, "network.broadcast");
    const broadcast = params as ParamsOf<"network.broadcast">;
    assert.equal(broadcast.topic, "service.summary");
    broadcasts.push({ at: clock.now() - T0, summary: broadcast.body as ServiceSummary });
    const answer = answers.shift() ?? 1;
    return answer instanceof RpcError
      ? Promise.reject(answer)
      : Promise.resolve({ nonce: "n", sent_to: answer });
  }) as WorkerCall;
  return { call, broadcasts };
}

Deno.test("announcements: 2 s after start, backing off while nobody hears them, twice while joining, then only at the refresh", async () => {
  const clock = new ManualClock(T0);
  /** What each broadcast answers, in turn: a failure, or the neighbours it reached. */
  const { call, broadcasts } = fakeNetwork(clock, [
    new RpcError("unavailable", "network is starting"),
    0,
    0,
    2,
  ]);
  const made: ServiceSummary[] = [];
  const announcer = startAnnouncer({
    call,
    clock,
    log: silentLogger,
    intervalMs: 60_000,
    summary: () => Promise.resolve(summaryAt(clock.now())),
    onSummary: (summary) => made.push(summary),
  });
  await clock.advanceAsync(3 * 60_000);
  // 2 s; failed -> +3 s; nobody -> +6 s; nobody -> +12 s; reached at 23 s -> joining at
  // +5 s and +20 s; then unchanged: looked at every 15 s, announced 60 s after the last.
  assert.deepEqual(
    broadcasts.map((broadcast) => broadcast.at),
    [2_000, 5_000, 11_000, 23_000, 28_000, 43_000, 103_000, 163_000],
  );
  assert.ok(made.length > broadcasts.length, "each look makes a summary, listed locally");
  await announcer.stop();
  const count = broadcasts.length;
  await clock.advanceAsync(5 * 60_000);
  assert.equal(broadcasts.length, count, "nothing after stop");
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("a changed offer is announced at the next look, not at the refresh", async () => {
  const clock = new ManualClock(T0);
  const { call, broadcasts } = fakeNetwork(clock, []);
  let state: ServiceSummary["state"] = "online";
  const announcer = startAnnouncer({
    call,
    clock,
    log: silentLogger,
    intervalMs: 600_000,
    summary: () => Promise.resolve({ ...summaryAt(clock.now()), state }),
  });
  await clock.advanceAsync(60_000);
  const settled = broadcasts.length;
  assert.deepEqual(broadcasts.map((broadcast) => broadcast.at), [2_000, 7_000, 22_000]);
  await clock.advanceAsync(120_000);
  assert.equal(broadcasts.length, settled, "an unchanged offer waits for the refresh");
  state = "leased";
  const changedAt = clock.now() - T0;
  await clock.advanceAsync(15_000);
  assert.equal(broadcasts.length, settled + 1);
  const last = broadcasts.at(-1)!;
  assert.equal(last.summary.state, "leased");
  assert.ok(last.at - changedAt <= 15_000);
  await announcer.stop();
});
