/**
 * The ledger over the network, both ends without the network: a seed's
 * answers from a real embedded ledger (reads served, writes refused), and
 * the reading node asking the ledger authority only, driven through the worker-call seam
 * the network worker sits behind. The real path, node processes and all, is
 * in tests/integration/market_test.ts.
 */
import assert from "node:assert/strict";
import {
  type ActivePeer,
  generateNodeKeys,
  type GlobalPeer,
  ledgerPlace,
  type LedgerRpcReply,
  loadConfig,
  ManualClock,
  type Method,
  nodePaths,
  openDatabase,
  type ParamsOf,
  RpcError,
  silentLogger,
} from "../../../mod/mod.ts";
import { EventLog } from "../../../node_service/event_log.ts";
import { startLedger } from "../../../node_service/ledger/handlers.ts";
import { answerLedgerRpc, networkLedgerTransport } from "../../../node_service/ledger/rpc.ts";
import type { WorkerCall } from "../../../node_service/network_subscription.ts";
import { SERVICE_MIGRATIONS } from "../../../node_service/migrations.ts";
import { scratchDir } from "../../helpers.ts";
import { machineId as testMachineId, registration } from "../../machines.ts";
import { devWallets } from "../../wallets.ts";

const T0 = Date.UTC(2026, 0, 1);
const CONFIG = {
  gpu_model: "NVIDIA H100 80GB HBM3",
  gpu_count: 2,
  cpu_model: "AMD EPYC",
  cpu_cores: 64,
  memory_gib: 512,
  disk_gib: 2000,
};

async function seedLedger() {
  const dir = await scratchDir("ledger-rpc");
  const paths = nodePaths(dir);
  await Deno.mkdir(paths.serviceDir, { recursive: true });
  const { config } = loadConfig({
    args: ["--role", "seed", "--ledger-open-validation", "true"],
    env: {},
    cwd: dir,
  });
  const clock = new ManualClock(T0);
  const db = openDatabase(paths.serviceDb, SERVICE_MIGRATIONS, { now: () => clock.now() });
  const events = new EventLog(db, () => clock.now());
  const started = startLedger({ config, paths, events, clock, log: silentLogger });
  return {
    handlers: started.handlers,
    events,
    async close() {
      started.stop();
      db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("a seed answers the whitelisted reads from its ledger and refuses every write", async () => {
  const { alice } = await devWallets();
  const seed = await seedLedger();
  try {
    const machineId = testMachineId("rpc-m1");
    seed.handlers["ledger.machine_register"]({
      signed_by: { account: alice.address, nonce: "n-1", nonce_expires_at: T0 + 600_000 },
      ...registration({
        machine: "rpc-m1",
        owner: alice.address,
        config: CONFIG,
        prices: { hour: "5" },
        signedAt: T0,
      }),
    }, { from: "http" });

    const got = await answerLedgerRpc(
      { method: "ledger.machine_get", params: { machine_id: machineId } },
      seed.handlers,
    );
    assert.equal(got.outcome, "ok");
    const machine = (got as Extract<LedgerRpcReply, { outcome: "ok" }>).result as {
      machine_id: string;
      status: string;
    };
    assert.equal(machine.machine_id, machineId);
    assert.equal(machine.status, "unverified");
    const listed = await answerLedgerRpc(
      { method: "ledger.machine_list", params: {} },
      seed.handlers,
    );
    assert.equal(
      (listed as unknown as { result: { machines: unknown[] } }).result.machines.length,
      1,
    );
    assert.deepEqual(
      await answerLedgerRpc({
        method: "ledger.lease_status",
        params: { machine_id: machineId, renter: alice.address },
      }, seed.handlers),
      { outcome: "ok", result: { state: "none" } },
    );
    // The ledger's own refusals travel in-band, code and all.
    const missing = await answerLedgerRpc(
      { method: "ledger.machine_get", params: { machine_id: "no-such-machine" } },
      seed.handlers,
    );
    assert.equal(missing.outcome, "error");
    assert.equal((missing as { code: string }).code, "not_found");

    const eventsBefore = seed.events.list({ limit: 1000 }).length;
    for (
      const method of [
        "ledger.machine_register",
        "ledger.rent",
        "ledger.renew",
        "ledger.order_grab",
        "ledger.order_report",
        "ledger.multisig_register",
      ]
    ) {
      const refused = await answerLedgerRpc({
        method,
        params: {
          signed_by: { account: alice.address, nonce: `n-${method}`, nonce_expires_at: T0 + 1 },
          machine_id: machineId,
          unit: "hour",
          count: 1,
        },
      }, seed.handlers);
      assert.equal(refused.outcome, "error", method);
      assert.equal((refused as { code: string }).code, "forbidden", method);
      assert.match((refused as { message: string }).message, /not served over the network/);
    }
    assert.equal(
      seed.events.list({ limit: 1000 }).length,
      eventsBefore,
      "no write reached the ledger",
    );
    for (const method of ["vm.create", "network.send", "__proto__", "constructor"]) {
      const refused = await answerLedgerRpc({ method, params: {} }, seed.handlers);
      assert.equal((refused as { code: string }).code, "forbidden", method);
    }

    const badParams = await answerLedgerRpc(
      { method: "ledger.machine_get", params: { machine_id: "has spaces" } },
      seed.handlers,
    );
    assert.equal((badParams as { code: string }).code, "invalid_params");
    for (
      const body of [null, "ledger.machine_get", { method: "ledger.machine_get" }, { params: {} }]
    ) {
      const malformed = await answerLedgerRpc(body, seed.handlers);
      assert.equal((malformed as { code: string }).code, "invalid_params", JSON.stringify(body));
    }
  } finally {
    await seed.close();
  }
});

type SendParams = ParamsOf<"network.send">;

/**
 * The network worker's answers as a reading node sees them: which peers are
 * connected (some calling themselves seeds), and what each send returns.
 * `from` lets a test play a network that hands over an answer from another
 * node than the one asked (the real router never does).
 */
function scriptedNetwork(options: {
  active?: Array<Pick<ActivePeer, "id" | "node_type">>;
  known?: Array<Pick<GlobalPeer, "id" | "node_type" | "state">>;
  answer: (to: string, params: SendParams) => LedgerRpcReply | RpcError;
  from?: (to: string) => string;
}) {
  const sentTo: string[] = [];
  const answer = (method: Method, params: unknown) => {
    switch (method) {
      case "network.peers.active":
        return { peers: options.active ?? [] };
      case "network.peers.global":
        return { peers: options.known ?? [] };
      case "network.send": {
        const send = params as SendParams;
        sentTo.push(send.to);
        const outcome = options.answer(send.to, send);
        if (outcome instanceof RpcError) throw outcome;
        return {
          from: options.from?.(send.to) ?? send.to,
          reply: { type: "app", topic: "ledger.rpc", body: outcome },
          rtt_ms: 1,
          hops: 1,
          route: "direct",
        };
      }
      default:
        throw new Error(`unexpected call ${method}`);
    }
  };
  const call =
    ((method: Method, params: unknown) =>
      Promise.resolve().then(() => answer(method, params))) as WorkerCall;
  return { call, sentTo };
}

Deno.test("a ledger read goes to the ledger authority only, never to another node that calls itself a seed", async () => {
  const [gpu, authority, rogueA, rogueB] = Array.from(
    { length: 4 },
    () => generateNodeKeys().nodeId,
  );
  const network = scriptedNetwork({
    active: [
      { id: gpu!, node_type: "gpu" },
      { id: rogueA!, node_type: "seed" },
      { id: authority!, node_type: "seed" },
    ],
    known: [{ id: rogueB!, node_type: "seed", state: "available" }],
    answer: (to, params): LedgerRpcReply => {
      assert.deepEqual(params.payload, {
        type: "app",
        topic: "ledger.rpc",
        body: { method: "ledger.lease_status", params: { machine_id: "m-1", renter: "x" } },
      });
      return to === authority
        ? { outcome: "ok", result: { state: "active", rental_id: "7", ends_at: T0 } }
        : { outcome: "ok", result: { state: "ended", rental_id: "7", ended_at: 0 } };
    },
  });
  const transport = networkLedgerTransport({ call: network.call, log: silentLogger, authority });
  for (let round = 0; round < 5; round++) {
    const status = await transport("ledger.lease_status", { machine_id: "m-1", renter: "x" });
    assert.deepEqual(status, { state: "active", rental_id: "7", ends_at: T0 });
  }
  assert.deepEqual(network.sentTo, Array(5).fill(authority), "no other seed is ever asked");

  // The authority does not answer: unavailable, and still no other seed is asked.
  const down = scriptedNetwork({
    active: [{ id: rogueA!, node_type: "seed" }],
    answer: (to) =>
      to === authority
        ? new RpcError("timeout", "no answer in time")
        : { outcome: "ok", result: { state: "none" } },
  });
  await assert.rejects(
    networkLedgerTransport({ call: down.call, log: silentLogger, authority })(
      "ledger.lease_status",
      { machine_id: "m-1", renter: "x" },
    ),
    (error: RpcError) =>
      error.code === "unavailable" && error.message.includes(`ledger authority ${authority}`),
  );
  assert.deepEqual(down.sentTo, [authority]);
});

Deno.test("an answer that does not come from the ledger authority is no answer", async () => {
  const [authority, rogue] = Array.from({ length: 2 }, () => generateNodeKeys().nodeId);
  const network = scriptedNetwork({
    active: [{ id: rogue!, node_type: "seed" }],
    answer: () => ({ outcome: "ok", result: { state: "ended", rental_id: "7", ended_at: 0 } }),
    from: () => rogue!,
  });
  const transport = networkLedgerTransport({ call: network.call, log: silentLogger, authority });
  await assert.rejects(
    transport("ledger.lease_status", { machine_id: "m-1", renter: "x" }),
    (error: RpcError) =>
      error.code === "unavailable" && error.message.includes(`came from ${rogue}`),
  );
});

Deno.test("without ledger_authority every read is refused, naming the setting; the authority's refusal is final", async () => {
  const [authority, seed] = Array.from({ length: 2 }, () => generateNodeKeys().nodeId);
  const everywhere = scriptedNetwork({
    active: [{ id: seed!, node_type: "seed" }],
    answer: () => ({ outcome: "ok", result: { state: "none" } }),
  });
  const { config } = loadConfig({ args: ["--role", "gpu"], env: {}, cwd: "/tmp" });
  const place = ledgerPlace(config, generateNodeKeys().nodeId);
  assert.equal(place.kind, "unset");
  const unset = networkLedgerTransport({
    call: everywhere.call,
    log: silentLogger,
    authority: undefined,
    unsetReason: place.kind === "unset" ? place.reason : "",
  });
  await assert.rejects(
    unset("ledger.lease_status", { machine_id: "m-1", renter: "x" }),
    (error: RpcError) =>
      error.code === "unavailable" && /ledger_authority/.test(error.message) &&
      /--ledger-authority/.test(error.message),
  );
  assert.deepEqual(everywhere.sentTo, [], "no seed is asked at all");

  const refusing = scriptedNetwork({
    answer: () => ({ outcome: "error", code: "not_found", message: "no machine m-9" }),
  });
  const transport = networkLedgerTransport({ call: refusing.call, log: silentLogger, authority });
  await assert.rejects(
    transport("ledger.machine_get", { machine_id: "m-9" }),
    (error: RpcError) => error.code === "not_found" && /no machine m-9/.test(error.message),
  );
  assert.equal(refusing.sentTo.length, 1);

  const garbled = scriptedNetwork({
    answer: () => ({ outcome: "ok", result: { state: "maybe" } }),
  });
  await assert.rejects(
    networkLedgerTransport({ call: garbled.call, log: silentLogger, authority })(
      "ledger.lease_status",
      { machine_id: "m-9", renter: "x" },
    ),
    (error: RpcError) => error.code === "internal" && /malformed/.test(error.message),
  );
});

Deno.test("where the ledger is: the authority seed, a lone seed without the setting, nowhere else", () => {
  const [self, other] = Array.from({ length: 2 }, () => generateNodeKeys().nodeId);
  const at = (role: string, authority: string) =>
    ledgerPlace(
      loadConfig({
        args: ["--role", role, ...(authority ? ["--ledger-authority", authority] : [])],
        env: {},
        cwd: "/tmp",
      }).config,
      self!,
    ).kind;
  assert.equal(at("seed", ""), "here");
  assert.equal(at("seed", self!), "here");
  assert.equal(at("seed", other!), "authority");
  assert.equal(at("gpu", other!), "authority");
  assert.equal(at("client", other!), "authority");
  assert.equal(at("gpu", ""), "unset");
  assert.equal(at("client", ""), "unset");
  assert.equal(at("gpu", self!), "unset", "only a seed keeps the ledger");
  assert.throws(
    () => loadConfig({ args: ["--ledger-authority", "seed-1"], env: {}, cwd: "/tmp" }),
    /ledger_authority \(from flag --ledger-authority\): expected a node id/,
  );
});

Deno.test("a non-authority seed keeps no ledger and names the authority", async () => {
  const dir = await scratchDir("ledger-rpc-other-seed");
  const paths = nodePaths(dir);
  await Deno.mkdir(paths.serviceDir, { recursive: true });
  const [self, authority] = Array.from({ length: 2 }, () => generateNodeKeys().nodeId);
  const { config } = loadConfig({
    args: ["--role", "seed", "--ledger-authority", authority!, "--ledger-open-validation", "true"],
    env: {},
    cwd: dir,
  });
  const clock = new ManualClock(T0);
  const db = openDatabase(paths.serviceDb, SERVICE_MIGRATIONS, { now: () => clock.now() });
  try {
    const events = new EventLog(db, () => clock.now());
    const started = startLedger({ config, paths, events, clock, log: silentLogger, nodeId: self });
    assert.equal(started.ledger, undefined);
    assert.throws(
      () => started.handlers["ledger.machine_list"]({}, { from: "http" }),
      (error: RpcError) => error.code === "not_found" && error.message.includes(authority!),
    );
    started.stop();
  } finally {
    db.close();
  }
});

Deno.test("an answer too large for one network reply is refused with a hint to narrow it", async () => {
  const { alice, bob } = await devWallets();
  const seed = await seedLedger();
  try {
    for (let index = 0; index < 600; index++) {
      seed.handlers["ledger.machine_register"]({
        signed_by: { account: alice.address, nonce: `n-${index}`, nonce_expires_at: T0 + 600_000 },
        ...registration({
          machine: `m-${index}`,
          owner: alice.address,
          config: CONFIG,
          prices: { hour: "5" },
          signedAt: T0,
        }),
      }, { from: "http" });
    }
    const all = await answerLedgerRpc({ method: "ledger.machine_list", params: {} }, seed.handlers);
    assert.equal(all.outcome, "error");
    assert.equal((all as { code: string }).code, "invalid_params");
    assert.match((all as { message: string }).message, /narrow the query/);
    const narrowed = await answerLedgerRpc(
      { method: "ledger.machine_list", params: { owner: bob.address } },
      seed.handlers,
    );
    assert.deepEqual(narrowed, { outcome: "ok", result: { machines: [] } });
  } finally {
    await seed.close();
  }
});
