/**
 * A bare-nonce signature relayed with another request (issue #17): the
 * original protocol cannot tell, so a plain nonce serves whatever request
 * carries it first; a bound nonce (`dbcbind1-<digest>-<unique>`) serves only
 * the request it was made for, and a relayed copy refused leaves it unspent.
 */
import assert from "node:assert/strict";
import { boundNonce, boundNonceRefusal } from "../../http/compat/bound_nonce.ts";
import { devWallets, freshNonce } from "../wallets.ts";
import { gpuNode, LINUX_CREATE, send, signText, walletFields } from "./compat_fixture.ts";

Deno.test("a plain nonce serves any request that carries it first: what the original protocol allows", async () => {
  const { alice } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  try {
    const app = node.makeApp();
    const created = await send(app, "/api/v1/tasks/start", node.signedBody(alice, LINUX_CREATE));
    const taskId = created.body.message.task_id;
    // Alice signs a stop; a relayer sends a delete with her fields first.
    const fields = walletFields(alice, freshNonce());
    const hijacked = await send(app, `/api/v1/tasks/delete/${taskId}`, {
      peer_nodes_list: [node.machineId],
      additional: {},
      ...fields,
    });
    assert.deepEqual(hijacked.body, { errcode: 0, message: "ok" });
    assert.equal(node.vms.get(taskId)?.state, "deleted");
  } finally {
    await node.close();
  }
});

Deno.test("a bound nonce serves only its own request; a relayed copy is refused and leaves it unspent", async () => {
  const { alice } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  try {
    const app = node.makeApp();
    const created = await send(app, "/api/v1/tasks/start", node.signedBody(alice, LINUX_CREATE));
    const taskId = created.body.message.task_id;
    const stopUri = `/api/v1/tasks/stop/${taskId}`;
    const nonce = boundNonce({ uri: stopUri, peer: node.machineId, additional: {} });
    const fields = { wallet: alice.address, nonce, sign: signText(alice, nonce) };

    const relayed: Array<[string, Record<string, unknown>, string]> = [
      [`/api/v1/tasks/delete/${taskId}`, {}, node.machineId],
      [stopUri, { force: "1" }, node.machineId],
      [`${stopUri}?x=1`, {}, node.machineId],
      [stopUri, {}, node.nodeId],
    ];
    for (const [uri, additional, peer] of relayed) {
      const answer = await send(app, uri, { peer_nodes_list: [peer], additional, ...fields });
      assert.equal(answer.status, 200, uri);
      assert.equal(answer.body.errcode, -3, JSON.stringify(answer.body));
      assert.match(answer.body.message, /bound to another request/);
    }
    assert.equal(node.vms.get(taskId)?.state, "running");
    assert.equal(node.callsOf("vm.stop").length, 0);

    const own = await send(app, stopUri, {
      peer_nodes_list: [node.machineId],
      additional: {},
      ...fields,
    });
    assert.deepEqual(own.body, { errcode: 0, message: "ok" });
    assert.equal(node.vms.get(taskId)?.state, "stopped");
    const again = await send(app, stopUri, {
      peer_nodes_list: [node.machineId],
      additional: {},
      ...fields,
    });
    assert.equal(again.body.errcode, -3);
    assert.match(again.body.message, /replayed/);
  } finally {
    await node.close();
  }
});

Deno.test("bound nonces: the digest covers path and query, peer and additional in any key order", () => {
  const request = {
    uri: "/api/v1/disk/add/vm-1",
    peer: "ab".repeat(32),
    additional: { size: 2, a: "x" },
  };
  const nonce = boundNonce(request, "unique-123");
  assert.equal(boundNonceRefusal([nonce], request), undefined);
  assert.equal(
    boundNonceRefusal([nonce], { ...request, additional: { a: "x", size: 2 } }),
    undefined,
  );
  assert.match(
    boundNonceRefusal([nonce], { ...request, additional: { size: 3, a: "x" } })!,
    /another/,
  );
  assert.match(
    boundNonceRefusal(["plain", nonce], { ...request, uri: "/api/v1/disk/delete/vm-1" })!,
    /another/,
  );
  assert.match(boundNonceRefusal(["dbcbind1-zz-unique-123"], request)!, /not a well-formed/);
  assert.equal(boundNonceRefusal(["5tYLq8cYgvmuDE22X9Di3zLELhcNckDq"], request), undefined);
});
