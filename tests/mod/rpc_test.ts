import assert from "node:assert/strict";
import {
  type GpuReport,
  type Handlers,
  ManualClock,
  RpcError,
  type RpcMessage,
  RpcPeer,
} from "../../mod/mod.ts";

/** Two peers joined back to back; messages pass through structuredClone as they would between threads. */
function pair(clock: ManualClock, serviceHandler: (params: { max_age_ms?: number }) => unknown) {
  const inbox: Array<() => void> = [];
  const deliver = (to: () => { receive(message: RpcMessage): void }, message: RpcMessage) => {
    const copy = structuredClone(message);
    inbox.push(() => to().receive(copy));
    queueMicrotask(() => inbox.shift()?.());
  };
  const http: RpcPeer<"http"> = new RpcPeer({
    self: "http",
    send: (m) => deliver(() => service, m),
    // The tests call from this side only.
    handlers: {} as Handlers<"http">,
    clock,
    defaultTimeoutMs: 1_000,
  });
  const service: RpcPeer<"node_service"> = new RpcPeer({
    self: "node_service",
    send: (m) => deliver(() => http, m),
    clock,
    // A stand-in answers only the method under test.
    handlers: {
      "gpu.inventory": (params: { max_age_ms?: number }) => serviceHandler(params) as never,
    } as unknown as Handlers<"node_service">,
  });
  return { http, service };
}

const report: GpuReport = { state: "none", gpus: [], reason: "no GPU", queried_at: 1 };

Deno.test("a request round-trips with its result checked against the schema", async () => {
  const clock = new ManualClock(0);
  let seen: unknown;
  const { http } = pair(clock, (params) => ((seen = params), report));
  assert.deepEqual(await http.call("gpu.inventory", { max_age_ms: 5 }), report);
  assert.deepEqual(seen, { max_age_ms: 5 });
  assert.equal(http.pendingCount, 0);
});

Deno.test("an unanswered request fails with a typed time-out error", async () => {
  const clock = new ManualClock(0);
  const { http } = pair(clock, () => new Promise(() => {}));
  const outcome = assert.rejects(
    http.call("gpu.inventory", {}, { timeoutMs: 250 }),
    (error: unknown) =>
      error instanceof RpcError && error.code === "timeout" &&
      /node_service within 250 ms/.test(error.message),
  );
  await clock.advanceAsync(249);
  assert.equal(http.pendingCount, 1);
  await clock.advanceAsync(1);
  await outcome;
  assert.equal(http.pendingCount, 0);
});

Deno.test("typed errors thrown by a handler reach the caller with their code", async () => {
  const { http } = pair(new ManualClock(0), () => {
    throw new RpcError("conflict", "GPU 0 is held by vm-1");
  });
  await assert.rejects(
    http.call("gpu.inventory", {}),
    (error: unknown) => error instanceof RpcError && error.code === "conflict",
  );
});

Deno.test("a handler bug or a malformed result becomes an internal error, not a crash", async () => {
  const crashing = pair(new ManualClock(0), () => {
    throw new TypeError("undefined is not a function");
  });
  await assert.rejects(
    crashing.http.call("gpu.inventory", {}),
    (error: unknown) => error instanceof RpcError && error.code === "internal",
  );
  const malformed = pair(new ManualClock(0), () => ({ state: "present", gpus: [] }));
  await assert.rejects(
    malformed.http.call("gpu.inventory", {}),
    (error: unknown) =>
      error instanceof RpcError && error.code === "internal" &&
      /malformed result/.test(error.message),
  );
});

Deno.test("bad parameters are refused by the side that answers, with the reason, to the caller", async () => {
  const clock = new ManualClock(0);
  const { http, service } = pair(clock, () => report);
  await assert.rejects(
    http.call("gpu.inventory", { max_age_ms: -1 }),
    (error: unknown) => error instanceof RpcError && error.code === "invalid_params",
  );
  const replies: RpcMessage[] = [];
  const receiver = new RpcPeer({
    self: "node_service",
    send: (m) => replies.push(m),
    handlers: { "gpu.inventory": () => report } as unknown as Handlers<"node_service">,
    clock,
  });
  receiver.receive({
    kind: "request",
    id: "x-1",
    from: "http",
    to: "node_service",
    method: "gpu.inventory",
    params: { max_age_ms: "soon" },
    timeout_ms: 100,
  });
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(replies[0]?.kind, "response");
  assert.deepEqual(replies[0]?.kind === "response" && replies[0].outcome, {
    ok: false,
    error: {
      code: "invalid_params",
      message: "gpu.inventory: Invalid input: expected number, received string",
    },
  });
  void service;
});

Deno.test("close() fails every waiting call with shutting_down and refuses new ones", async () => {
  const { http } = pair(new ManualClock(0), () => new Promise(() => {}));
  const waiting = http.call("gpu.inventory", {});
  http.close("node is stopping");
  await assert.rejects(
    waiting,
    (error: unknown) => error instanceof RpcError && error.code === "shutting_down",
  );
  await assert.rejects(
    http.call("gpu.inventory", {}),
    (error: unknown) => error instanceof RpcError && error.code === "shutting_down",
  );
});
