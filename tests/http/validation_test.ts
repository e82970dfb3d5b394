/**
 * The validators' check VM routes through the app: wallet-signed only (no
 * session, no anonymous caller), the signer is the validator the node
 * service decides for, refusals keep their status, the create answers at once
 * with an operation that follows the VM's making, the routes are in the
 * OpenAPI document, and a client-end forwards them to the GPU node named.
 */
import assert from "node:assert/strict";
import { type AppDeps, createApp, createAppWithRoutes } from "../../http/mod.ts";
import { type CheckVm, RpcError, silentLogger } from "../../mod/mod.ts";
import { devWallets } from "../wallets.ts";
import { appRequest, gpuApp, TEST_GPU_NODE } from "./app_request.ts";

const NODE = TEST_GPU_NODE;
const OTHER = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo";
const CHECK = "chk-0123456789abcdef";

function check(validator: string, state: "live" | "deleted" = "live"): CheckVm {
  const base = {
    check_id: CHECK,
    validator,
    machine_id: NODE,
    round: 1,
    slot: { starts_at: 0, ends_at: 1_000 },
    size: { cpu_cores: 2, memory_gib: 1, disk_gib: 1, gpu_count: 0 },
    image: "base.qcow2",
    created_at: 1,
    updated_at: 1,
  };
  return state === "live"
    ? { ...base, state, vm_state: "creating" }
    : { ...base, state, reason: "validator", deleted_at: 2, error: null };
}

Deno.test("check VM routes: signed by the validator, decided by the node, followed as an operation", async () => {
  const { alice, bob } = await devWallets();
  const calls: Array<{ method: string; params: Record<string, unknown> }> = [];
  let made: () => void = () => {};
  const call = (async (method: string, params: Record<string, unknown>) => {
    calls.push({ method, params });
    switch (method) {
      case "validation.check_create":
        if (params.validator !== bob.address) {
          throw new RpcError("forbidden", `${params.validator} holds no order for machine`);
        }
        return check(bob.address);
      case "validation.check_wait":
        await new Promise<void>((resolve) => (made = resolve));
        return { ...check(bob.address), vm_state: "running" };
      case "validation.check_get":
        return {
          check: check(String(params.validator)),
          facts: { state: "booting" },
        };
      case "validation.check_list":
        return { checks: [check(String(params.validator))] };
      case "validation.check_delete":
        return check(String(params.validator), "deleted");
    }
    throw new RpcError("unavailable", `${method} is not wired in this test`);
  }) as unknown as AppDeps["call"];
  const { app } = gpuApp(call);
  const at = (path: string) => `${path}?node_id=${NODE}`;
  const body = {
    image_name: "base.qcow2",
    direct_boot: { kernel_image: "vmlinuz", initrd_image: "initrd.img", cmdline: "console=ttyS0" },
  };

  // Nobody unsigned, and no session either: a validator signs with its wallet.
  assert.equal(
    (await appRequest(app, "POST", at("/api/v1/validation/checks"), {}, body)).status,
    401,
  );
  const session = await appRequest(
    app,
    "POST",
    at("/api/v1/validation/checks"),
    { session: `ses_${"A".repeat(32)}` },
    body,
  );
  assert.equal(session.status, 401);
  assert.equal(calls.length, 0, "nothing reached the node service");

  const refused = await appRequest(
    app,
    "POST",
    at("/api/v1/validation/checks"),
    { signer: alice },
    body,
  );
  assert.equal(refused.status, 403);
  assert.match(refused.body.error_message, /holds no order/);

  const created = await appRequest(
    app,
    "POST",
    at("/api/v1/validation/checks"),
    { signer: bob },
    body,
  );
  assert.equal(created.status, 202, JSON.stringify(created.body));
  assert.equal(created.body.data.check.check_id, CHECK);
  const create = calls.find((entry) =>
    entry.method === "validation.check_create" && entry.params.validator === bob.address
  );
  assert.deepEqual(create?.params, {
    validator: bob.address,
    image: "base.qcow2",
    direct_boot: body.direct_boot,
  });
  const operationId: string = created.body.data.operation_id;
  const operation = () =>
    appRequest(app, "GET", at(`/api/v1/operations/${operationId}`)).then((answer) =>
      answer.body.data
    );
  assert.equal((await operation()).state, "running");
  assert.equal((await operation()).target, CHECK);
  made();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal((await operation()).state, "done");
  assert.deepEqual(calls.find((entry) => entry.method === "validation.check_wait")?.params, {
    validator: bob.address,
    check_id: CHECK,
  });

  // Reads and the delete act for the signer alone.
  const detail = await appRequest(app, "GET", at(`/api/v1/validation/checks/${CHECK}`), {
    signer: bob,
  });
  assert.equal(detail.status, 200, JSON.stringify(detail.body));
  assert.deepEqual(detail.body.data.facts, { state: "booting" });
  const listed = await appRequest(app, "GET", at("/api/v1/validation/checks"), { signer: bob });
  assert.equal(listed.body.data.checks.length, 1);
  const deleted = await appRequest(
    app,
    "POST",
    `/api/v1/validation/checks/${CHECK}/delete`,
    { signer: bob },
    { peer_nodes_list: [NODE] },
  );
  assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
  assert.equal(deleted.body.data.reason, "validator");
  for (
    const method of ["validation.check_get", "validation.check_list", "validation.check_delete"]
  ) {
    assert.equal(calls.find((entry) => entry.method === method)?.params.validator, bob.address);
  }
  assert.equal(
    (await appRequest(app, "GET", at(`/api/v1/validation/checks/${CHECK}`))).status,
    401,
  );
});

Deno.test("a client-end forwards check VM requests to the GPU node named", async () => {
  const { bob } = await devWallets();
  const sent: Array<{ to: string; path: string }> = [];
  const call = ((method: string, params: unknown) => {
    if (method === "network.send") {
      const send = params as { to: string; payload: { body: { path: string } } };
      sent.push({ to: send.to, path: send.payload.body.path });
      return Promise.resolve({
        from: send.to,
        reply: {
          type: "app",
          topic: "api.http",
          body: { status: 200, body: JSON.stringify({ error_code: 0, data: { checks: [] } }) },
        },
        rtt_ms: 1,
        hops: 1,
        route: "direct",
      });
    }
    return Promise.reject(new RpcError("unavailable", `${method} is not answered here`));
  }) as unknown as AppDeps["call"];
  const app = createApp({
    call,
    log: silentLogger,
    node: { nodeId: NODE, role: "client", forwardTimeoutMs: 1_000 },
  });
  const path = `/api/v1/validation/checks?node_id=${OTHER}`;
  const answer = await appRequest(app, "GET", path, { signer: bob });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.deepEqual(sent, [{ to: OTHER, path }]);
  // Without a node named there is nowhere to send it.
  const unnamed = await appRequest(app, "GET", "/api/v1/validation/checks", { signer: bob });
  assert.equal(unnamed.status, 400);
  assert.match(unnamed.body.error_message, /name the GPU node/);
});

Deno.test("the check VM routes are in the OpenAPI document, wallet-signed", () => {
  const { routes } = createAppWithRoutes({
    call: (() => Promise.reject(new Error("unused"))) as unknown as AppDeps["call"],
    log: silentLogger,
  });
  const mine = routes.specs.filter((spec) => spec.path.startsWith("/api/v1/validation/"));
  assert.deepEqual(mine.map((spec) => `${spec.method} ${spec.path}`), [
    "post /api/v1/validation/checks",
    "get /api/v1/validation/checks",
    "get /api/v1/validation/checks/:check_id",
    "post /api/v1/validation/checks/:check_id/delete",
  ]);
  assert.ok(mine.every((spec) => spec.auth === "wallet" && spec.tags.includes("validation")));
});
