/**
 * The chain adapter against a local WebSocket JSON-RPC server (127.0.0.1)
 * that replays the exchanges in tests/fixtures/substrate/dbc_chain.json.
 */
import assert from "node:assert/strict";
import { xxhashAsHex } from "@polkadot/util-crypto";
import { ManualClock, openDatabase } from "../../../mod/mod.ts";
import { EventLog } from "../../../node_service/event_log.ts";
import { JsonRpcError, JsonRpcWebSocket } from "../../../node_service/chain/json_rpc_ws.ts";
import { LeaseLoop, type LeaseTarget } from "../../../node_service/lease/loop.ts";
import { leaseCheckHandlers, verificationMachineId } from "../../../node_service/lease/mod.ts";
import { SERVICE_MIGRATIONS } from "../../../node_service/migrations.ts";
import { SubstrateVerification } from "../../../node_service/chain/substrate_rpc.ts";
import {
  decodeRentOrderDetail,
  rentInfoKey,
  TWOX128,
} from "../../../node_service/chain/substrate_storage.ts";
import { scratchDir } from "../../helpers.ts";
import { devWallets } from "../../wallets.ts";

type Exchange = { method: string; params: unknown[]; result: unknown };
const fixture = JSON.parse(
  await Deno.readTextFile(new URL("../../fixtures/substrate/dbc_chain.json", import.meta.url)),
) as {
  block: { hash: string; number: number; time_ms: number };
  machines: Record<"active" | "ended" | "relet" | "online" | "refused" | "unknown", string>;
  exchanges: Exchange[];
};
const MS_PER_BLOCK = 6_000;

/** A JSON-RPC server on a WebSocket that answers only what was recorded; `silent` methods get no answer. */
function replayServer(options: { silent?: string[] } = {}) {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onmessage = (event) => {
      const call = JSON.parse(String(event.data)) as {
        id: number;
        method: string;
        params: unknown[];
      };
      seen.push(call.method);
      if (options.silent?.includes(call.method)) return;
      const recorded = fixture.exchanges.find((exchange) =>
        exchange.method === call.method &&
        JSON.stringify(exchange.params) === JSON.stringify(call.params)
      );
      socket.send(JSON.stringify(
        recorded
          ? { jsonrpc: "2.0", id: call.id, result: recorded.result }
          : { jsonrpc: "2.0", id: call.id, error: { code: -32602, message: "not recorded" } },
      ));
    };
    return response;
  });
  const url = `ws://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  return { url, seen, close: () => server.shutdown() };
}

Deno.test("storage prefixes are polkadot-js's twox128 of the pallet and item names", () => {
  for (const [name, hex] of Object.entries(TWOX128)) {
    assert.equal(`0x${hex}`, xxhashAsHex(name, 128), name);
  }
});

Deno.test("the chain's rent order decodes field by field", async () => {
  const { alice } = await devWallets();
  const recorded = fixture.exchanges.find((exchange) => exchange.params[0] === rentInfoKey(41n));
  assert.ok(recorded, "the node builds the key the recording holds");
  const detail = decodeRentOrderDetail(recorded.result as string);
  assert.equal(detail.machineId, fixture.machines.active);
  assert.deepEqual(detail.renter, alice.publicKey);
  assert.equal(detail.rentStart, 990_000);
  assert.equal(detail.confirmRent, 990_010);
  assert.equal(detail.rentEnd, 1_010_000);
  assert.equal(detail.stakeAmount, 5_000_000_000_000_000n);
  assert.equal(detail.rentStatus, "Renting");
  assert.deepEqual(detail.gpuIndex, [0, 1]);
  assert.throws(() => decodeRentOrderDetail(`${recorded.result}00`), /left over/);
  assert.throws(() => decodeRentOrderDetail("0x0400"), /ends after/);
});

Deno.test("lease status from the chain: running, ended, renewed, never rented", async () => {
  const { alice, bob } = await devWallets();
  const server = replayServer();
  const chain = new SubstrateVerification(new JsonRpcWebSocket(server.url, { timeoutMs: 20_000 }));
  try {
    const { number, time_ms } = fixture.block;
    assert.deepEqual(
      await chain.leaseStatus({ machineId: fixture.machines.active, renter: alice.address }),
      { state: "active", rental_id: "41", ends_at: time_ms + (1_010_000 - number) * MS_PER_BLOCK },
    );
    assert.deepEqual(
      await chain.leaseStatus({ machineId: fixture.machines.ended, renter: alice.address }),
      { state: "ended", rental_id: "7", ended_at: time_ms - (number - 950_000) * MS_PER_BLOCK },
    );
    assert.deepEqual(
      await chain.leaseStatus({ machineId: fixture.machines.relet, renter: alice.address }),
      { state: "active", rental_id: "50", ends_at: time_ms + (1_020_000 - number) * MS_PER_BLOCK },
    );
    assert.deepEqual(
      await chain.leaseStatus({ machineId: fixture.machines.active, renter: bob.address }),
      { state: "none" },
    );
    assert.deepEqual(await chain.machineStatus(fixture.machines.active), {
      found: true,
      status: "leased",
      detail: "Rented",
    });
    assert.deepEqual(await chain.machineStatus(fixture.machines.online), {
      found: true,
      status: "online",
      detail: "Online",
    });
    assert.deepEqual(await chain.machineStatus(fixture.machines.refused), {
      found: true,
      status: "failed",
      detail: "CommitteeRefused",
    });
    assert.deepEqual(await chain.machineStatus(fixture.machines.unknown), { found: false });
    assert.ok(
      server.seen.every((method) =>
        ["chain_getBlockHash", "chain_getHeader", "state_getStorage"].includes(method)
      ),
    );
  } finally {
    chain.close();
    await server.close();
  }
});

Deno.test("a renter's create check on a GPU node asks the chain under substrate_machine_id, not the node id", async () => {
  const { alice } = await devWallets();
  const server = replayServer();
  const chain = new SubstrateVerification(new JsonRpcWebSocket(server.url, { timeoutMs: 20_000 }));
  const nodeId = "12D3KooWHvptS6tJ77SZxbVS4ajffYXrB17NffFfnyAdqGFzhbfD";
  const config = {
    verification_service: "substrate",
    substrate_machine_id: fixture.machines.active,
  };
  try {
    const handlers = leaseCheckHandlers(chain, new ManualClock(fixture.block.time_ms), {
      nodeId,
      as: verificationMachineId(config, nodeId),
    });
    // The HTTP API names the machine by the node's id; Alice's order on the chain is under the
    // chain's machine id, and it counts.
    const own = await handlers["lease.check"](
      { account: alice.address, machine_id: nodeId },
      { from: "http" },
    );
    assert.equal(own.renting, true, JSON.stringify(own));
    assert.equal(own.verification, "substrate");
    // Any other machine is asked for as named.
    const other = await handlers["lease.check"](
      { account: alice.address, machine_id: fixture.machines.ended },
      { from: "http" },
    );
    assert.equal(other.renting, false);
    assert.equal(other.lease.state, "ended");
    // Without substrate_machine_id, or with the embedded ledger, the node id is the machine id.
    assert.equal(verificationMachineId({ ...config, substrate_machine_id: "" }, nodeId), nodeId);
    assert.equal(
      verificationMachineId({ ...config, verification_service: "ledger" }, nodeId),
      nodeId,
    );
  } finally {
    chain.close();
    await server.close();
  }
});

Deno.test("an error answer, no answer, and no server are errors, never a verdict", async () => {
  const { alice } = await devWallets();
  const server = replayServer({ silent: ["chain_getHeader"] });
  const rpc = new JsonRpcWebSocket(server.url, { timeoutMs: 500 });
  try {
    await assert.rejects(
      rpc.call("state_getStorage", ["0x00", fixture.block.hash]),
      (error) => error instanceof JsonRpcError && error.kind === "error",
    );
    const chain = new SubstrateVerification(rpc);
    await assert.rejects(
      chain.leaseStatus({ machineId: fixture.machines.active, renter: alice.address }),
      (error) => error instanceof JsonRpcError && error.kind === "timeout",
    );
  } finally {
    rpc.close();
    await server.close();
  }
  const nowhere = new JsonRpcWebSocket(server.url, { timeoutMs: 2_000 });
  await assert.rejects(
    nowhere.call("chain_getBlockHash", []),
    (error) => error instanceof JsonRpcError && error.kind === "unreachable",
  );
  nowhere.close();
});

Deno.test("the lease loop runs on the chain's answers: an ended rental expires, then is deleted", async () => {
  const { alice } = await devWallets();
  const server = replayServer();
  const dir = await scratchDir("lease-chain");
  const clock = new ManualClock(fixture.block.time_ms);
  const db = openDatabase(`${dir}/node.db`, SERVICE_MIGRATIONS, { now: () => clock.now() });
  const events = new EventLog(db, () => clock.now());
  const instance: LeaseTarget = {
    id: "vm-alice",
    kind: "vm",
    owner: alice.address,
    state: "running",
  };
  const acted: string[] = [];
  const chain = new SubstrateVerification(new JsonRpcWebSocket(server.url, { timeoutMs: 20_000 }));
  const loop = new LeaseLoop({
    db,
    events,
    clock,
    verification: chain,
    targets: {
      list: () => Promise.resolve(instance.state === "deleted" ? [] : [{ ...instance }]),
      expire: (
        target,
      ) => (acted.push(`expire ${target.id}`), instance.state = "expired", Promise.resolve()),
      renew: (
        target,
      ) => (acted.push(`renew ${target.id}`), instance.state = "running", Promise.resolve()),
      delete: (
        target,
      ) => (acted.push(`delete ${target.id}`), instance.state = "deleted", Promise.resolve()),
    },
    machineId: fixture.machines.ended,
    intervalMs: 60_000,
    retentionMs: 10 * 86_400_000,
  });
  try {
    // The chain says the rental ended 50,000 blocks (about 3.5 days) ago: stop and keep.
    const first = await loop.pass();
    assert.deepEqual(first.expired, ["vm-alice"]);
    // Seven days on, ten days have passed since the end: delete.
    clock.advance(7 * 86_400_000);
    const second = await loop.pass();
    assert.deepEqual(second.deleted, ["vm-alice"]);
    assert.deepEqual(acted, ["expire vm-alice", "delete vm-alice"]);
  } finally {
    chain.close();
    db.close();
    await server.close();
  }
});
