/** The operator endpoints on their own: who is let in, how queries reach the node service. */
import assert from "node:assert/strict";
import { type AppDeps, createApp } from "../../http/mod.ts";
import { type Method, type ParamsOf, silentLogger } from "../../mod/mod.ts";

const TOKEN = "q2J1bkP0v8k6rM7c3xYtE9wZfLhN4sGaUoIiDyBeVjX";
const BEARER = { authorization: `Bearer ${TOKEN}` };

function appWith(options: { token?: string; address?: string } = {}) {
  const calls: Array<{ method: Method; params: unknown }> = [];
  const call = (<M extends Method>(method: M, params: ParamsOf<M>) => {
    calls.push({ method, params });
    switch (method) {
      case "events.list":
        return Promise.resolve({
          events: [{
            id: 7,
            at: 1_000,
            actor: "5Alice",
            action: "vm.create",
            target: "vm-1",
            result: "ok",
            detail: {},
          }],
          next_before_id: 7,
        });
      case "vm_image.add":
        return Promise.resolve({
          name: "ubuntu",
          state: "adding",
          format: null,
          size_bytes: null,
          virtual_size_bytes: null,
          sha256: null,
          source: "https://images.example/ubuntu.qcow2",
          error: null,
          added_at: 1,
          updated_at: 1,
          progress: { done_bytes: 0, total_bytes: null },
          used_by: [],
          added_by: null,
        });
      default:
        return Promise.reject(new Error(`unexpected ${method}`));
    }
  }) as AppDeps["call"];
  const app = createApp({
    call,
    log: silentLogger,
    operatorToken: "token" in options ? options.token : TOKEN,
    clientAddress: () => options.address ?? "127.0.0.1",
  });
  return { app, calls };
}

Deno.test("operator endpoints let in only a local caller with the token", async () => {
  const code = async (response: Response | Promise<Response>) => {
    const answered = await response;
    return [answered.status, (await answered.json()).error_code];
  };
  const { app, calls } = appWith();
  assert.deepEqual(await code(app.request("/api/v1/operator/events", { headers: BEARER })), [
    200,
    0,
  ]);
  assert.deepEqual(await code(app.request("/api/v1/operator/events")), [401, -32001]);
  assert.deepEqual(
    await code(app.request("/api/v1/operator/events", { headers: { authorization: "Bearer x" } })),
    [401, -32001],
  );
  assert.deepEqual(
    await code(app.request("/api/v1/operator/events", { headers: { authorization: TOKEN } })),
    [401, -32001],
  );
  // IPv6 loopback and IPv4-mapped loopback count as local.
  for (const address of ["::1", "::ffff:127.0.0.1", "127.0.0.2"]) {
    const local = appWith({ address }).app;
    assert.equal((await local.request("/api/v1/operator/events", { headers: BEARER })).status, 200);
  }
  // Elsewhere, even with the right token: refused.
  for (const address of ["10.0.0.5", "::ffff:10.0.0.5", "2001:db8::1"]) {
    const remote = appWith({ address }).app;
    assert.deepEqual(
      await code(remote.request("/api/v1/operator/events", { headers: BEARER })),
      [403, -32003],
    );
  }
  // A request tunnelled in from another node never reaches them.
  const tunnelled = await app.fetch(
    new Request("http://node/api/v1/operator/events", { headers: BEARER }),
    { remoteNode: "12D3KooWLNDhWRc1VNwjKGS69Qbu2i4SVKh6aZW3HEc9T5pTGH5k" },
  );
  assert.equal(tunnelled.status, 403);
  // No token configured: closed to everyone.
  const closed = appWith({ token: undefined }).app;
  assert.equal((await closed.request("/api/v1/operator/events", { headers: BEARER })).status, 403);
  // Only the one allowed request reached the node service.
  assert.equal(calls.length, 1);
});

Deno.test("GET /api/v1/operator/events passes filters and paging to the event log; bad ones are 400", async () => {
  const { app, calls } = appWith();
  const response = await app.request(
    "/api/v1/operator/events?action=vm.&actor=5Alice&result=ok&since=10&until=20&before_id=9&limit=2",
    { headers: BEARER },
  );
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.equal(body.data.next_before_id, 7);
  assert.equal(body.data.events[0].action, "vm.create");
  assert.deepEqual(calls[0], {
    method: "events.list",
    params: {
      action: "vm.",
      actor: "5Alice",
      result: "ok",
      since: 10,
      until: 20,
      before_id: 9,
      limit: 2,
    },
  });
  for (
    const query of [
      "limit=0",
      "limit=501",
      "result=maybe",
      "action=VM%20CREATE",
      "since=20&until=10",
      "before_id=-1",
    ]
  ) {
    const refused = await app.request(`/api/v1/operator/events?${query}`, { headers: BEARER });
    assert.equal(refused.status, 400, query);
  }
  assert.equal(calls.length, 1);
});

Deno.test("POST /api/v1/operator/images/vm adds an image as the operator; exactly one source", async () => {
  const { app, calls } = appWith();
  const post = (body: unknown) =>
    app.request("/api/v1/operator/images/vm", {
      method: "POST",
      headers: { ...BEARER, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const added = await post({ name: "ubuntu", url: "https://images.example/ubuntu.qcow2" });
  assert.equal(added.status, 202);
  assert.equal((await added.json()).data.state, "adding");
  assert.deepEqual(calls[0], {
    method: "vm_image.add",
    params: {
      actor: "operator",
      name: "ubuntu",
      source: { kind: "url", url: "https://images.example/ubuntu.qcow2" },
      sha256: undefined,
    },
  });
  for (
    const body of [
      { name: "ubuntu" },
      { name: "ubuntu", url: "https://a/b", path: "/srv/b.qcow2" },
      { name: "../etc", path: "/srv/b.qcow2" },
      { name: "ubuntu", url: "file:///etc/passwd" },
      { name: "ubuntu", path: "/srv/b.qcow2", sha256: "abc" },
    ]
  ) {
    assert.equal((await post(body)).status, 400, JSON.stringify(body));
  }
  assert.equal(calls.length, 1);
});
