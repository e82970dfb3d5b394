/**
 * When a GPU node announces itself, on a virtual clock: soon after start,
 * sooner again (backing off) while nobody hears it, then every interval.
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

Deno.test("announcements: 2 s after start, backing off while no neighbour hears them, then every interval", async () => {
  const clock = new ManualClock(T0);
  const broadcasts: number[] = [];
  /** What each broadcast answers, in turn: a failure, or the neighbours it reached. */
  const answers: Array<number | RpcError> = [
    new RpcError("unavailable", "network is starting"),
    0,
    0,
    2,
    2,
  ];
  const call = ((method: Method, params: unknown) => {
    assert.equal(method, "network.broadcast");
    const broadcast = params as ParamsOf<"network.broadcast">;
    assert.equal(broadcast.topic, "service.summary");
    broadcasts.push(clock.now() - T0);
    const answer = answers.shift() ?? 1;
    return answer instanceof RpcError
      ? Promise.reject(answer)
      : Promise.resolve({ nonce: "n", sent_to: answer });
  }) as WorkerCall;
  const made: ServiceSummary[] = [];
  const announcer = startAnnouncer({
    call,
    clock,
    log: silentLogger,
    intervalMs: 30_000,
    summary: () => Promise.resolve(summaryAt(clock.now())),
    onSummary: (summary) => made.push(summary),
  });
  await clock.advanceAsync(2 * 60_000);
  // 2 s; failed -> +3 s; nobody -> +6 s; nobody -> +12 s; reached -> +30 s; ...
  assert.deepEqual(broadcasts.slice(0, 7), [2_000, 5_000, 11_000, 23_000, 53_000, 83_000, 113_000]);
  assert.equal(made.length, broadcasts.length, "each summary is also listed locally");
  assert.deepEqual(made.map((summary) => summary.signed_at - T0), broadcasts);
  await announcer.stop();
  const count = broadcasts.length;
  await clock.advanceAsync(5 * 60_000);
  assert.equal(broadcasts.length, count, "nothing after stop");
  assert.equal(clock.pendingTimers, 0);
});
