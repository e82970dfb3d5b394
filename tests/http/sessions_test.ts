/**
 * Delegated sessions through the app: the renter makes one with its wallet,
 * the holder operates the renter's VMs with `X-DBC-Session` alone, and is
 * refused everything else and after revocation. Sessions live in a real
 * SQLite store behind the stand-in node service.
 */
import assert from "node:assert/strict";
import type { AppDeps } from "../../http/mod.ts";
import { openDatabase, RpcError } from "../../mod/mod.ts";
import { EventLog } from "../../node_service/event_log.ts";
import { SERVICE_MIGRATIONS } from "../../node_service/migrations.ts";
import { sessionHandlers, SessionStore } from "../../node_service/sessions.ts";
import { scratchDir } from "../helpers.ts";
import { devWallets } from "../wallets.ts";
import { gpuApp, TEST_GPU_NODE } from "./app_request.ts";

const NODE = TEST_GPU_NODE;
const here = { peer_nodes_list: [NODE] };
const at = (path: string) => `${path}?node_id=${NODE}`;

Deno.test("a session operates the renter's VMs without the wallet, and nothing else", async () => {
  const { alice, bob } = await devWallets();
  const dir = await scratchDir("http-sessions");
  const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS);
  try {
    const handlers = sessionHandlers(new SessionStore(db, Date.now), new EventLog(db, Date.now));
    const vms = [
      { id: "vm-alice-1", owner: alice.address, state: "running" },
      { id: "vm-bob-1", owner: bob.address, state: "running" },
    ];
    const stops: Array<Record<string, unknown>> = [];
    const call = (async (method: string, params: Record<string, unknown>) => {
      if (method.startsWith("session.")) {
        // deno-lint-ignore no-explicit-any
        return await (handlers as any)[method](params, { from: "http" });
      }
      switch (method) {
        case "lease.check":
          return {
            renting: params.account === alice.address,
            lease: { state: "none" },
            verification: "ledger",
            checked_at: 0,
          };
        case "vm.list":
          return { vms: vms.map(fullVm) };
        case "vm.get": {
          const vm = vms.find((candidate) => candidate.id === params.id);
          if (!vm) throw new RpcError("not_found", "no such VM");
          return { ...fullVm(vm), hypervisor: { state: "missing" } };
        }
        case "vm.stop":
          stops.push(params);
          return fullVm({
            ...vms.find((candidate) => candidate.id === params.id)!,
            state: "stopped",
          });
      }
      throw new RpcError("unavailable", `${method} is not wired in this test`);
    }) as unknown as AppDeps["call"];
    const { request } = gpuApp(call);

    // Only the renter makes one; the id comes back once.
    assert.equal((await request("POST", "/api/v1/sessions", { signer: bob }, here)).status, 403);
    const made = await request("POST", "/api/v1/sessions", { signer: alice }, {
      ...here,
      ttl_s: 3600,
      label: "ci runner",
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const session: string = made.body.data.session_id;
    const listed = await request("GET", at("/api/v1/sessions"), { signer: alice });
    assert.equal(listed.body.data.sessions[0].prefix, made.body.data.prefix);
    assert.doesNotMatch(JSON.stringify(listed.body), new RegExp(session));

    // The holder sees and stops Alice's VMs only; the event log will name the session.
    const tasks = await request("GET", at("/api/v1/tasks"), { session });
    assert.deepEqual(tasks.body.data.tasks.map((vm: { id: string }) => vm.id), ["vm-alice-1"]);
    assert.equal((await request("GET", at("/api/v1/tasks/vm-bob-1"), { session })).status, 404);
    const stopped = await request("POST", "/api/v1/tasks/vm-alice-1/stop", { session }, here);
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    assert.equal(stops[0]!.actor, `${alice.address}/session:${made.body.data.prefix}`);
    // The original's body field works too.
    const inBody = await request("POST", "/api/v1/tasks/vm-alice-1/stop", {}, {
      ...here,
      session_id: session,
    });
    assert.equal(inBody.status, 200, JSON.stringify(inBody.body));

    // Not the wallet: no new sessions, no listing them, no revoking.
    assert.equal((await request("POST", "/api/v1/sessions", { session }, here)).status, 401);
    assert.equal((await request("GET", at("/api/v1/sessions"), { session })).status, 401);
    // Garbled, or mixed with a signature: refused.
    assert.equal((await request("GET", at("/api/v1/tasks"), { session: "ses_short" })).status, 401);
    assert.equal(
      (await request("GET", at("/api/v1/tasks"), { session: garbled(session) })).status,
      401,
    );
    assert.equal(
      (await request("GET", at("/api/v1/tasks"), { session, signer: alice })).status,
      401,
    );

    // Revoked: refused from then on.
    const revoked = await request(
      "POST",
      `/api/v1/sessions/${made.body.data.prefix}/revoke`,
      { signer: alice },
      here,
    );
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    const after = await request("GET", at("/api/v1/tasks"), { session });
    assert.equal(after.status, 401);
    assert.match(after.body.error_message, /no live session/);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** The id with its last character changed: a fixed replacement would equal it one time in 64. */
function garbled(session: string): string {
  const last = session.slice(-1);
  return `${session.slice(0, -1)}${last === "x" ? "y" : "x"}`;
}

function fullVm(vm: { id: string; owner: string; state: string }) {
  return {
    ...vm,
    kind: "vm",
    gpus: [],
    created_at: 1,
    updated_at: 1,
    last_error: null,
    domain: `dbc-${vm.id}`,
    os: "linux",
    image: "base.qcow2",
    cpu_cores: 1,
    memory_mib: 256,
    disk_gib: null,
    firmware: "bios",
    gpu_devices: [],
    network: { mode: "user", source: null },
    login: { protocol: "ssh", host: "127.0.0.1", port: 30001 },
    vnc: { listen: "127.0.0.1", port: null, password: "secret12" },
  };
}
