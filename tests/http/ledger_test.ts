/**
 * The ledger's HTTP endpoints end to end inside one process: the hono app,
 * wallet signatures made by polkadot-js, the node service's ledger handlers
 * and a real SQLite ledger, all on one test clock.
 */
import assert from "node:assert/strict";
import { u8aToHex, u8aWrapBytes } from "@polkadot/util";
import { encodeMultiAddress } from "@polkadot/util-crypto";
import { type AppDeps, createApp } from "../../http/mod.ts";
import {
  generateNodeKeys,
  loadConfig,
  type MachineConfig,
  ManualClock,
  type Method,
  METHODS,
  nodePaths,
  openDatabase,
  silentLogger,
} from "../../mod/mod.ts";
import { EventLog } from "../../node_service/event_log.ts";
import { startLedger } from "../../node_service/ledger/handlers.ts";
import { SERVICE_MIGRATIONS } from "../../node_service/migrations.ts";
import { scratchDir } from "../helpers.ts";
import { heartbeat, machineId, registration } from "../machines.ts";
import { devWallets, freshNonce, multisigHeaders, signFor, walletHeaders } from "../wallets.ts";

const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 5, 1);
const CONFIG: MachineConfig = {
  gpu_model: "NVIDIA A100-SXM4-80GB",
  gpu_count: 8,
  cpu_model: "AMD EPYC 7763",
  cpu_cores: 128,
  memory_gib: 1024,
  disk_gib: 8000,
};
const BASE = "http://node.test";

/** The ledger admin of every ledger these tests start (funds renters). */
const ADMIN = "5CiPPseXPECbkjWCa6MnjNokrgYjMqmKndv2rSnekmSK2DjL"; // //Ferdie

async function seed(options: { role?: "seed" | "gpu"; legacy?: boolean } = {}) {
  const dir = await scratchDir("ledger-http");
  const paths = nodePaths(dir);
  await Deno.mkdir(paths.serviceDir, { recursive: true });
  const { config } = loadConfig({
    args: [
      "--role",
      options.role ?? "seed",
      "--ledger-verification-window-s",
      String(9 * 3_600),
      "--ledger-open-validation",
      "true",
      "--ledger-admins",
      ADMIN,
    ],
    env: {},
    cwd: dir,
  });
  const clock = new ManualClock(T0);
  const db = openDatabase(paths.serviceDb, SERVICE_MIGRATIONS, { now: () => clock.now() });
  const events = new EventLog(db, () => clock.now());
  const started = startLedger({ config, paths, events, clock, log: silentLogger });
  const handlers = started.handlers as Record<
    string,
    (params: unknown, context: unknown) => unknown
  >;
  // Like the worker boundary: parameters and results checked against the catalogue.
  const call = (async (method: Method, params: unknown) => {
    const spec = METHODS[method];
    const handler = handlers[method];
    if (!handler) throw new Error(`${method} is not wired in this test`);
    return spec.result.parse(await handler(spec.params.parse(params), { from: "http" }));
  }) as AppDeps["call"];
  const makeApp = () =>
    createApp({
      call,
      log: silentLogger,
      now: () => clock.now(),
      walletAuth: { timestampWindowMs: 300_000, allowLegacyNonce: options.legacy ?? false },
    });
  return {
    clock,
    events,
    call,
    app: makeApp(),
    makeApp,
    close() {
      started.stop();
      db.close();
    },
  };
}

type App = ReturnType<typeof createApp>;

async function send(
  app: App,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const response = await app.request(`${BASE}${path}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

Deno.test("writes signed by polkadot-js wallets are accepted; wrong key, changed body, replay and stale time are 401", async () => {
  const { alice, aliceEd, bob } = await devWallets();
  const node = await seed();
  try {
    const now = node.clock.now();
    const path = "/api/v1/ledger/machines";
    const body = registration({
      machine: "m-http-1",
      owner: alice.address,
      config: CONFIG,
      prices: { hour: "1000" },
      signedAt: now,
    });
    const unsigned = await send(node.app, "POST", path, body);
    assert.equal(unsigned.status, 401);
    assert.equal(unsigned.body.error_code, -32001);
    assert.match(unsigned.body.error_message, /^missing/);

    const signed = walletHeaders(alice, { method: "POST", path, body, timestamp: now });
    const wrongKey = await send(node.app, "POST", path, body, {
      ...signed,
      "x-dbc-wallet": bob.address,
    });
    assert.equal(wrongKey.status, 401);
    assert.match(wrongKey.body.error_message, /^bad_signature/);
    const changed = await send(node.app, "POST", path, {
      ...body,
      machine_id: machineId("m-http-x"),
    }, signed);
    assert.equal(changed.status, 401);
    assert.match(changed.body.error_message, /^bad_signature/);
    const stale = walletHeaders(alice, { method: "POST", path, body, timestamp: now - 300_001 });
    assert.match(
      (await send(node.app, "POST", path, body, stale)).body.error_message,
      /^stale_timestamp/,
    );

    const created = await send(node.app, "POST", path, body, signed);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.data.owner, alice.address);
    assert.equal(created.body.data.status, "unverified");
    const replay = await send(node.app, "POST", path, body, signed);
    assert.equal(replay.status, 401);
    assert.match(replay.body.error_message, /^replayed/);
    // A node restarted (fresh in-memory guards) still refuses it: the ledger kept the nonce.
    const afterRestart = await send(node.makeApp(), "POST", path, body, signed);
    assert.equal(afterRestart.status, 409);
    assert.match(afterRestart.body.error_message, /already used/);

    // ed25519 wallets sign too; the signature may also sit in the body, the original's way.
    const edBody: Record<string, unknown> = {
      ...registration({
        machine: "m-http-ed",
        owner: aliceEd.address,
        config: CONFIG,
        prices: { day: "9" },
        signedAt: now,
      }),
      wallet: aliceEd.address,
      nonce: freshNonce(),
      timestamp: now,
    };
    edBody.sign = signFor(aliceEd, aliceEd.address, {
      method: "POST",
      path,
      body: edBody,
      timestamp: now,
      nonce: edBody.nonce as string,
    });
    const ed = await send(node.app, "POST", path, edBody);
    assert.equal(ed.status, 201, JSON.stringify(ed.body));
    assert.equal(ed.body.data.owner, aliceEd.address);

    const events = node.events.list({ action: "ledger.machine_register", limit: 10 });
    assert.deepEqual(events.map((event) => [event.actor, event.result]), [
      [aliceEd.address, "ok"],
      [alice.address, "error"], // the replay the ledger refused after the restart
      [alice.address, "ok"],
    ]);
  } finally {
    node.close();
  }
});

Deno.test("onboarding over HTTP: three validators grab, a fourth is 409, slots are 403, results put it online", async () => {
  const { alice, bob, charlie, dave, eve } = await devWallets();
  const node = await seed();
  const signed = (pair: typeof alice, method: string, path: string, body?: unknown) =>
    send(
      node.app,
      method,
      path,
      body,
      walletHeaders(pair, { method, path, body, timestamp: node.clock.now() }),
    );
  try {
    const register = registration({
      machine: "m-onboard",
      owner: alice.address,
      config: CONFIG,
      prices: { hour: "5" },
      signedAt: node.clock.now(),
    });
    const id = register.machine_id;
    assert.equal((await signed(alice, "POST", "/api/v1/ledger/machines", register)).status, 201);
    const grab = `/api/v1/ledger/machines/${id}/grab`;
    for (const validator of [bob, charlie, dave]) {
      const grabbed = await signed(validator, "POST", grab);
      assert.equal(grabbed.status, 200, JSON.stringify(grabbed.body));
    }
    const fourth = await signed(eve, "POST", grab);
    assert.equal(fourth.status, 409);
    assert.match(fourth.body.error_message, /already has 3 validators/);

    const report = `/api/v1/ledger/machines/${id}/report`;
    const good = { report: { kind: "observed", observed: CONFIG } };
    const early = await signed(charlie, "POST", report, good);
    assert.equal(early.status, 403, "Charlie's first slot is the second hour");
    assert.equal((await signed(bob, "POST", report, good)).body.data.status, "verifying");
    node.clock.advance(HOUR);
    assert.equal((await signed(charlie, "POST", report, good)).body.data.status, "verifying");
    const listed = await send(node.app, "GET", "/api/v1/ledger/machines?status=verifying");
    assert.deepEqual(listed.body.data.machines.map((m: { machine_id: string }) => m.machine_id), [
      id,
    ]);
    node.clock.advance(HOUR);
    const done = await signed(dave, "POST", report, good);
    assert.equal(done.body.data.status, "online");
    const online = await send(node.app, "GET", "/api/v1/ledger/machines?status=online");
    assert.equal(online.body.data.machines.length, 1);
    const one = await send(node.app, "GET", `/api/v1/ledger/machines/${id}`);
    assert.equal(one.body.data.validation.validators.length, 3);
    assert.equal((await send(node.app, "GET", "/api/v1/ledger/machines/nope")).status, 404);
  } finally {
    node.close();
  }
});

Deno.test("a 2-of-3 multisig account rents with 2 signatures and not with 1; rentals are queried and renewed", async () => {
  const { alice, bob, charlie, dave, eve, ferdie } = await devWallets();
  const node = await seed();
  const signed = (pair: typeof alice, method: string, path: string, body?: unknown) =>
    send(
      node.app,
      method,
      path,
      body,
      walletHeaders(pair, { method, path, body, timestamp: node.clock.now() }),
    );
  try {
    const mRent = machineId("m-rent");
    const registered = await signed(
      eve,
      "POST",
      "/api/v1/ledger/machines",
      registration({
        machine: "m-rent",
        owner: eve.address,
        config: CONFIG,
        prices: { hour: "7" },
        signedAt: node.clock.now(),
      }),
    );
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    for (const validator of [bob, charlie, dave]) {
      await signed(validator, "POST", `/api/v1/ledger/machines/${mRent}/grab`);
    }
    for (const validator of [bob, charlie, dave]) {
      await signed(validator, "POST", `/api/v1/ledger/machines/${mRent}/report`, {
        report: { kind: "observed", observed: CONFIG },
      });
      node.clock.advance(HOUR);
    }
    // The machine's heartbeat: one silent for the three hours of its round is down, not rentable.
    await node.call("ledger.machine_heartbeat", heartbeat("m-rent", node.clock.now()));
    const signatories = [alice, bob, charlie];
    const account = encodeMultiAddress(signatories.map((pair) => pair.address), 2, 42);
    const path = "/api/v1/ledger/rentals";
    // The multisig account pays 70 for 10 hours, then 14 for 2 more: the admin funds it.
    const fundPath = `/api/v1/ledger/accounts/${account}/fund`;
    const funded = await signed(ferdie, "POST", fundPath, { amount: "100" });
    assert.equal(funded.status, 200, JSON.stringify(funded.body));
    const body = { machine_id: mRent, unit: "hour", count: 10 };
    const options = { method: "POST", path, body, timestamp: node.clock.now() };
    const one = await send(
      node.app,
      "POST",
      path,
      body,
      multisigHeaders(signatories, 2, [bob], options),
    );
    assert.equal(one.status, 401);
    assert.match(one.body.error_message, /^threshold_not_met/);
    const two = await send(
      node.app,
      "POST",
      path,
      body,
      multisigHeaders(signatories, 2, [alice, charlie], options),
    );
    assert.equal(two.status, 201, JSON.stringify(two.body));
    assert.equal(two.body.data.renter, account);
    assert.equal(two.body.data.total_amount, "70");
    assert.equal(two.body.data.ends_at, node.clock.now() + 10 * HOUR);
    const rentalId = two.body.data.rental_id;

    const got = await send(node.app, "GET", `/api/v1/ledger/rentals/${rentalId}`);
    assert.equal(got.body.data.renter, account);
    const lease = await send(
      node.app,
      "GET",
      `/api/v1/ledger/leases?machine_id=${mRent}&renter=${account}`,
    );
    assert.deepEqual(lease.body.data, {
      state: "active",
      rental_id: String(rentalId),
      ends_at: two.body.data.ends_at,
    });

    const renewPath = `/api/v1/ledger/rentals/${rentalId}/renew`;
    const renewBody = { unit: "hour", count: 2 };
    const byAlice = await signed(alice, "POST", renewPath, renewBody);
    assert.equal(byAlice.status, 403, "a signatory alone is not the multisig account");
    const renewed = await send(
      node.app,
      "POST",
      renewPath,
      renewBody,
      multisigHeaders(signatories, 2, [bob, charlie], {
        method: "POST",
        path: renewPath,
        body: renewBody,
        timestamp: node.clock.now(),
      }),
    );
    assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
    assert.equal(renewed.body.data.ends_at, two.body.data.ends_at + 2 * HOUR);
    assert.equal(renewed.body.data.total_amount, "84");

    const multisig = await signed(alice, "POST", "/api/v1/ledger/multisig", {
      signatories: signatories.map((pair) => pair.address),
      threshold: 2,
    });
    assert.equal(multisig.body.data.address, account);
    assert.equal(
      (await send(node.app, "GET", `/api/v1/ledger/multisig/${account}`)).body.data.threshold,
      2,
    );
  } finally {
    node.close();
  }
});

Deno.test("bare-nonce signatures: 401 by default, accepted where the operator turns legacy signing on", async () => {
  const { alice } = await devWallets();
  for (const legacy of [false, true]) {
    const node = await seed({ legacy });
    try {
      const nonce = freshNonce();
      const body = {
        ...registration({
          machine: `m-legacy-${legacy}`,
          owner: alice.address,
          config: CONFIG,
          prices: { day: "1" },
          signedAt: node.clock.now(),
        }),
        wallet: alice.address,
        nonce,
        sign: u8aToHex(alice.sign(u8aWrapBytes(new TextEncoder().encode(nonce)))),
      };
      const answer = await send(node.app, "POST", "/api/v1/ledger/machines", body);
      if (legacy) assert.equal(answer.status, 201, JSON.stringify(answer.body));
      else {
        assert.equal(answer.status, 401);
        assert.match(answer.body.error_message, /^legacy_refused/);
      }
    } finally {
      node.close();
    }
  }
});

Deno.test("a node that keeps no ledger says so", async () => {
  const node = await seed({ role: "gpu" });
  try {
    const answer = await send(node.app, "GET", "/api/v1/ledger/machines");
    assert.equal(answer.status, 404);
    assert.match(answer.body.error_message, /keeps no ledger: ledger_authority .* is not set/);
  } finally {
    node.close();
  }
});

Deno.test("ledger requests at a client-end or another seed go to the ledger authority only", async () => {
  const authority = generateNodeKeys().nodeId;
  const self = generateNodeKeys().nodeId;
  const sent: Array<{ to: string; topic: string; path: string }> = [];
  const call = ((method: Method, params: unknown) => {
    if (method === "network.send") {
      const send = params as {
        to: string;
        payload: { type: "app"; topic: string; body: { path: string } };
      };
      sent.push({ to: send.to, topic: send.payload.topic, path: send.payload.body.path });
      return Promise.resolve({
        from: send.to,
        reply: {
          type: "app",
          topic: "api.http",
          body: { status: 200, body: JSON.stringify({ error_code: 0, data: { machines: [] } }) },
        },
        rtt_ms: 1,
        hops: 1,
        route: "direct",
      });
    }
    // Connected peers that call themselves seeds are not consulted at all.
    if (method === "network.peers.active") throw new Error("peers are not asked");
    return Promise.reject(new Error(`unexpected call ${method}`));
  }) as AppDeps["call"];
  for (const role of ["client", "seed", "gpu"] as const) {
    const app = createApp({
      call,
      log: silentLogger,
      node: { nodeId: self, role, forwardTimeoutMs: 1_000, ledgerAuthority: authority },
    });
    const answer = await send(app, "GET", "/api/v1/ledger/machines?status=online");
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const write = await send(app, "POST", "/api/v1/ledger/rentals", {
      machine_id: "m-1",
      unit: "hour",
      count: 1,
    });
    assert.equal(write.status, 200, JSON.stringify(write.body));
  }
  assert.deepEqual(
    sent,
    ["client", "seed", "gpu"].flatMap(() => [
      { to: authority, topic: "api.http", path: "/api/v1/ledger/machines?status=online" },
      { to: authority, topic: "api.http", path: "/api/v1/ledger/rentals" },
    ]),
  );

  // Without ledger_authority a client-end refuses, naming the setting; nothing is sent.
  sent.length = 0;
  const unset = createApp({
    call,
    log: silentLogger,
    node: { nodeId: self, role: "client", forwardTimeoutMs: 1_000 },
  });
  const refused = await send(unset, "GET", "/api/v1/ledger/machines");
  assert.equal(refused.status, 503);
  assert.match(refused.body.error_message, /ledger_authority \(--ledger-authority/);
  assert.deepEqual(sent, []);

  // A ledger request that reached a non-authority seed through the network is not passed on.
  const other = createApp({
    call,
    log: silentLogger,
    node: { nodeId: self, role: "seed", forwardTimeoutMs: 1_000, ledgerAuthority: authority },
  });
  const tunnelled = await other.fetch(new Request(`${BASE}/api/v1/ledger/machines`), {
    remoteNode: generateNodeKeys().nodeId,
  });
  assert.equal(tunnelled.status, 404);
  assert.match((await tunnelled.json()).error_message, new RegExp(authority));
  assert.deepEqual(sent, []);
});
