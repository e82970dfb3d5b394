/**
 * Renters' monitoring servers through the HTTP API, natively
 * (`/api/v1/monitor`, `/api/v1/monitor/set`) and in the original dialect
 * (`POST /api/v1/monitor[/set]`): only the machine's renter (or its session)
 * names servers; a bad or private address is refused and the list stays as
 * it was. Behind the app, the node service's real handlers over a real
 * SQLite store, every call checked against the message catalogue both ways
 * as at the worker boundary.
 */
import assert from "node:assert/strict";
import type { AppDeps } from "../../http/mod.ts";
import { openDatabase, silentLogger, systemClock } from "../../mod/mod.ts";
import { EventLog } from "../../node_service/event_log.ts";
import { SERVICE_MIGRATIONS } from "../../node_service/migrations.ts";
import { MonitorService, MonitorStore } from "../../node_service/monitor/mod.ts";
import { sessionHandlers, SessionStore } from "../../node_service/sessions.ts";
import { scratchDir } from "../helpers.ts";
import { devWallets } from "../wallets.ts";
import { gpuApp, TEST_GPU_NODE } from "./app_request.ts";
import { checkedCall, leaseCheck } from "./checked_call.ts";
import { gpuNode, send } from "./compat_fixture.ts";

const NODE = TEST_GPU_NODE;

/** The node service's monitor (and session) handlers on a real database, behind a checked call. */
async function nodeService(renters: string[], fallback?: AppDeps["call"]) {
  const dir = await scratchDir("http-monitor");
  const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS);
  const events = new EventLog(db, Date.now);
  const store = new MonitorStore(db, Date.now);
  const monitor = new MonitorService({
    config: {
      role: "gpu",
      monitor_interval_s: 30,
      monitor_allow_private: false,
      libvirt_uri: "qemu:///system",
    },
    machineId: "5d".repeat(32),
    store,
    events,
    clock: systemClock,
    log: silentLogger,
    vms: () => [],
    gpuReport: () => Promise.reject(new Error("not asked")),
    renting: () => Promise.resolve(false),
    deniedHosts: [],
    diskPath: dir,
  });
  const call = checkedCall({
    ...monitor.handlers(),
    ...sessionHandlers(new SessionStore(db, Date.now), events),
    ...leaseCheck(renters),
  }, fallback);
  return {
    call,
    store,
    events,
    async close() {
      db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("native: the renter sets and reads its servers; bad input is refused and changes nothing", async () => {
  const { alice, bob } = await devWallets();
  const service = await nodeService([alice.address]);
  try {
    const { request } = gpuApp(service.call);
    const here = { peer_nodes_list: [NODE] };
    const servers = ["zabbix.example.com:10051", "[2606:4700::1]:10051"];

    const notRenter = await request("POST", "/api/v1/monitor/set", { signer: bob }, {
      ...here,
      servers,
    });
    assert.equal(notRenter.status, 403, JSON.stringify(notRenter.body));
    assert.deepEqual(service.store.all().size, 0);
    const unsigned = await request("POST", "/api/v1/monitor/set", {}, { ...here, servers });
    assert.equal(unsigned.status, 401);

    const set = await request("POST", "/api/v1/monitor/set", { signer: alice }, {
      ...here,
      servers: ["Zabbix.Example.com:10051", "[2606:4700::1]:10051"],
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body, { error_code: 0, error_message: "", data: { servers } });
    const listed = await request("GET", `/api/v1/monitor?node_id=${NODE}`, { signer: alice });
    assert.deepEqual(listed.body.data, { servers });
    assert.equal(
      (await request("GET", `/api/v1/monitor?node_id=${NODE}`, { signer: bob })).status,
      403,
    );

    const refusals: Array<[unknown, RegExp]> = [
      [["zabbix.example.com"], /not match format ip:port/],
      [["10.0.0.7:10051"], /loopback, private or link-local.*monitor_allow_private/],
      [["localhost:10051"], /monitor_allow_private/],
      [["a.example:1", "b.example:1", "c.example:1"], /servers/],
      [["a.example:1", "A.example:1"], /named twice/],
      [[`${"a".repeat(300)}:1`], /servers/],
      ["zabbix.example.com:10051", /servers/],
      [[10051], /servers/],
    ];
    for (const [bad, reason] of refusals) {
      const refused = await request("POST", "/api/v1/monitor/set", { signer: alice }, {
        ...here,
        servers: bad,
      });
      assert.equal(refused.status, 400, JSON.stringify(bad));
      assert.equal(refused.body.error_code, -25, JSON.stringify(refused.body));
      assert.match(refused.body.error_message, reason, JSON.stringify(bad));
    }
    assert.deepEqual(
      (await request("GET", `/api/v1/monitor?node_id=${NODE}`, { signer: alice })).body.data,
      { servers },
    );
    assert.equal(service.events.list({ action: "monitor.set", limit: 10 }).length, 1);

    // The renter's session may change them too (the original's session_id did).
    const session = await request("POST", "/api/v1/sessions", { signer: alice }, {
      ...here,
      ttl_s: 3600,
    });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    const cleared = await request(
      "POST",
      "/api/v1/monitor/set",
      { session: session.body.data.session_id },
      { ...here, servers: [] },
    );
    assert.deepEqual(cleared.body.data, { servers: [] });
    assert.deepEqual(service.store.list(alice.address), []);
    const [last] = service.events.list({ action: "monitor.set", limit: 10 });
    assert.match(last!.actor, new RegExp(`^${alice.address}/session:`));
  } finally {
    await service.close();
  }
});

Deno.test("original dialect: /monitor/set and /monitor as the original answers them", async () => {
  const { alice, bob } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  const service = await nodeService([alice.address], node.call);
  try {
    const app = node.makeApp(service.call);
    const servers = ["116.169.53.132:10051", "zabbix.example.com:10051"];

    assert.deepEqual(
      await send(app, "/api/v1/monitor/set", node.signedBody(alice, { servers })),
      { status: 200, body: { errcode: 0, message: "ok" } },
    );
    assert.deepEqual(await send(app, "/api/v1/monitor", node.signedBody(alice)), {
      status: 200,
      body: { errcode: 0, message: { servers } },
    });

    const notRenter = await send(app, "/api/v1/monitor/set", node.signedBody(bob, { servers: [] }));
    assert.equal(notRenter.status, 200);
    assert.equal(notRenter.body.errcode, -3);
    assert.match(notRenter.body.message, /^check authority failed: wallet not rented/);
    assert.equal((await send(app, "/api/v1/monitor", node.signedBody(bob))).body.errcode, -3);

    const refusals: Array<[Record<string, unknown>, RegExp]> = [
      [{ servers: "116.169.53.132:10051" }, /^servers must be an array$/],
      [
        { servers: ["a.example:1", "b.example:1", "c.example:1"] },
        /^can not enter more than two servers$/,
      ],
      [{ servers: ["116.169.53.132"] }, /server not match format ip:port/],
      [{ servers: [10051] }, /^server not match format ip:port$/],
      [{ servers: ["192.168.0.10:10051"] }, /monitor_allow_private/],
      [{}, /^additional has no servers$/],
    ];
    for (const [additional, reason] of refusals) {
      const refused = await send(app, "/api/v1/monitor/set", node.signedBody(alice, additional));
      assert.equal(refused.status, 200, JSON.stringify(additional));
      assert.equal(refused.body.errcode, 1, JSON.stringify(refused.body));
      assert.match(refused.body.message, reason, JSON.stringify(additional));
    }
    assert.deepEqual((await send(app, "/api/v1/monitor", node.signedBody(alice))).body.message, {
      servers,
    });

    // Unsigned: refused by the GPU node (an absent multisig object passes the client-end, as there).
    const unsigned = await send(app, "/api/v1/monitor/set", {
      peer_nodes_list: [node.machineId],
      additional: { servers: [] },
    });
    assert.equal(unsigned.body.errcode, -3);
    assert.match(unsigned.body.message, /^check authority failed/);
    // A GET, a deeper path: the original's 400s.
    assert.equal((await send(app, "/api/v1/monitor", undefined, { method: "GET" })).status, 400);
    assert.equal(
      (await send(app, "/api/v1/monitor/set/more", node.signedBody(alice, { servers }))).body
        .errcode,
      -32600,
    );
  } finally {
    await service.close();
    await node.close();
  }
});
