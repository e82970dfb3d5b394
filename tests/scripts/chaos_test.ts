/**
 * `deno task chaos`: its plan and its verdicts (pure), and the chaos core run
 * small on real node processes (a seed, three GPU nodes, two client-ends for
 * 40 s, a third of them killed and started again, one killed for good):
 * every renter request ends in a success or a clear error, no instance and
 * no rental is lost, every node comes back, and the survivors forget the one
 * killed for good. A new seed each run (printed; `DBC_CHAOS_SEED` repeats
 * one). Needs Podman with the test image (scripts/system/test_setup.sh).
 */
import assert from "node:assert/strict";
import { ApiClientError } from "../../http/mod.ts";
import { classifyError } from "../../scripts/chaos/classify.ts";
import { chaosPlan, invalidOptions, Random } from "../../scripts/chaos/plan.ts";
import { RenterLoop } from "../../scripts/chaos/renter.ts";
import { Tally } from "../../scripts/chaos/tally.ts";
import { devWallets } from "../wallets.ts";
import { rentalChange } from "../../scripts/chaos/audit.ts";
import { runChaos } from "../../scripts/chaos/run.ts";
import type { Rental } from "../../mod/mod.ts";

Deno.test("the plan: the same seed, the same choices; never the seed node; a client-end always up", () => {
  const options = { nodes: 20, minutes: 3, killFraction: 0.3, seed: 42 };
  const plan = chaosPlan(options);
  assert.deepEqual(chaosPlan(options), plan);
  assert.notDeepEqual(chaosPlan({ ...options, seed: 43 }).kills, plan.kills);
  assert.equal(plan.layout.filter((node) => node.role === "seed").length, 1);
  assert.equal(plan.layout.filter((node) => node.role === "gpu").length, 10);
  assert.equal(plan.layout.filter((node) => node.role === "client").length, 9);
  // Two rounds of a minute in the first 70 % of 3 minutes, each killing 30 % of 19 nodes.
  assert.equal(plan.kills.length, 12);
  const roles = new Map(plan.layout.map((node) => [node.name, node.role]));
  for (const kill of [...plan.kills.map((kill) => kill.node), ...plan.forGood]) {
    assert.notEqual(roles.get(kill), "seed");
  }
  for (const kill of plan.kills) {
    assert.ok(
      kill.atMs >= 0 && kill.atMs + kill.downMs <= plan.phaseMs * 0.7,
      JSON.stringify(kill),
    );
  }
  assert.equal(plan.forGood.length, 2);
  assert.ok(plan.forGoodAtMs < plan.phaseMs);

  // Two client-ends, one round asking for 90 % of four nodes: never both client-ends.
  for (let seed = 0; seed < 50; seed++) {
    const small = chaosPlan({ nodes: 5, minutes: 1, killFraction: 0.9, seed });
    assert.equal(small.kills.length, 3, JSON.stringify(small.kills));
    const clients = small.kills.filter((kill) => roles.get(kill.node) === "client");
    assert.equal(clients.length, 1, JSON.stringify(small.kills));
  }
  assert.match(invalidOptions({ ...options, nodes: 3 }) ?? "", /--nodes/);
  assert.match(invalidOptions({ ...options, killFraction: 1 }) ?? "", /--kill-fraction/);
  assert.match(invalidOptions({ ...options, minutes: 0 }) ?? "", /--minutes/);
  assert.equal(invalidOptions(options), undefined);
});

Deno.test("the verdicts: documented 503/504/409 and a refused connection are clear; the rest is not", () => {
  const api = (status: number, code: number) => new ApiClientError(status, code, "said so");
  const present = { instanceExists: true };
  const absent = { instanceExists: false };
  assert.deepEqual(classifyError(api(503, -32602), present), { kind: "clear", code: "try_later" });
  assert.deepEqual(classifyError(api(504, -32700), present), { kind: "clear", code: "timeout" });
  assert.deepEqual(classifyError(api(409, -32009), present), { kind: "clear", code: "conflict" });
  assert.deepEqual(classifyError(api(404, -32004), absent), { kind: "clear", code: "not_found" });
  assert.deepEqual(
    classifyError(new ApiClientError(0, -32602, "refused", "unreachable"), present),
    { kind: "clear", code: "unreachable" },
  );
  for (
    const error of [
      api(404, -32004), // an instance the renter has and did not delete
      api(500, -32603),
      api(502, -32701),
      api(403, -32003),
      api(401, -32001),
      api(400, -25),
      api(503, -32700), // a status and a code that do not go together
      new ApiClientError(0, -32700, "no answer", "timeout"),
      new ApiClientError(200, -32701, "not the envelope", "malformed_response"),
      new TypeError("bug"),
    ]
  ) {
    assert.equal(classifyError(error, present).kind, "otherwise", String(error));
  }
});

Deno.test("a rental may end later after outages, and change in nothing else", () => {
  const made: Rental = {
    rental_id: 1,
    machine_id: "m",
    renter: "r",
    starts_at: 1_000,
    ends_at: 2_000,
    state: "active",
    total_amount: "24",
    payments: [],
    outages: [],
  };
  assert.equal(rentalChange(made, made), undefined);
  const credited = {
    ...made,
    ends_at: 2_500,
    outages: [{ down_since: 1_200, up_at: 1_700, credited_ms: 500 }],
  };
  assert.equal(rentalChange(made, credited), undefined);
  assert.match(rentalChange(made, { ...made, ends_at: 1_999 }) ?? "", /earlier/);
  assert.match(rentalChange(made, { ...made, renter: "x" }) ?? "", /renter/);
  assert.match(rentalChange(made, { ...made, total_amount: "0" }) ?? "", /total_amount/);
  assert.match(rentalChange(made, { ...made, state: "ended" }) ?? "", /state/);
});

type Fault = "none" | "drops_from_list" | "internal_error" | "wrong_state" | "forgets";

/**
 * A client-end stand-in on a real socket: it keeps containers as the API does, but with `fault`
 * it misbehaves the way a broken node could.
 */
function fakeClientEnd(fault: Fault) {
  const containers = new Map<string, { id: string; owner: string; state: string }>();
  let next = 0;
  const answer = (status: number, data: unknown) =>
    Response.json(status < 300 ? { error_code: 0, error_message: "", data } : data, { status });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const url = new URL(request.url);
    const owner = request.headers.get("x-dbc-wallet") ?? "";
    const [, id, action] = /^\/api\/v1\/containers(?:\/([^/]+))?(?:\/([a-z]+))?$/
      .exec(url.pathname) ?? [];
    if (fault === "internal_error" && next > 0) {
      return answer(500, { error_code: -32603, error_message: "internal" });
    }
    if (id === "create") {
      const made = { id: `ct-${next++}`, owner, state: "running" };
      containers.set(made.id, made);
      return answer(202, { task_id: made.id, operation_id: "op", state: "creating" });
    }
    if (!id) {
      const listed = [...containers.values()].filter((container) => container.state !== "deleted");
      return answer(200, { containers: fault === "drops_from_list" ? listed.slice(1) : listed });
    }
    const container = containers.get(id);
    if (!container || (fault === "forgets" && container.state !== "deleted")) {
      return answer(404, { error_code: -32004, error_message: `no container ${id} of yours` });
    }
    if (action) {
      const states: Record<string, string> = {
        start: "running",
        stop: "stopped",
        restart: "running",
        delete: "deleted",
      };
      container.state = fault === "wrong_state" ? "creating" : states[action]!;
    }
    return answer(200, container);
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

Deno.test("the renter's checks: a right API passes; a dropped instance, a 500, a wrong state or a 404 for its own instance is caught", async () => {
  const { eve } = await devWallets();
  for (
    const fault of ["none", "drops_from_list", "internal_error", "wrong_state", "forgets"] as const
  ) {
    const server = fakeClientEnd(fault);
    try {
      const tally = new Tally();
      const loop = new RenterLoop({
        renter: eve,
        renterName: "eve",
        gpuId: "12D3KooWGpu",
        clientEnds: new Map([["client-1", server.url]]),
        random: new Random(7),
        tally,
        timeoutMs: 5_000,
      });
      for (let step = 0; step < 60; step++) await loop.step();
      assert.equal(tally.requests, 60);
      if (fault === "none") {
        assert.equal(tally.otherwise, 0, JSON.stringify(tally.failures));
        assert.equal(tally.succeeded, 60);
        assert.ok([...loop.instances.values()].some((instance) => instance.made));
      } else {
        assert.ok(tally.otherwise > 0, `${fault} went unnoticed`);
      }
    } finally {
      await server.close();
    }
  }
});

Deno.test({
  name: "chaos, small: six real nodes for 40 s, a third killed and restarted, one for good",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const seed = Number(Deno.env.get("DBC_CHAOS_SEED") ?? Math.floor(Math.random() * 2 ** 31));
  const progress = (message: string) => console.error(`[chaos test, seed ${seed}] ${message}`);
  const report = await runChaos({ nodes: 6, minutes: 0.67, killFraction: 0.3, seed }, progress);
  const summary = JSON.stringify(report);
  assert.equal(report.failed_otherwise, 0, summary);
  assert.equal(report.lost_instances, 0, summary);
  assert.equal(report.lost_rentals, 0, summary);
  assert.equal(report.restart_failures, 0, summary);
  assert.ok(report.kills >= 2, summary);
  assert.ok(report.succeeded > 0 && report.instances_checked > 0, summary);
  assert.equal(report.rentals, 3, summary);
  assert.equal(
    report.requests,
    report.succeeded + report.failed_with_clear_error + report.failed_otherwise,
  );
  assert.notEqual(report.forget_s, null, summary);
  for (const forgotten of report.forgetting) assert.ok(forgotten.knownBefore > 0, summary);
});
