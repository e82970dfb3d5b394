/**
 * The original's authorisation on the dialect, checked by the GPU node: the
 * wallet's sr25519 signature of the bare nonce, single use even after a
 * restart (the used nonces are in the node service's SQLite database); a
 * multisig account with a string threshold and one nonce per signer; a
 * session id from `/mining_nodes/session_id` with the renter's signature of
 * it; empty fields of the unused form ignored.
 */
import assert from "node:assert/strict";
import { encodeMultiAddress } from "@polkadot/util-crypto";
import { devWallets, freshNonce } from "../wallets.ts";
import { gpuNode, send, sessionFields, signText, walletFields } from "./compat_fixture.ts";

Deno.test("a wallet's nonce is single use, also after the node restarts; a wrong signature is refused (-3)", async () => {
  const { alice, bob } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  try {
    const body = { peer_nodes_list: [node.machineId], additional: {}, ...walletFields(alice) };
    const first = await send(node.makeApp(), "/api/v1/tasks", body);
    assert.deepEqual(first, { status: 200, body: { errcode: 0, message: [] } });
    const again = await send(node.makeApp(), "/api/v1/tasks", body);
    assert.equal(again.status, 200);
    assert.equal(again.body.errcode, -3);
    assert.match(again.body.message, /^check authority failed: nonce check failed \(replayed/);
    // A new app (a restarted HTTP worker) has an empty memory, but the database remembers.
    const restarted = await send(node.makeApp(), "/api/v1/tasks", body);
    assert.equal(restarted.body.errcode, -3);
    assert.match(restarted.body.message, /already used/);

    const nonce = freshNonce();
    const forged = await send(node.makeApp(), "/api/v1/tasks", {
      peer_nodes_list: [node.machineId],
      additional: {},
      wallet: alice.address,
      nonce,
      sign: signText(bob, nonce),
    });
    assert.equal(forged.body.errcode, -3);
    assert.match(forged.body.message, /bad_signature/);
  } finally {
    await node.close();
  }
});

Deno.test("a 2-of-3 multisig account with a string threshold and a nonce per signer; a number threshold is the client-end's 400", async () => {
  const { alice, bob, charlie } = await devWallets();
  const wallets = [alice.address, bob.address, charlie.address];
  const account = encodeMultiAddress(wallets, 2, 42);
  const node = await gpuNode({ renters: [account] });
  try {
    const app = node.makeApp();
    const signs = [alice, bob].map((pair) => walletFields(pair));
    const created = await send(app, "/api/v1/tasks/start", {
      peer_nodes_list: [node.machineId],
      additional: {
        image_name: "ubuntu.qcow2",
        cpu_cores: "1",
        mem_size: "1",
        disk_size: "10",
        ssh_port: "5679",
        vnc_port: "5908",
      },
      multisig_accounts: { wallets, threshold: "2", signs },
    });
    assert.equal(created.body.errcode, 0, JSON.stringify(created.body));
    assert.equal(node.callsOf("vm.create")[0]!.params.owner, account);

    const restart = (threshold: unknown, signers = [alice, bob]) =>
      send(app, `/api/v1/tasks/restart/${created.body.message.task_id}?force_reboot=true`, {
        peer_nodes_list: [node.machineId],
        additional: {},
        multisig_accounts: {
          wallets,
          threshold,
          signs: signers.map((pair) => {
            const { nonce, sign } = walletFields(pair);
            return { wallet: pair.address, nonce, sign };
          }),
        },
      });
    assert.deepEqual((await restart("2")).body, { errcode: 0, message: "ok" });
    assert.deepEqual(await restart(2), {
      status: 400,
      body: { errcode: -25, message: "multisig_accounts member threshold is not string" },
    });
    // One signature of two: the client-end's own check refuses it before anything is sent.
    assert.deepEqual(await restart("2", [alice]), {
      status: 400,
      body: { errcode: -25, message: "wallet_sign and multisig_wallets all invalid" },
    });
    // A signer's nonce is its own and single use.
    const replayed = await send(app, "/api/v1/tasks", {
      peer_nodes_list: [node.machineId],
      additional: {},
      multisig_accounts: { wallets, threshold: "2", signs },
    });
    assert.equal(replayed.body.errcode, -3);
    assert.match(replayed.body.message, /nonce check failed/);
  } finally {
    await node.close();
  }
});

Deno.test("session_id: made for the renter's wallet only, used with its signature; empty session fields beside a wallet are ignored", async () => {
  const { alice, bob } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  try {
    const app = node.makeApp();
    const made = await send(app, "/api/v1/mining_nodes/session_id", node.signedBody(alice));
    assert.equal(made.body.errcode, 0, JSON.stringify(made.body));
    assert.deepEqual(Object.keys(made.body.message), ["session_id"]);
    const sessionId: string = made.body.message.session_id;

    const list = (fields: Record<string, string>) =>
      send(app, "/api/v1/tasks", { peer_nodes_list: [node.machineId], additional: {}, ...fields });
    assert.deepEqual((await list(sessionFields(alice, sessionId))).body, {
      errcode: 0,
      message: [],
    });
    // The id alone, or signed by someone else, is not enough.
    const wrongSigner = await list(sessionFields(bob, sessionId));
    assert.equal(wrongSigner.body.errcode, -3);
    assert.match(wrongSigner.body.message, /session_id is invalid/);
    const unknown = await list(sessionFields(alice, `${sessionId.slice(0, -4)}aaaa`));
    assert.equal(unknown.body.errcode, -3);
    // The documented bodies send the unused form as empty strings: the wallet is checked.
    const withEmpties = await list({ ...walletFields(alice), session_id: "", session_id_sign: "" });
    assert.deepEqual(withEmpties.body, { errcode: 0, message: [] });
    // A session makes no session; a wallet that rents nothing gets none.
    const bySession = await send(app, "/api/v1/mining_nodes/session_id", {
      peer_nodes_list: [node.machineId],
      additional: {},
      ...sessionFields(alice, sessionId),
    });
    assert.equal(bySession.body.errcode, -3);
    const bobs = await send(app, "/api/v1/mining_nodes/session_id", node.signedBody(bob));
    assert.equal(bobs.body.errcode, -3);
    assert.match(bobs.body.message, /wallet not rented/);
  } finally {
    await node.close();
  }
});

Deno.test("session_id again and again: the oldest sessions made this way are revoked, so the renter's cap is never reached", async () => {
  const { alice } = await devWallets();
  const node = await gpuNode({ renters: [alice.address] });
  try {
    const app = node.makeApp();
    const ids: string[] = [];
    for (let index = 0; index < 20; index++) {
      const made = await send(app, "/api/v1/mining_nodes/session_id", node.signedBody(alice));
      assert.equal(made.body.errcode, 0, JSON.stringify(made.body));
      ids.push(made.body.message.session_id);
    }
    const use = (sessionId: string) =>
      send(app, "/api/v1/tasks", {
        peer_nodes_list: [node.machineId],
        additional: {},
        ...sessionFields(alice, sessionId),
      });
    assert.equal((await use(ids.at(-1)!)).body.errcode, 0);
    assert.equal((await use(ids[0]!)).body.errcode, -3);
  } finally {
    await node.close();
  }
});
